"""Label selector parsing and matching (pure logic)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taichu.clusters.selectors import selector_matcher
from taichu.errors import Invalid

PROD_WEB = {"env": "prod", "tier": "web", "app": "a"}
PROD_DB = {"env": "prod", "tier": "db", "app": "b", "legacy": "true"}
DEV = {"env": "dev", "app": "c"}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("", [PROD_WEB, PROD_DB, DEV]),
        ("env=prod", [PROD_WEB, PROD_DB]),
        ("env==prod", [PROD_WEB, PROD_DB]),
        ("env=prod,tier!=db", [PROD_WEB]),
        ("tier!=db", [PROD_WEB, DEV]),  # missing key satisfies !=
        ("app in (a,b)", [PROD_WEB, PROD_DB]),
        ("app in ( a , c )", [PROD_WEB, DEV]),
        ("app notin (a,b)", [DEV]),
        ("legacy", [PROD_DB]),
        ("!legacy", [PROD_WEB, DEV]),
        ("env=prod,app in (a,b),!legacy", [PROD_WEB]),
        ("env=", []),
    ],
)
def test_selector_matches(selector: str, expected: list[dict[str, str]]) -> None:
    match = selector_matcher(selector)
    assert [labels for labels in (PROD_WEB, PROD_DB, DEV) if match(labels)] == expected


@pytest.mark.parametrize(
    "selector",
    [
        "env=prod,",
        "app in (a,b",
        "app in ()",
        "bad key=1",
        "env=in valid",
        "=x",
        "app in (a))",
        "x" * 64 + "=1",
    ],
)
def test_invalid_selectors_are_422(selector: str) -> None:
    with pytest.raises(Invalid) as info:
        selector_matcher(selector)
    assert info.value.message.startswith("label_selector:")


@given(st.text(max_size=40))
def test_parser_never_crashes(selector: str) -> None:
    with contextlib.suppress(Invalid):
        selector_matcher(selector)({"a": "b"})
