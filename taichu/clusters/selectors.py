"""Kubernetes label selectors (`env=prod,tier!=db,app in (a,b),!legacy`) over label maps."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, func
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.errors import Invalid

T = TypeVar("T")

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_KEY = re.compile(rf"^([a-z0-9]([-a-z0-9.]{{0,251}}[a-z0-9])?/)?{_NAME}$")
_VALUE = re.compile(rf"^({_NAME})?$")
_SET_EXPR = re.compile(r"^(?P<key>\S+)\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")
_EQ_EXPR = re.compile(r"^(?P<key>[^!=\s]+)\s*(?P<op>==|=|!=)\s*(?P<value>\S*)$")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!exists"
    values: frozenset[str]

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        match self.op:
            case "=" | "in":
                return present and value in self.values
            case "!=" | "notin":
                return not present or value not in self.values
            case "exists":
                return present
            case _:
                return not present


def _split_top_level(selector: str) -> list[str]:
    parts, depth, current = [], 0, []
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise Invalid("label_selector: unbalanced ')'")
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth:
        raise Invalid("label_selector: unbalanced '('")
    parts.append("".join(current))
    return [p.strip() for p in parts]


def _check_key(key: str) -> str:
    if not _KEY.match(key):
        raise Invalid(f"label_selector: invalid label key '{key}'")
    return key


def _check_value(value: str) -> str:
    if not _VALUE.match(value):
        raise Invalid(f"label_selector: invalid label value '{value}'")
    return value


def _parse_one(term: str) -> Requirement:
    if not term:
        raise Invalid("label_selector: empty requirement")
    if match := _SET_EXPR.match(term):
        values = [v.strip() for v in match["values"].split(",")]
        if not any(values):
            raise Invalid(f"label_selector: '{term}' needs at least one value")
        return Requirement(
            _check_key(match["key"]), match["op"], frozenset(_check_value(v) for v in values)
        )
    if match := _EQ_EXPR.match(term):
        op = "!=" if match["op"] == "!=" else "="
        return Requirement(_check_key(match["key"]), op, frozenset({_check_value(match["value"])}))
    if term.startswith("!"):
        return Requirement(_check_key(term[1:].strip()), "!exists", frozenset())
    return Requirement(_check_key(term), "exists", frozenset())


def parse_selector(selector: str) -> list[Requirement]:
    if len(selector) > 2000:
        raise Invalid("label_selector: too long (2000 characters at most)")
    return [_parse_one(term) for term in _split_top_level(selector)]


def selector_matcher(selector: str | None) -> Callable[[Mapping[str, str]], bool]:
    """A predicate over label maps; an empty selector matches everything."""
    if not selector or not selector.strip():
        return lambda _labels: True
    requirements = parse_selector(selector)
    return lambda labels: all(r.matches(labels) for r in requirements)


async def labelled_page(
    session: AsyncSession,
    query: Select[tuple[T]],
    *,
    label_selector: str | None,
    id_column: Any,
    offset: int,
    limit: int,
) -> tuple[list[T], int]:
    """One page of an ordered query, and the total, filtered by a label selector. Labels
    are JSON, so a selector is evaluated here over the rows the other filters keep; the
    selector is parsed before anything is read (a bad one is 422)."""
    matches = selector_matcher(label_selector)
    if label_selector and label_selector.strip():
        rows = [r for r in await session.scalars(query) if matches(r.labels or {})]
        return rows[offset : offset + limit], len(rows)
    total = await session.scalar(query.with_only_columns(func.count(id_column)).order_by(None))
    return list(await session.scalars(query.offset(offset).limit(limit))), int(total or 0)
