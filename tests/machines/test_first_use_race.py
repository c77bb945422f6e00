"""Trust on first use under a race: two checks of a machine with no pinned key run at
once; the first to record pins its key. The other, which saw a different key, must not
store its facts as trusted: it records a host-key mismatch.

Staged for real: a real `taichu serve` (its monitor and an on-demand check) and two lab
hosts with their own host keys behind one address, a TCP relay the test starts and holds.
The monitor's check connects first and is relayed to host A; the on-demand check, started
after it, is relayed to host B and held until A's key is pinned."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from taichu.lab.ssh_hosts import SshHost
from tests.machines.serving import Inventory, machine_body, serve_inventory
from tests.support.waiting import wait_for

PASSWORD = "race-password-0123"


class Relay:
    """Accepts on every 127.0.0.x; until armed, closes what arrives (no key is seen). Once
    armed, connection 1 goes to `first` after connection 2 arrives, connection 2 to
    `second` when released, later ones are held unanswered."""

    def __init__(self, first: SshHost, second: SshHost) -> None:
        self.upstreams = [(first.address, first.port), (second.address, second.port)]
        self.server = socket.socket()
        self.server.bind(("0.0.0.0", 0))
        self.server.listen(64)
        self.port = self.server.getsockname()[1]
        self.armed = threading.Event()
        self.arrived = [threading.Event(), threading.Event()]
        self.release_second = threading.Event()
        self.held: list[socket.socket] = []
        self.count = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client = self.server.accept()[0]
            except OSError:
                return
            self.held.append(client)
            if not self.armed.is_set():
                client.close()
                continue
            n, self.count = self.count, self.count + 1
            if n < 2:
                self.arrived[n].set()
                gate = self.arrived[1] if n == 0 else self.release_second
                args = (client, self.upstreams[n], gate)
                threading.Thread(target=self._relay, args=args, daemon=True).start()

    def _relay(self, client: socket.socket, upstream: tuple[str, int], gate: Any) -> None:
        gate.wait(120)
        remote = socket.create_connection(upstream, timeout=10)
        remote.settimeout(None)
        self.held.append(remote)

        def pump(src: socket.socket, dst: socket.socket) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)

        threading.Thread(target=pump, args=(remote, client), daemon=True).start()
        pump(client, remote)

    def close(self) -> None:
        self.server.close()
        for s in self.held:
            s.close()


@pytest.fixture
def inv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Inventory]:
    with serve_inventory(
        tmp_path_factory.mktemp("race"),
        "race",
        TAICHU_MACHINES__CHECK_INTERVAL="2",
        TAICHU_SSH__CONNECT_TIMEOUT="60",
        TAICHU_SSH__IDLE_SECONDS="0",
    ) as served:
        yield served


def check_outcome(machine: dict[str, Any]) -> tuple[Any, ...]:
    """What a finished check writes on a machine."""
    fields = ("last_checked_at", "status", "check_reason", "status_message", "host_key")
    return (*(machine[field] for field in fields), machine["facts"].get("hostname"))


async def test_a_check_that_saw_another_key_than_the_first_pin_is_a_mismatch(
    inv: Inventory,
) -> None:
    with SshHost("race-a", password=PASSWORD) as a, SshHost("race-b", password=PASSWORD) as b:
        relay = Relay(a, b)
        try:
            body = machine_body("raced", "127.0.4.1", port=relay.port, password=PASSWORD)
            response = inv.post("/api/v1/machines", body)
            assert response.status_code == 200, response.text
            machine_id = response.json()["data"]["id"]
            # The check after the create fails at the relay; from now on only the monitor
            # checks it, until the on-demand check below.
            await wait_for(lambda: inv.machine(machine_id), lambda m: m["last_checked_at"])
            relay.armed.set()
            await wait_for(lambda: relay.arrived[0].is_set(), bool, timeout=60)
            # Started after the monitor's check: its outcome is the newer one.
            queued = inv.post(f"/api/v1/machines/{machine_id}/check", {})
            assert queued.status_code == 200, queued.text
            await wait_for(lambda: relay.arrived[1].is_set(), bool, timeout=60)
            pinned = await wait_for(
                lambda: inv.machine(machine_id), lambda m: m["host_key"], timeout=60
            )
            assert pinned["host_key"] == a.host_public_key.strip()
            assert pinned["facts"]["hostname"] == "race-a"
            relay.release_second.set()
            # The second check's outcome, seen as any change: its end can fall in the same
            # second as the pin, so last_checked_at alone may not move.
            machine = await wait_for(
                lambda: inv.machine(machine_id),
                lambda m: check_outcome(m) != check_outcome(pinned),
                timeout=60,
            )
        finally:
            relay.close()
    assert machine["check_reason"] == "host_key_mismatch", machine
    assert machine["status"] == "unavailable"
    assert "host key of 127.0.4.1 changed" in machine["status_message"]
    assert machine["host_key"] == pinned["host_key"]
    assert machine["facts"]["hostname"] == "race-a"  # not host B's
