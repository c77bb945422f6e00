"""Two create requests at once through a real `taichu serve`: for the same machine only
one wins (the other is 422 naming it), for the same cluster name only one wins (409)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from taichu.lab.ssh_hosts import SshHost
from tests.provision.serving import Provision, reset_hosts, serve_provision

pytestmark = pytest.mark.lab


@pytest.fixture
def served(tmp_path: Path, ssh_hosts: list[SshHost]) -> Iterator[Provision]:
    reset_hosts(ssh_hosts)
    for host in ssh_hosts:
        host.exec("touch /root/hold")  # the tasks stay running while the test looks
    with serve_provision(tmp_path, "races") as s:
        yield s
    for host in ssh_hosts:
        host.exec("rm -f /root/hold")


def test_concurrent_creates(served: Provision, ssh_hosts: list[SshHost]) -> None:
    ids = [served.add_machine(h, f"r{i}", "master") for i, h in enumerate(ssh_hosts)]
    with ThreadPoolExecutor(2) as pool:
        same_machine = list(pool.map(lambda n: served.create(n, [ids[0]]), ["one", "two"]))
    codes = sorted(r.status_code for r in same_machine)
    assert codes == [200, 422], [r.text for r in same_machine]
    loser = next(r for r in same_machine if r.status_code == 422).json()
    assert "r0" in loser["message"] and loser["data"] is None

    with ThreadPoolExecutor(2) as pool:
        same_name = list(pool.map(lambda i: served.create("twin", [i]), ids[1:]))
    codes = sorted(r.status_code for r in same_name)
    assert codes == [200, 409], [r.text for r in same_name]
    assert "twin" in next(r for r in same_name if r.status_code == 409).json()["message"]

    tasks = served.get("/api/v1/create-tasks").json()["data"]
    assert tasks["total"] == 2
    names = sorted(c["name"] for c in served.get("/api/v1/clusters").json()["data"]["clusters"])
    assert len(names) == 2 and "twin" in names
    statuses = served.statuses(ids)
    assert statuses[0] == "deploying" and sorted(statuses[1:]) == ["available", "deploying"]
    for task in tasks["tasks"]:
        assert served.post(f"/api/v1/create-tasks/{task['id']}/cancel", None).status_code == 200
