"""Preflight answers within one deadline for the whole request: machines that accept TCP
and never speak SSH hold every check slot for a connect timeout each, so the rest wait
for a slot far longer than any single check's timeout (here 40 machines x 5 s / 2 slots
= 100 s, and the checks after their creates hold the same slots)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import asyncssh
import pytest

from tests.machines.serving import Inventory, machine_body, serve_inventory, silent_port

SILENT = 40
DEADLINE = 3


@pytest.fixture
def inv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Inventory]:
    with serve_inventory(
        tmp_path_factory.mktemp("deadline"),
        "deadline",
        TAICHU_MACHINES__CHECK_INTERVAL="86400",
        TAICHU_MACHINES__CHECK_CONCURRENCY="2",
        TAICHU_MACHINES__PREFLIGHT_TIMEOUT_SECONDS=str(DEADLINE),
        TAICHU_SSH__CONNECT_TIMEOUT="5",
    ) as served:
        yield served


def test_preflight_of_silent_machines_answers_within_its_deadline(inv: Inventory) -> None:
    # Preflight only asks machines with a pinned key: each is given one.
    key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    with silent_port() as port:
        ids = []
        for i in range(SILENT):
            body = machine_body(f"silent-{i}", f"127.0.2.{1 + i}", port=port, host_key=key)
            response = inv.post("/api/v1/machines", body)
            assert response.status_code == 200, response.text
            ids.append(response.json()["data"]["id"])
        started = time.monotonic()
        response = inv.post("/api/v1/machines/preflight", {"machine_ids": ids})
        took = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert took < 15, f"preflight took {took:.1f}s with a {DEADLINE}s deadline"
    report = response.json()["data"]
    assert report["passed"] is False
    machines = {m["id"]: m for m in report["machines"]}
    assert set(machines) == set(ids)
    late = f"not checked within {DEADLINE}s (setting machines.preflight_timeout_seconds)"
    for machine_id in ids:
        # No check can end within the deadline: each waits out a 5 s connect timeout.
        [reachable] = [c for c in machines[machine_id]["checks"] if c["name"] == "reachable"]
        assert reachable["status"] == "fail", reachable
        assert late in reachable["message"], reachable
