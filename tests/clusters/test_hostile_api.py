"""A hostile cluster registered through the real API of a real `taichu serve`: what it
answers is bounded, checked, stored only when valid, and never turns into a 500 or into
the caller's own 401 (issue 8, findings 2, 4, 5, 12 and "cluster answers are their own
error branch")."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.hostile_cluster import (
    HostileCluster,
    MiB,
    endless_list,
    huge_answer,
    json_answer,
    node,
    node_list,
    text_answer,
)
from tests.support.server import (
    ServerProcess,
    login_token,
    prepare_database,
    running_server,
    server_env,
)
from tests.support.waiting import wait_for

ADMIN_PASSWORD = "Hostile-Admin-1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("hostile-api")
    env = server_env(
        prepare_database(tmp, "hostile"),
        tmp / "data",
        TAICHU_SECRET_KEY="hostile-test-secret-0123456789abcdef",
        TAICHU_ADMIN_PASSWORD=ADMIN_PASSWORD,
        TAICHU_HEALTH_INTERVAL="1",
        TAICHU_CLUSTER_PROBE_TIMEOUT="20",
    )
    with running_server(env, tmp / "server.log") as process:
        yield process


@pytest.fixture(scope="module")
def api(server: ServerProcess) -> Iterator[httpx.Client]:
    token = login_token(server.url, "admin", ADMIN_PASSWORD)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
        yield client


@pytest.fixture
def hostile() -> Iterator[HostileCluster]:
    with HostileCluster() as cluster:
        yield cluster


def register(api: httpx.Client, hostile: HostileCluster) -> httpx.Response:
    name = f"hostile-{uuid.uuid4().hex[:8]}"
    return api.post("/api/v1/clusters", json={"name": name, "kubeconfig": hostile.kubeconfig()})


def registered(api: httpx.Client, hostile: HostileCluster) -> str:
    response = register(api, hostile)
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["id"])


def detail(api: httpx.Client, cluster_id: str) -> dict[str, Any]:
    response = api.get(f"/api/v1/clusters/{cluster_id}")
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


def wait(fetch: Callable[[], Any], predicate: Callable[[Any], bool], timeout: float = 60) -> Any:
    return asyncio.run(wait_for(fetch, predicate, timeout=timeout))


def tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and its children (the server runs its jobs in one)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo += children.get(current, [])
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


# --- finding 2: unbounded reads --------------------------------------------------------------


def test_huge_version_is_refused_at_registration(
    api: httpx.Client, hostile: HostileCluster
) -> None:
    hostile.answer("/version", huge_answer(50 * MiB))
    response = register(api, hostile)
    assert response.status_code == 422, response.text
    message = response.json()["message"]
    assert "more than 65536 bytes" in message and "kube.small_answer_max_bytes" in message
    assert len(response.content) < 2000


def test_huge_version_of_a_registered_cluster_is_an_error_and_stays_small(
    server: ServerProcess, api: httpx.Client, hostile: HostileCluster
) -> None:
    cluster_id = registered(api, hostile)
    assert detail(api, cluster_id)["version"] == "v1.31.0"
    # The baseline once probes of this cluster run (the job worker has warmed up).
    wait(lambda: hostile.hits["/version"], lambda n: n >= 4)
    before = tree_rss_mib(server.proc.pid)  # type: ignore[union-attr]
    hostile.answer("/version", huge_answer(50 * MiB))
    probes = hostile.hits["/version"]
    seen = wait(
        lambda: detail(api, cluster_id),
        lambda d: (
            d["status"] == "error" and "more than 65536 bytes" in (d["last_probe_error"] or "")
        ),
    )
    wait(lambda: hostile.hits["/version"], lambda n: n >= probes + 4)  # a few more probes
    assert tree_rss_mib(server.proc.pid) - before < 40  # type: ignore[union-attr]
    assert seen["version"] == "v1.31.0"  # the last valid version is kept, not the answer
    listing = api.get("/api/v1/clusters", params={"limit": 100})
    assert listing.status_code == 200 and len(listing.content) < 200_000


# --- finding 4: endless lists -----------------------------------------------------------------


def test_endless_continue_fails_registration_within_the_bound(
    api: httpx.Client, hostile: HostileCluster
) -> None:
    hostile.answer("/api/v1/nodes", endless_list())
    response = register(api, hostile)
    assert response.status_code == 422, response.text
    assert "took more than 200 pages" in response.json()["message"]
    assert hostile.hits["/api/v1/nodes"] == 200  # and no more once answered


def test_endless_continue_of_a_registered_cluster_is_bounded_per_probe(
    api: httpx.Client, hostile: HostileCluster
) -> None:
    cluster_id = registered(api, hostile)
    hostile.answer("/api/v1/nodes", endless_list())
    wait(
        lambda: detail(api, cluster_id),
        lambda d: d["status"] == "error" and "took more than 200 pages" in d["last_probe_error"],
    )
    # Each probe reads /version once and lists nodes at most 200 pages.
    assert hostile.hits["/api/v1/nodes"] <= 200 * hostile.hits["/version"]


# --- finding 5: unexpected answers ------------------------------------------------------------

ODD_ANSWERS: dict[str, tuple[str, Any, str]] = {
    "version-a-list": ("/version", ["v1.31.0"], "GET /version is not a JSON object"),
    "gitversion-an-object": ("/version", {"gitVersion": {"x": 1}}, "gitVersion is not a string"),
    "node-items-not-objects": (
        "/api/v1/nodes",
        {"kind": "NodeList", "items": [1]},
        "not all objects",
    ),
    "items-not-a-list": (
        "/api/v1/nodes",
        {"kind": "NodeList", "items": {}},
        "items is not a JSON array",
    ),
    "capacity-abc": (
        "/api/v1/nodes",
        node_list(node("n1", cpu="abc")),
        "capacity.cpu is not a quantity",
    ),
    "capacity-huge": ("/api/v1/nodes", node_list(node("n1", memory="1e999999")), "out of range"),
    "status-a-string": (
        "/api/v1/nodes",
        node_list({"metadata": {}, "status": "up"}),
        "node.status",
    ),
}


@pytest.mark.parametrize("case", list(ODD_ANSWERS))
def test_unexpected_answers_at_registration_are_422_naming_them(
    api: httpx.Client, hostile: HostileCluster, case: str
) -> None:
    path, doc, says = ODD_ANSWERS[case]
    hostile.answer(path, json_answer(doc))
    response = register(api, hostile)
    assert response.status_code == 422, response.text
    assert says in response.json()["message"]


@pytest.mark.parametrize("case", ["version-a-list", "capacity-abc", "node-items-not-objects"])
def test_unexpected_answers_of_a_registered_cluster_make_it_error(
    api: httpx.Client, hostile: HostileCluster, case: str
) -> None:
    cluster_id = registered(api, hostile)
    path, doc, says = ODD_ANSWERS[case]
    hostile.answer(path, json_answer(doc))
    wait(
        lambda: detail(api, cluster_id),
        lambda d: d["status"] == "error" and says in (d["last_probe_error"] or ""),
    )
    assert api.get("/api/v1/clusters").status_code == 200


def test_access_review_with_a_string_status_fails_the_import_cleanly(
    api: httpx.Client, hostile: HostileCluster
) -> None:
    hostile.answer(
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", json_answer({"status": "ok"}, 201)
    )
    body = {"name": f"imp-{uuid.uuid4().hex[:8]}", "kubeconfig": hostile.kubeconfig()}
    response = api.post("/api/v1/clusters/import", json=body)
    assert response.status_code == 200, response.text
    import_id = response.json()["data"]["id"]
    done = wait(
        lambda: api.get(f"/api/v1/imports/{import_id}/status").json()["data"],
        lambda d: d["import_status"] in ("failed", "completed"),
    )
    assert done["import_status"] == "failed"
    assert "SelfSubjectAccessReview.status is not a JSON object" in done["error_message"]


def test_node_view_of_a_malformed_list_is_not_a_500(
    api: httpx.Client, hostile: HostileCluster
) -> None:
    cluster_id = registered(api, hostile)
    hostile.answer("/api/v1/nodes", json_answer({"kind": "NodeList", "items": "none"}))
    response = api.get(f"/api/v1/clusters/{cluster_id}/nodes")
    assert response.status_code in (502, 503), response.text
    assert "items is not a JSON array" in response.json()["message"]
    runtime = api.get("/api/runtime/nodes/", params={"cluster_id": cluster_id})
    assert runtime.status_code in (502, 503), runtime.text


@pytest.mark.parametrize(
    ("path", "doc", "summary"),
    [
        ("/api/v1/namespaces", {"kind": "NamespaceList", "items": [1, 2]}, "security-policies"),
        (
            "/apis/apps/v1/deployments",
            {
                "kind": "DeploymentList",
                "items": [
                    {
                        "metadata": {"name": "ca"},
                        "spec": {
                            "replicas": "abc",
                            "template": {"spec": {"containers": [{"image": "cluster-autoscaler"}]}},
                        },
                    }
                ],
            },
            "autoscaling-policies",
        ),
    ],
)
def test_summaries_of_odd_objects_are_cluster_errors(
    api: httpx.Client, hostile: HostileCluster, path: str, doc: Any, summary: str
) -> None:
    cluster_id = registered(api, hostile)
    hostile.answer(path, json_answer(doc))
    response = api.get(f"/api/v1/clusters/{cluster_id}/{summary}")
    assert response.status_code == 502, response.text
    assert "not what a Kubernetes API server serves" in response.json()["message"]


def deep_json(depth: int = 100_000) -> Callable[..., Any]:
    """An answer nested deeper than Python's JSON decoder recurses (RecursionError, which
    is not a ValueError)."""
    body = b"[" * depth + b"]" * depth

    async def handle(_: Any) -> Any:
        from aiohttp import web

        return web.Response(body=body, content_type="application/json")

    return handle


@pytest.mark.parametrize("summary", ["security-policies", "autoscaling-policies"])
def test_json_nested_too_deep_is_a_cluster_error_not_a_500(
    api: httpx.Client, hostile: HostileCluster, summary: str
) -> None:
    cluster_id = registered(api, hostile)
    for path in ("/api/v1/namespaces", "/apis/autoscaling/v2/horizontalpodautoscalers"):
        hostile.answer(path, deep_json())
    response = api.get(f"/api/v1/clusters/{cluster_id}/{summary}")
    assert response.status_code == 502, response.text
    assert "something other than JSON" in response.json()["message"]
    assert api.get("/healthz").status_code == 200


def test_odd_node_objects_are_left_out_not_the_whole_cache(
    api: httpx.Client, hostile: HostileCluster
) -> None:
    """Objects that are not objects, metadata that is a string, a memory of Infinity
    (int() raises OverflowError): none of them stops the cache; the good node is served."""
    cluster_id = registered(api, hostile)
    odd = [1, "a", None, {"metadata": "x"}, node("infinite", memory=float("inf"))]
    hostile.answer("/api/v1/nodes", json_answer(node_list(*odd, node("good-1"))))
    response = api.get(f"/api/v1/clusters/{cluster_id}/nodes")
    assert response.status_code == 200, response.text
    names = [n["name"] for n in response.json()["data"]["nodes"]]
    assert "good-1" in names and len(names) <= 2


def test_self_subject_review_with_a_string_status_is_not_a_500(
    api: httpx.Client, hostile: HostileCluster
) -> None:
    cluster_id = registered(api, hostile)
    hostile.tokens.add("user-token")
    hostile.answer(
        "/apis/authentication.k8s.io/v1/selfsubjectreviews", json_answer({"status": "alice"}, 201)
    )
    response = api.post(
        "/api/auth/k8s/account/bind/",
        json={"cluster_id": cluster_id, "token": "user-token", "namespace": "default"},
    )
    assert response.status_code == 422, response.text


# --- finding 12: /readyz free text ------------------------------------------------------------


def test_readyz_failures_keep_only_the_check_names(
    api: httpx.Client, hostile: HostileCluster
) -> None:
    cluster_id = registered(api, hostile)
    lines = [
        "[+]ping ok",
        "[-]etcd failed: reason withheld; visit http://phish.example",
        "[-]informer-sync failed: <script>alert(1)</script>",
        "readyz check failed",
    ]
    hostile.answer("/readyz", text_answer("\n".join(lines), 500))
    seen = wait(lambda: detail(api, cluster_id), lambda d: d["status"] == "unhealthy")
    assert seen["last_probe_error"] == "readyz failed: etcd; informer-sync"


# --- kit: a cluster's 401 is not the caller's --------------------------------------------------


def test_a_cluster_refusing_our_credentials_is_not_the_callers_401(
    api: httpx.Client, hostile: HostileCluster
) -> None:
    cluster_id = registered(api, hostile)
    hostile.reject_all = True  # as a revoked token
    seen = wait(lambda: detail(api, cluster_id), lambda d: d["status"] == "error")
    assert "refused the credentials (401)" in seen["last_probe_error"]
    for path, params in (
        (f"/api/v1/clusters/{cluster_id}/security-policies", None),
        (f"/api/v1/clusters/{cluster_id}/autoscaling-policies", None),
        (f"/api/v1/clusters/{cluster_id}/nodes", None),
        ("/api/runtime/nodes/", {"cluster_id": cluster_id}),
        ("/api/runtime/resources/", {"cluster_id": cluster_id}),
    ):
        response = api.get(path, params=params)
        assert response.status_code in (502, 503), (path, response.status_code, response.text)
        assert "refused the credentials" in response.text
    # The caller's own session is untouched.
    assert api.get("/api/v1/clusters").status_code == 200
    assert api.get("/api/auth/me/").status_code == 200
