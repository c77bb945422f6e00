"""Direct (uncached) reads for the summaries: paged lists, metadata-only lists, whether an
API group is served, and command-line flags of containers.

What a cluster answers with stays a `ClusterError` (502, or 503 when it cannot be reached),
named after the cluster: a 401 or 403 from the cluster is about the platform's credentials
there, not about the caller's token, so passing it through as 401/403 would mislead.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from taichu.errors import Unavailable
from taichu.kube import ClusterError, ClusterNotFound, KubeClient, MalformedAnswer

log = logging.getLogger("taichu.observe")

Obj = dict[str, Any]
# Only metadata of each item: counting 10,000 Roles need not transfer their rules.
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json"
PAGE = 500


@asynccontextmanager
async def cluster_reads(cluster_name: str) -> AsyncIterator[None]:
    """Reads of a cluster for a summary: the cluster's errors named after it, and objects of
    a shape the summary cannot read (a string where an object belongs, a replica count
    "abc") a MalformedAnswer (502) rather than a 500; logged, in case the bug is ours."""
    try:
        yield
    except ClusterError as e:
        raise e.about(f"cluster {cluster_name}") from e
    except Unavailable as e:  # the platform's cache of the cluster
        raise Unavailable(f"cluster {cluster_name} cannot be read: {e.message}") from e
    except (AttributeError, KeyError, IndexError, TypeError, ValueError) as e:
        log.warning("cluster %s: unreadable objects in its answers", cluster_name, exc_info=True)
        raise MalformedAnswer(
            f"cluster {cluster_name} answered objects that are not what a Kubernetes API "
            "server serves; the summary cannot be made"
        ) from e


async def list_items(
    kube: KubeClient,
    path: str,
    *,
    metadata_only: bool = False,
    params: dict[str, str] | None = None,
) -> AsyncIterator[Obj]:
    """Every item of a collection, a page at a time (within the client's list bounds)."""
    accept = METADATA_ONLY if metadata_only else None
    async for page in kube.pages(path, dict(params or {}), PAGE, accept=accept):
        for item in page.get("items") or []:
            yield item


async def count(kube: KubeClient, path: str) -> int:
    return sum([1 async for _ in list_items(kube, path, metadata_only=True)])


async def served_version(kube: KubeClient, group: str) -> str | None:
    """The preferred version of an API group, or None when the cluster does not serve it."""
    try:
        doc = await kube.get(f"/apis/{group}")
    except ClusterNotFound:
        return None
    try:
        preferred = (doc.get("preferredVersion") or {}).get("version")
        if not preferred:
            versions = doc.get("versions") or []
            preferred = versions[0].get("version") if versions else None
    except (AttributeError, IndexError, KeyError, TypeError):
        preferred = 0  # not None: falls into the check below
    if preferred is not None and not (isinstance(preferred, str) and 0 < len(preferred) < 64):
        raise MalformedAnswer(f"the API group document /apis/{group} is malformed")
    return preferred


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
