"""Base classes of request and response models."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, field_serializer, field_validator

from taichu.timeutil import rfc3339


class OutModel(BaseModel):
    """A response model: reads ORM attributes, writes times as RFC 3339 UTC (`...Z`)."""

    model_config = ConfigDict(from_attributes=True)

    # No return annotation: with one (`-> object`) pydantic documents every field as "any"
    # in the OpenAPI document, and the console's generated types lose them all.
    @field_serializer("*", when_used="json")
    def _times(self, value: object):  # type: ignore[no-untyped-def]
        return rfc3339(value) if isinstance(value, datetime) else value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


class InModel(BaseModel):
    """A request body: unknown fields are refused so typos do not pass silently, and NUL
    characters (which no database column can hold) are refused with the field's name."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if _has_nul(value):
            raise ValueError("must not contain NUL characters")
        return value
