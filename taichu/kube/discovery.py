"""API discovery: every resource type the cluster serves, at its group's preferred version.

Aggregated discovery (apidiscovery.k8s.io, GA in Kubernetes 1.30, beta since 1.26) returns
everything in two requests; older servers get the classic walk, one request per group.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from taichu.kube.errors import (
    ClusterNotFound,
    ClusterUnavailable,
    ClusterUnreachable,
    MalformedAnswer,
)

Obj = dict[str, Any]
_T = TypeVar("_T")
Fetch = Callable[[str, str | None], Awaitable[Any]]  # (path, accept) -> decoded JSON

AGGREGATED_ACCEPT = ",".join(
    [
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
        "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList",
        "application/json",
    ]
)
_LEGACY_CONCURRENCY = 8


@dataclass(frozen=True)
class ApiResource:
    group: str  # "" for the core group
    version: str
    name: str  # plural, as in the URL: "deployments"
    kind: str
    namespaced: bool
    verbs: frozenset[str]
    short_names: tuple[str, ...] = ()

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        """URL path of the collection (all namespaces when `namespace` is None), or of one
        object when `name` is given."""
        base = f"/apis/{self.group_version}" if self.group else f"/api/{self.version}"
        if namespace is not None and self.namespaced:
            base += f"/namespaces/{namespace}"
        base += f"/{self.name}"
        return f"{base}/{name}" if name else base


@dataclass(frozen=True)
class Discovery:
    resources: tuple[ApiResource, ...]
    unavailable: tuple[str, ...]  # group/versions that could not be read (broken APIService)

    def find(self, group: str, name: str) -> ApiResource | None:
        return next((r for r in self.resources if r.group == group and r.name == name), None)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return value


def _texts(values: Any) -> tuple[str, ...]:
    if values is None:
        return ()
    if not isinstance(values, list):
        raise TypeError("not an array")
    return tuple(_text(v) for v in values)


def _from_aggregated(doc: Obj, resources: list[ApiResource], unavailable: list[str]) -> None:
    for item in doc.get("items") or []:
        group = _text((item.get("metadata") or {}).get("name") or "")
        versions = item.get("versions") or []
        if not versions:
            continue
        preferred = versions[0]  # listed in order of preference
        version = _text(preferred.get("version", ""))
        if preferred.get("freshness") == "Stale":
            unavailable.append(f"{group}/{version}" if group else version)
            continue
        for r in preferred.get("resources") or []:
            resources.append(
                ApiResource(
                    group=group,
                    version=version,
                    name=_text(r.get("resource", "")),
                    kind=_text((r.get("responseKind") or {}).get("kind", "")),
                    namespaced=r.get("scope") == "Namespaced",
                    verbs=frozenset(_texts(r.get("verbs"))),
                    short_names=_texts(r.get("shortNames")),
                )
            )


def _from_resource_list(group: str, version: str, doc: Obj) -> list[ApiResource]:
    return [
        ApiResource(
            group=group,
            version=version,
            name=_text(r["name"]),
            kind=_text(r.get("kind", "")),
            namespaced=bool(r.get("namespaced")),
            verbs=frozenset(_texts(r.get("verbs"))),
            short_names=_texts(r.get("shortNames")),
        )
        for r in doc.get("resources") or []
        if "/" not in _text(r.get("name", "/"))  # "pods/log" and other subresources
    ]


def _parsed(what: str, parse: Callable[[], _T]) -> _T:
    """`parse()`, with any type surprise in the document as a MalformedAnswer naming it."""
    try:
        return parse()
    except (AttributeError, TypeError, KeyError, IndexError) as e:
        raise MalformedAnswer(f"the discovery document {what} is malformed") from e


def _wanted(core: Obj, groups: Obj) -> list[tuple[str, str]]:
    wanted = [("", _text(v)) for v in (core.get("versions") or [])[:1]]
    for g in groups.get("groups") or []:
        preferred = (g.get("preferredVersion") or {}).get("version")
        if preferred:
            wanted.append((_text(g["name"]), _text(preferred)))
    return wanted


async def _legacy(fetch: Fetch, core: Obj, groups: Obj) -> Discovery:
    wanted = _parsed("/api, /apis", lambda: _wanted(core, groups))
    gate = asyncio.Semaphore(_LEGACY_CONCURRENCY)

    async def one(group: str, version: str) -> list[ApiResource] | None:
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        async with gate:
            try:
                doc = await fetch(path, None)
                return _parsed(path, lambda: _from_resource_list(group, version, doc))
            except (ClusterUnreachable, ClusterUnavailable, ClusterNotFound, MalformedAnswer):
                return None  # this group/version is unavailable, the others are not

    results = await asyncio.gather(*(one(g, v) for g, v in wanted))
    resources: list[ApiResource] = []
    unavailable: list[str] = []
    for (group, version), found in zip(wanted, results, strict=True):
        if found is None:
            unavailable.append(f"{group}/{version}" if group else version)
        else:
            resources.extend(found)
    return Discovery(tuple(resources), tuple(unavailable))


async def discover(fetch: Fetch, *, aggregated: bool = True) -> Discovery:
    """`aggregated=False` forces the classic walk (servers before 1.26 get it anyway)."""
    accept = AGGREGATED_ACCEPT if aggregated else None
    core, groups = await asyncio.gather(fetch("/api", accept), fetch("/apis", accept))
    if core.get("kind") != "APIGroupDiscoveryList" or groups.get("kind") != (
        "APIGroupDiscoveryList"
    ):
        return await _legacy(fetch, core, groups)
    resources: list[ApiResource] = []
    unavailable: list[str] = []
    _parsed("/api", lambda: _from_aggregated(core, resources, unavailable))
    _parsed("/apis", lambda: _from_aggregated(groups, resources, unavailable))
    return Discovery(tuple(resources), tuple(unavailable))
