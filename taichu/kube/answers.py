"""Checks of what a cluster answered, where it is parsed: a malformed answer is a
`MalformedAnswer` (502) naming what was wrong, never a TypeError turned into a 500, and
never a quote of the content (see `cluster_message`)."""

from __future__ import annotations

import re
from typing import Any

from taichu.kube.errors import MalformedAnswer

Obj = dict[str, Any]

# "v1.31.2", "v1.29.3+k3s1", "v1.30.0-eks-036c24b", "v1.32.0-alpha.1.123+abcdef", and an
# unstamped build's "v0.0.0-master+$Format:%H$"; never spaces, quotes or markup.
VERSION_PATTERN = re.compile(r"v?\d{1,4}\.\d{1,4}(\.\d{1,6})?([-+.~][0-9A-Za-z.+_~:$%-]{0,80})?")
MAX_VERSION_LENGTH = 64  # the width of clusters.version


def expect_object(value: Any, what: str) -> Obj:
    if not isinstance(value, dict):
        raise MalformedAnswer(f"{what} is not a JSON object")
    return value


def field_object(obj: Obj, key: str, what: str) -> Obj:
    """`obj[key]` as an object; a missing or null field is an empty one."""
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedAnswer(f"{what}.{key} is not a JSON object")
    return value


def field_list(obj: Obj, key: str, what: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedAnswer(f"{what}.{key} is not a JSON array")
    return value


def field_str(obj: Obj, key: str, what: str, max_length: int = 1000) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedAnswer(f"{what}.{key} is not a string")
    if len(value) > max_length:
        raise MalformedAnswer(f"{what}.{key} is longer than {max_length} characters")
    return value


def git_version(doc: Any) -> str:
    """`gitVersion` of a /version answer: a short version string, or MalformedAnswer."""
    version = field_str(expect_object(doc, "/version"), "gitVersion", "/version", 1_000_000)
    if not version:
        raise MalformedAnswer("/version has no gitVersion")
    if len(version) > MAX_VERSION_LENGTH or not VERSION_PATTERN.fullmatch(version):
        raise MalformedAnswer(
            f"/version gitVersion is not a version string like v1.31.2 ({len(version)} chars)"
        )
    return version
