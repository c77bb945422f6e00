"""The client against a hostile cluster (a real HTTPS server, tests/support/hostile_cluster):
every answer is read within its bound, every list within its bounds, and a malformed answer
is a ClusterError naming what was wrong, never the content and never a crash."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from aiohttp import web

from taichu.kube import (
    AnswerTooLarge,
    ClusterError,
    ClusterForbidden,
    ClusterUnreachable,
    CredentialsRejected,
    KubeClient,
    ListTooLong,
    MalformedAnswer,
    ReadLimits,
    parse_kubeconfig,
)
from taichu.kube.answers import git_version
from tests.support.hostile_cluster import (
    HostileCluster,
    MiB,
    endless_list,
    huge_answer,
    json_answer,
    slow_answer,
    status,
    text_answer,
)


@pytest.fixture
def hostile() -> Iterator[HostileCluster]:
    with HostileCluster() as cluster:
        yield cluster


@pytest.fixture
async def kube(hostile: HostileCluster) -> AsyncIterator[KubeClient]:
    limits = ReadLimits(list_max_pages=20, list_page_max_bytes=4 * MiB)
    client = KubeClient(parse_kubeconfig(hostile.kubeconfig()), limits=limits)
    yield client
    await client.close()


async def test_a_believable_cluster_is_believed(kube: KubeClient) -> None:
    assert await kube.git_version() == "v1.31.0"
    assert await kube.readyz() == (True, "ok")
    items, version = await kube.list_all("/api/v1/nodes")
    assert [n["kind"] for n in items] == ["Node"] and version == "1"


async def test_huge_version_is_cut_off_at_its_bound(
    hostile: HostileCluster, kube: KubeClient
) -> None:
    hostile.answer("/version", huge_answer(50 * MiB))
    started = time.monotonic()
    with pytest.raises(AnswerTooLarge) as info:
        await kube.version()
    assert time.monotonic() - started < 5  # stopped at 64 KiB, not read to the end
    assert info.value.status == 502
    assert "more than 65536 bytes" in info.value.message
    assert "kube.small_answer_max_bytes" in info.value.message
    assert await kube.readyz() == (True, "ok")  # the client is still usable


async def test_huge_page_is_cut_off(hostile: HostileCluster, kube: KubeClient) -> None:
    hostile.answer("/api/v1/nodes", huge_answer(50 * MiB, prefix=b'{"items": ["'))
    with pytest.raises(AnswerTooLarge, match=r"kube\.list_page_max_bytes"):
        await kube.list_all("/api/v1/nodes")


async def test_error_bodies_are_bounded_too(hostile: HostileCluster, kube: KubeClient) -> None:
    async def huge_403(request: web.Request) -> web.StreamResponse:
        message = "x" * (4 * MiB)
        return web.json_response({"kind": "Status", "message": message, "code": 403}, status=403)

    hostile.answer("/api/v1/secrets", huge_403)
    with pytest.raises(ClusterForbidden) as info:
        await kube.get("/api/v1/secrets")
    assert len(info.value.message) < 200 and info.value.cluster_status == 403


async def test_endless_continue_stops_at_the_page_bound(
    hostile: HostileCluster, kube: KubeClient
) -> None:
    hostile.answer("/api/v1/nodes", endless_list())
    with pytest.raises(ListTooLong) as info:
        await kube.list_all("/api/v1/nodes")
    assert "took more than 20 pages (setting kube.list_max_pages)" in info.value.message
    assert hostile.hits["/api/v1/nodes"] == 20
    hostile.hits.clear()
    with pytest.raises(ListTooLong, match="returned more than 5 items"):
        await kube.list_all("/api/v1/nodes", max_items=5)
    assert hostile.hits["/api/v1/nodes"] == 6


async def test_list_time_bound_counts_time_waiting_on_the_cluster(
    hostile: HostileCluster, kube: KubeClient
) -> None:
    hostile.answer("/api/v1/nodes", endless_list())
    started = time.monotonic()
    with pytest.raises(ListTooLong, match=r"took longer than 0.3s"):
        await kube.list_all("/api/v1/nodes", max_pages=10**6, max_seconds=0.3)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("path", "doc", "says"),
    [
        ("/version", ["v1.31.0"], "GET /version is not a JSON object"),
        ("/version", {"gitVersion": {"major": 1}}, "gitVersion is not a string"),
        ("/version", {"gitVersion": "<script>" * 3}, "not a version string"),
        ("/version", {"gitVersion": "v1." + "9" * 80}, "not a version string"),
        ("/api/v1/nodes", {"kind": "NodeList", "items": "many"}, "items is not a JSON array"),
        ("/api/v1/nodes", {"kind": "NodeList", "items": [1, 2]}, "are not all objects"),
        ("/api/v1/nodes", {"items": [], "metadata": {"continue": 7}}, "continue is not a string"),
    ],
)
async def test_malformed_answers_are_cluster_errors(
    hostile: HostileCluster, kube: KubeClient, path: str, doc: object, says: str
) -> None:
    hostile.answer(path, json_answer(doc))
    with pytest.raises(MalformedAnswer) as info:
        if path == "/version":
            await kube.git_version()
        else:
            await kube.list_all(path)
    assert says in info.value.message and info.value.status == 502
    assert "<script>" not in info.value.message


@pytest.mark.parametrize(
    ("path", "doc"),
    [
        ("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {"status": "yes"}),
        ("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {"status": {"allowed": "1"}}),
        ("/apis/authentication.k8s.io/v1/selfsubjectreviews", {"status": "alice"}),
        ("/apis/authentication.k8s.io/v1/selfsubjectreviews", {"status": {"userInfo": []}}),
    ],
)
async def test_malformed_reviews(
    hostile: HostileCluster, kube: KubeClient, path: str, doc: object
) -> None:
    hostile.answer(path, json_answer(doc, 201))
    with pytest.raises(MalformedAnswer):
        if "access" in path:
            await kube.self_subject_access_review("list", "nodes")
        else:
            await kube.self_subject_review()


async def test_readyz_keeps_only_check_names(hostile: HostileCluster, kube: KubeClient) -> None:
    lines = [
        "[+]ping ok",
        "[-]etcd failed: reason withheld; see http://evil.example/phish",
        "[-]informer-sync failed: <b>call +1 555 0100</b>",
        "[-]<img src=x> failed: nope",
        "readyz check failed",
    ] + [f"[-]check-{i} failed: {'x' * 500}" for i in range(30)]
    hostile.answer("/readyz", text_answer("\n".join(lines), 500))
    ready, detail = await kube.readyz()
    assert not ready
    assert detail.startswith("etcd; informer-sync; check-0; ")
    assert detail.endswith(" and 22 more")
    assert (
        "evil" not in detail and "555" not in detail and "<" not in detail and "x" * 5 not in detail
    )


async def test_discovery_of_a_malformed_cluster(hostile: HostileCluster, kube: KubeClient) -> None:
    hostile.answer("/api", json_answer({"kind": "APIVersions", "versions": [{"v": 1}]}))
    hostile.answer("/apis", json_answer({"kind": "APIGroupList", "groups": "all"}))
    with pytest.raises(MalformedAnswer, match="discovery document"):
        await kube.discover()


async def test_watch_events_are_bounded_and_checked(hostile: HostileCluster) -> None:
    limits = ReadLimits(watch_event_max_bytes=64 * 1024)
    kube = KubeClient(parse_kubeconfig(hostile.kubeconfig()), limits=limits)
    try:
        hostile.answer(
            "/api/v1/pods", huge_answer(8 * MiB, prefix=b'{"type": "ADDED", "object": "')
        )
        with pytest.raises(AnswerTooLarge, match="watch event"):
            async with kube.watch("/api/v1/pods", "1") as events:
                async for _ in events:
                    pass
        event = json.dumps({"type": "ADDED", "object": {"metadata": {"resourceVersion": 5}}})
        hostile.answer("/api/v1/pods", text_answer(event + "\n"))
        with pytest.raises(MalformedAnswer, match="malformed watch event"):
            async with kube.watch("/api/v1/pods", "1") as events:
                async for _ in events:
                    pass
    finally:
        await kube.close()


async def test_a_clusters_401_is_not_the_callers_401(
    hostile: HostileCluster, kube: KubeClient
) -> None:
    hostile.reject_all = True
    with pytest.raises(CredentialsRejected) as info:
        await kube.version()
    error = info.value
    assert isinstance(error, ClusterError)
    assert error.status == 502 and error.cluster_status == 401
    assert error.message == "the cluster refused the credentials (401): Unauthorized"
    hostile.reject_all = False

    async def missing_nodes(_: web.Request) -> web.StreamResponse:
        return status(404, "nodes not here")

    hostile.answer("/api/v1/nodes", missing_nodes)
    with pytest.raises(ClusterError) as missing:
        await kube.list_all("/api/v1/nodes")
    assert missing.value.status == 502 and missing.value.cluster_status == 404


async def test_a_trickling_body_is_bounded_by_the_request_timeout(hostile: HostileCluster) -> None:
    hostile.answer("/version", slow_answer({"gitVersion": "v1.31.0", "pad": "x" * 200}, 0.05))
    kube = KubeClient(parse_kubeconfig(hostile.kubeconfig()), request_timeout=1.0)
    started = time.monotonic()
    try:
        with pytest.raises(ClusterUnreachable, match=r"no answer .* within 1s"):
            await kube.version()
    finally:
        await kube.close()
    assert time.monotonic() - started < 4


@pytest.mark.parametrize(
    "version", ["v1.31.2", "v1.29.3+k3s1", "v1.30.0-eks-036c24b", "v0.0.0-master+$Format:%H$"]
)
def test_real_version_strings_are_accepted(version: str) -> None:
    assert git_version({"gitVersion": version}) == version


async def test_json_nested_too_deep_is_malformed_everywhere(hostile: HostileCluster) -> None:
    """Python's JSON decoder raises RecursionError (not a ValueError) on deep nesting: in an
    answer, an error body and a watch line it is a cluster error, never an internal one."""
    deep = "[" * 20_000 + "]" * 20_000  # within every bound (error bodies: 64 KiB)
    kube = KubeClient(parse_kubeconfig(hostile.kubeconfig()))
    try:
        hostile.answer("/api/v1/namespaces", text_answer(deep))
        with pytest.raises(MalformedAnswer, match="something other than JSON"):
            await kube.get("/api/v1/namespaces")
        hostile.answer("/api/v1/secrets", text_answer(deep, 403))
        with pytest.raises(ClusterForbidden) as info:
            await kube.get("/api/v1/secrets")
        assert "not a Kubernetes Status" in info.value.message
        hostile.answer("/api/v1/pods", text_answer(deep + "\n"))
        with pytest.raises(MalformedAnswer, match="malformed watch event"):
            async with kube.watch("/api/v1/pods", "1") as events:
                async for _ in events:
                    pass
    finally:
        await kube.close()
