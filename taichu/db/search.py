"""The list endpoints' `search`: literal text, found anywhere in the given columns."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, or_


def contains_text(text: str, *columns: Any) -> ColumnElement[bool]:
    """Case-insensitive substring match. `%` and `_` are legal in names and addresses, so
    they are escaped: as LIKE wildcards `?search=%` would match every row."""
    needle = text.lower()
    return or_(*(func.lower(column).contains(needle, autoescape=True) for column in columns))
