"""Preflight over HTTP: a real `taichu serve`, real lab SSH hosts, fresh facts over SSH."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from taichu.lab.ssh_hosts import SshHost
from tests.machines.serving import Inventory, serve_inventory


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Inventory]:
    # The monitor stays out of the way: checks run when a machine is added.
    tmp = tmp_path_factory.mktemp("preflight")
    with serve_inventory(tmp, "preflight", TAICHU_MACHINES__CHECK_INTERVAL="86400") as s:
        yield s


@pytest.fixture(scope="module")
def twins(lab_session: None) -> Iterator[list[SshHost]]:
    """Two hosts sharing a hostname (a cloned image) and one with its own."""
    hosts = [SshHost(hostname="twin-node"), SshHost(hostname="twin-node"), SshHost("solo-node")]
    try:
        for host in hosts:
            host.start()
        yield hosts
    finally:
        for host in hosts:
            host.destroy()


def add(served: Inventory, host: SshHost, name: str, *, key: bool, role: str = "worker") -> str:
    body: dict[str, Any] = {"name": name, "ip_address": host.address, "port": host.port,
                            "role": role}  # fmt: skip
    body.update({"private_key": host.private_key} if key else {"password": host.password})
    response = served.post("/api/v1/machines", body)
    assert response.status_code == 200, response.text
    machine_id = str(response.json()["data"]["id"])
    # Its check pins the host key (trust on first use); preflight needs a pinned key.
    deadline = time.monotonic() + 90
    while not served.machine(machine_id)["host_key"]:
        assert time.monotonic() < deadline, served.machine(machine_id)
        time.sleep(0.3)
    return machine_id


@pytest.fixture(scope="module")
def ids(served: Inventory, twins: list[SshHost]) -> list[str]:
    return [
        add(served, twins[0], "twin-a", key=False),
        add(served, twins[1], "twin-b", key=True),
        add(served, twins[2], "solo", key=True, role="master"),
    ]


def post(served: Inventory, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    return served.post(path, body, headers)


def check(report: dict[str, Any], name: str) -> dict[str, Any]:
    found = [c for c in report["checks"] if c["name"] == name]
    assert len(found) == 1, report
    return found[0]


def test_shared_hostname_fails_naming_both(
    served: Inventory, ids: list[str], twins: list[SshHost]
) -> None:
    response = post(served, "/api/v1/machines/preflight", {"machine_ids": ids})
    assert response.status_code == 200, response.text
    report = response.json()["data"]
    assert report["passed"] is False
    clash = check(report, "unique_hostnames")
    assert clash["status"] == "fail"
    assert f"twin-a ({twins[0].address})" in clash["message"]
    assert f"twin-b ({twins[1].address})" in clash["message"]
    assert "solo" not in clash["message"]
    assert clash["machine_ids"] == ids[:2]
    assert clash["hint"]
    # Facts were gathered from each host: each machine has its own checks, with its role.
    assert [m["id"] for m in report["machines"]] == ids
    assert [m["role"] for m in report["machines"]] == ["worker", "worker", "master"]
    for machine in report["machines"]:
        assert "reachable" not in {c["name"] for c in machine["checks"]}
        assert {"clock_skew", "cpu", "memory", "swap"} <= {c["name"] for c in machine["checks"]}
    assert report["summary"]["fail"] >= 1


def test_clean_set_passes_the_uniqueness_checks(served: Inventory, ids: list[str]) -> None:
    response = post(served, "/api/v1/machines/preflight", {"machine_ids": [ids[0], ids[2]]})
    assert response.status_code == 200, response.text
    report = response.json()["data"]
    for name in ("unique_hostnames", "unique_product_uuids", "unique_macs"):
        assert check(report, name)["status"] == "pass", report


def test_roles_override_the_stored_ones(served: Inventory, ids: list[str]) -> None:
    response = post(
        served, "/api/v1/machines/preflight", {"machine_ids": [ids[0]], "roles": {ids[0]: "etcd"}}
    )
    assert response.status_code == 200, response.text
    (machine,) = response.json()["data"]["machines"]
    assert machine["role"] == "etcd"
    assert "cgroups" not in {c["name"] for c in machine["checks"]}


def test_one_machine(served: Inventory, ids: list[str]) -> None:
    response = post(served, f"/api/v1/machines/{ids[2]}/preflight", {"role": "worker"})
    assert response.status_code == 200, response.text
    report = response.json()["data"]
    assert [m["role"] for m in report["machines"]] == ["worker"]
    assert post(served, f"/api/v1/machines/{ids[2]}/preflight", None).status_code == 200
    missing = post(served, f"/api/v1/machines/{uuid.uuid4()}/preflight", None)
    assert missing.status_code == 404, missing.text
    bad = post(served, f"/api/v1/machines/{ids[2]}/preflight", {"role": "boss"})
    assert bad.status_code == 422 and bad.json()["message"].startswith("role:"), bad.text


def test_unreachable_machine_is_a_failed_check_not_an_error(
    served: Inventory, ids: list[str], twins: list[SshHost]
) -> None:
    twins[2].stop()
    try:
        response = post(served, "/api/v1/machines/preflight", {"machine_ids": [ids[0], ids[2]]})
    finally:
        twins[2].start()
    assert response.status_code == 200, response.text
    report = response.json()["data"]
    assert report["passed"] is False
    solo = report["machines"][1]
    (reach,) = solo["checks"]
    assert reach["name"] == "reachable" and reach["status"] == "fail"
    assert f"solo ({twins[2].address})" in reach["message"]
    assert "refused" in reach["message"]
    assert report["machines"][0]["passed"] in (True, False)  # the other one was still checked
    assert "reachable" not in {c["name"] for c in report["machines"][0]["checks"]}


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"machine_ids": []}, 422, "machine_ids"),
        ({"machine_ids": ["X", "X"]}, 422, "twice"),
        ({"machine_ids": [str(i) for i in range(201)]}, 422, "at most 200"),
        ({"machine_ids": "nope"}, 400, "machine_ids"),
        ({}, 400, "machine_ids"),
        ({"machine_ids": ["a"], "extra": 1}, 400, "extra"),
    ],
)
def test_bad_requests(served: Inventory, body: Any, status: int, words: str) -> None:
    response = post(served, "/api/v1/machines/preflight", body)
    assert response.status_code == status, response.text
    answer = response.json()
    assert answer["code"] == status and answer["data"] is None
    assert words in answer["message"]


def test_unknown_id_and_bad_role_are_422_naming_them(served: Inventory, ids: list[str]) -> None:
    unknown = str(uuid.uuid4())
    response = post(served, "/api/v1/machines/preflight", {"machine_ids": [ids[0], unknown]})
    assert response.status_code == 422, response.text
    assert unknown in response.json()["message"]
    response = post(
        served, "/api/v1/machines/preflight", {"machine_ids": [ids[0]], "roles": {ids[0]: "boss"}}
    )
    assert response.status_code == 422 and "roles" in response.json()["message"]
    response = post(
        served, "/api/v1/machines/preflight", {"machine_ids": [ids[0]], "roles": {ids[1]: "etcd"}}
    )
    assert response.status_code == 422 and ids[1] in response.json()["message"]


def test_admin_only(served: Inventory, ids: list[str]) -> None:
    user = served.new_user(f"pf{uuid.uuid4().hex[:8]}")
    response = post(served, "/api/v1/machines/preflight", {"machine_ids": ids}, headers=user)
    assert response.status_code == 403, response.text
    response = post(served, f"/api/v1/machines/{ids[0]}/preflight", None, headers=user)
    assert response.status_code == 403
    assert post(served, "/api/v1/machines/preflight", {"machine_ids": ids}, {}).status_code == 401


def test_preflight_is_audited_with_the_admin_as_actor(served: Inventory, ids: list[str]) -> None:
    assert post(served, f"/api/v1/machines/{ids[0]}/preflight", None).status_code == 200
    events = served.get("/api/v1/audit", limit=100).json()["data"]["events"]
    mine = [e for e in events if e["action"] == "preflight" and e["resource_id"] == ids[0]]
    assert mine and mine[0]["user"] == "admin" and mine[0]["resource"] == "machine", events[:3]
