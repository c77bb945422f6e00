"""What a hostile user or a hostile machine sends is bounded and clean: an address with a
zone (free text) is refused, search text is literal (no SQL wildcards), and what a
machine prints (NUL, escapes, a negative CPU count) never reaches a stored fact or
message as it was. Real `taichu serve`, real lab SSH hosts; the machine is made hostile
by a PATH its login shell reads from /root/.bashrc."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from taichu.lab.ssh_hosts import SshHost
from tests.machines.serving import Inventory, machine_body, serve_inventory
from tests.support.waiting import wait_for

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@pytest.fixture(scope="module")
def inv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Inventory]:
    tmp = tmp_path_factory.mktemp("hostile")
    with serve_inventory(tmp, "hostile", TAICHU_SSH__CONNECT_TIMEOUT="5") as served:
        yield served


@pytest.fixture(autouse=True)
def empty(inv: Inventory) -> None:
    inv.sql("DELETE FROM machines")


@pytest.fixture
def host() -> Iterator[SshHost]:
    with SshHost() as h:
        yield h


@pytest.mark.parametrize("field", ["ip_address", "internal_address"])
@pytest.mark.parametrize("address", ["fe80::1%eth0", "fe80::1%$(reboot)", "::1%a b"])
def test_an_address_with_a_zone_is_refused(inv: Inventory, field: str, address: str) -> None:
    body = machine_body("zoned", "10.77.0.1", **{field: address})
    response = inv.post("/api/v1/machines", body)
    assert response.status_code == 422, response.text
    assert field in response.json()["message"]
    assert inv.count() == 0


def test_search_is_literal_text(inv: Inventory) -> None:
    for name, address in (("web_1", "10.77.0.1"), ("webx1", "10.77.0.2")):
        assert inv.post("/api/v1/machines", machine_body(name, address)).status_code == 200

    def names(search: str) -> list[str]:
        data = inv.get("/api/v1/machines", search=search).json()["data"]
        return [m["name"] for m in data["machines"]]

    assert names("web_") == ["web_1"]
    assert names("_") == ["web_1"]
    assert names("%") == []
    assert names("10.77.0.%") == []
    assert names("10.77.0.2") == ["webx1"]


def _hostile(host: SshHost, **scripts: str) -> None:
    """Commands of these names, first in the PATH of root's login shell."""
    host.exec("mkdir -p /root/bin && echo 'export PATH=/root/bin:$PATH' > /root/.bashrc")
    for name, body in scripts.items():
        host.exec(f"printf '#!/bin/sh\\n%s\\n' '{body}' > /root/bin/{name}")
        host.exec(f"chmod +x /root/bin/{name}")


def _add(inv: Inventory, host: SshHost) -> str:
    body = machine_body("hostile", host.address, port=host.port, password=host.password)
    response = inv.post("/api/v1/machines", body)
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["id"])


async def _checked(inv: Inventory, machine_id: str) -> dict[str, Any]:
    return dict(
        await wait_for(lambda: inv.machine(machine_id), lambda m: m["last_checked_at"], timeout=60)
    )


async def test_control_characters_of_facts_are_not_stored(inv: Inventory, host: SshHost) -> None:
    _hostile(host, hostname=r'printf "evil\000host\033[31m\r\n"')
    machine = await _checked(inv, _add(inv, host))
    assert machine["status"] == "available", machine
    assert machine["facts"]["hostname"] == "evilhost[31m"


async def test_control_characters_of_stderr_are_not_in_the_error(
    inv: Inventory, host: SshHost
) -> None:
    _hostile(host, id=r'printf "no\000pe\033[2J\r\n" >&2; exit 3')
    machine = await _checked(inv, _add(inv, host))
    assert machine["status"] == "unavailable"
    assert machine["check_reason"] == "command_failed"
    assert "exit status 3: nope[2J" in machine["check_error"]
    for text in (machine["check_error"], machine["status_message"]):
        assert not CONTROL.search(text), text


async def test_a_negative_cpu_count_is_not_a_fact(inv: Inventory, host: SshHost) -> None:
    _hostile(host, nproc="echo -5")
    machine = await _checked(inv, _add(inv, host))
    assert machine["status"] == "unavailable" and machine["facts"] is None
    assert "could not read facts: nproc" in machine["check_error"]


@pytest.mark.parametrize("login", ["root", "sudo user"])
async def test_a_login_banner_is_not_taken_for_command_output(
    inv: Inventory, host: SshHost, login: str
) -> None:
    # A careless operator's ~/.bashrc that greets: it comes before every command's output.
    home = "/root" if login == "root" else f"/home/{host.sudo_user}"
    host.exec(f"printf 'echo Welcome to {host.hostname}\\n' > {home}/.bashrc")
    user = "root" if login == "root" else host.sudo_user
    body = machine_body("banner", host.address, port=host.port, user=user, password=host.password)
    response = inv.post("/api/v1/machines", body)
    assert response.status_code == 200, response.text
    machine = await _checked(inv, response.json()["data"]["id"])
    assert machine["status"] == "available", machine["check_error"]
    assert machine["facts"]["hostname"] == host.hostname
