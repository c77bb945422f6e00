"""Machines that accept TCP and never speak SSH hold a check slot for a whole connect
timeout. The monitor's sweep over many of them must not make the check after a create
wait: a healthy machine added during the sweep is available within a few seconds, not
after the sweep (here 16 dead machines x 5 s / 2 slots = 40 s)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from taichu.lab.ssh_hosts import SshHost
from tests.machines.serving import Inventory, machine_body, serve_inventory, silent_port
from tests.support.waiting import wait_for

DEAD = 16
CONNECT_TIMEOUT = 5


@pytest.fixture
def tarpit() -> Iterator[int]:
    with silent_port() as port:
        yield port


@pytest.fixture
def inv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Inventory]:
    with serve_inventory(
        tmp_path_factory.mktemp("sweep"),
        "sweep",
        TAICHU_MACHINES__CHECK_INTERVAL="1",
        TAICHU_MACHINES__CHECK_CONCURRENCY="2",
        TAICHU_SSH__CONNECT_TIMEOUT=str(CONNECT_TIMEOUT),
    ) as served:
        yield served


async def test_a_check_after_create_does_not_wait_behind_the_sweep(
    inv: Inventory, tarpit: int
) -> None:
    dead = []
    for i in range(DEAD):
        body = machine_body(f"dead-{i}", f"127.0.0.{10 + i}", port=tarpit)
        response = inv.post("/api/v1/machines", body)
        assert response.status_code == 200, response.text
        dead.append(response.json()["data"]["id"])
    # Their first checks done, the monitor sweeps them over and over.
    for machine_id in dead:
        await wait_for(
            lambda i=machine_id: inv.machine(i), lambda m: m["last_checked_at"], timeout=120
        )
    with SshHost() as host:
        body = machine_body("healthy", host.address, port=host.port, password=host.password)
        added_at = time.monotonic()
        response = inv.post("/api/v1/machines", body)
        assert response.status_code == 200, response.text
        machine_id = response.json()["data"]["id"]
        machine = await wait_for(
            lambda: inv.machine(machine_id), lambda m: m["status"] == "available", timeout=90
        )
        took = time.monotonic() - added_at
        assert machine["facts"]["hostname"] == host.hostname
        # A sweep of the dead machines takes DEAD * CONNECT_TIMEOUT / 2 = 40 s.
        assert took < 20, f"the check after create waited {took:.0f}s"
