"""Direct (uncached) reads for the summaries: paged lists, metadata-only lists, whether an
API group is served, and command-line flags of containers.

Errors a cluster answers with are turned into 503s naming the cluster's problem: a 401 or
403 from the cluster is about the platform's credentials there, not about the caller's
token, so passing it through as 401/403 would mislead.
"""

from __future__ import annotations

import shlex
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from taichu.errors import Forbidden, NotFound, Unauthorized, Unavailable
from taichu.kube import KubeClient
from taichu.kube.informer import describe_failure

Obj = dict[str, Any]
# Only metadata of each item: counting 10,000 Roles need not transfer their rules.
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json"
PAGE = 500


@asynccontextmanager
async def cluster_reads(cluster_name: str) -> AsyncIterator[None]:
    try:
        yield
    except (Unauthorized, Forbidden) as e:
        raise Unavailable(f"cluster {cluster_name}: {describe_failure(e)}") from e
    except Unavailable as e:
        raise Unavailable(f"cluster {cluster_name} cannot be read: {e.message}") from e


async def list_items(
    kube: KubeClient,
    path: str,
    *,
    metadata_only: bool = False,
    params: dict[str, str] | None = None,
) -> AsyncIterator[Obj]:
    """Every item of a collection, a page at a time."""
    query: dict[str, str | int | bool | None] = {**(params or {}), "limit": PAGE}
    accept = METADATA_ONLY if metadata_only else None
    while True:
        page = await kube.request("GET", path, params=query, accept=accept)
        for item in page.get("items") or []:
            yield item
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return
        query["continue"] = token


async def count(kube: KubeClient, path: str) -> int:
    return sum([1 async for _ in list_items(kube, path, metadata_only=True)])


async def served_version(kube: KubeClient, group: str) -> str | None:
    """The preferred version of an API group, or None when the cluster does not serve it."""
    try:
        doc = await kube.get(f"/apis/{group}")
    except NotFound:
        return None
    preferred = (doc.get("preferredVersion") or {}).get("version")
    if preferred:
        return str(preferred)
    versions = doc.get("versions") or []
    return str(versions[0].get("version")) if versions else None


def argv_tokens(container: Obj) -> list[str]:
    """command + args as separate words; `sh -c "kube-apiserver --x"` is split too."""
    tokens: list[str] = []
    for part in (container.get("command") or []) + (container.get("args") or []):
        if not isinstance(part, str):
            continue
        if " " in part.strip():
            try:
                tokens.extend(shlex.split(part))
            except ValueError:
                tokens.extend(part.split())
        else:
            tokens.append(part)
    return tokens


def program_index(tokens: list[str], program: str) -> int | None:
    """Position of the word that runs `program` (its basename), if any."""
    for i, token in enumerate(tokens):
        if token.rsplit("/", 1)[-1] == program:
            return i
    return None


def parse_flags(tokens: list[str]) -> dict[str, list[str]]:
    """`--name=value` and `--name value` flags (repeatable) of a command line."""
    flags: dict[str, list[str]] = {}
    i = 0
    while i < len(tokens):
        word = tokens[i]
        i += 1
        if not word.startswith("--") or word == "--":
            continue
        name, sep, value = word[2:].partition("=")
        if not sep and i < len(tokens) and not tokens[i].startswith("-"):
            value = tokens[i]
            i += 1
        flags.setdefault(name, []).append(value)
    return flags


def last_flag(flags: dict[str, list[str]], name: str) -> str | None:
    """The value in effect (the last one given, as pflag does), or None."""
    values = flags.get(name)
    return values[-1] if values else None
