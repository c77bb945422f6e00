"""`taichu machines import FILE` against a real server and real lab SSH hosts."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taichu.lab.pytest_fixtures import HostFactory
from taichu.lab.ssh_hosts import SshHost
from tests.clusters.serving import ADMIN_PASSWORD
from tests.machines.serving import Inventory, serve_inventory


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Inventory]:
    tmp = tmp_path_factory.mktemp("import")
    with serve_inventory(tmp, "import", TAICHU_MACHINES__CHECK_INTERVAL="86400") as s:
        yield s


def machines(served: Inventory) -> list[dict[str, Any]]:
    response = served.get("/api/v1/machines", limit=100)
    assert response.status_code == 200, response.text
    return list(response.json()["data"]["machines"])


def taichu_import(
    served: Inventory, path: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("TAICHU_")}
    full.update(env)
    if "TAICHU_PASSWORD" not in env:
        full["TAICHU_TOKEN"] = served.admin["Authorization"].removeprefix("Bearer ")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "taichu.cli",
            "machines",
            "import",
            str(path),
            "--server",
            served.url,
            "--wait",
            "90",
            *args,
        ],
        env=full,
        capture_output=True,
        text=True,
        timeout=180,
    )


def entry(host: SshHost, name: str, creds: str) -> str:
    return (
        f"  - {{name: {name}, address: {host.address}, internalAddress: {host.address}, "
        f"port: {host.port}, user: root, {creds}}}\n"
    )


def test_import_by_password_and_key_then_again_as_exists(
    served: Inventory, ssh_host_factory: HostFactory, tmp_path: Path
) -> None:
    one, two, three = ssh_host_factory(3, prefix="imported")
    path = tmp_path / "cluster.yaml"
    path.write_text(
        "apiVersion: kubekey.kubesphere.io/v1alpha2\nkind: Cluster\nmetadata: {name: lab}\n"
        "spec:\n  hosts:\n"
        + entry(one, "imp-1", f"password: '{one.password}'")
        + entry(two, "imp-2", f"privateKeyPath: {two.private_key_path}")
        + entry(three, "imp-3", f"password: '{three.password}', hostKey: '{three.host_public_key}'")
        + "  roleGroups:\n    control-plane: [imp-1]\n    etcd: [imp-1]\n"
        "    worker: ['imp-[2:3]']\n  kubernetes: {version: v1.30.0}\n"
    )
    done = taichu_import(served, path)
    assert done.returncode == 0, done.stdout + done.stderr
    for host, name in ((one, "imp-1"), (two, "imp-2"), (three, "imp-3")):
        line = next(x for x in done.stdout.splitlines() if name in x)
        assert host.address in line and "available" in line, done.stdout
    assert "Traceback" not in done.stderr
    # Not a terminal: plain progress lines on stderr, the table alone on stdout.
    assert f"imp-1 ({one.address}): available" in done.stderr
    listed = {m["name"]: m for m in machines(served)}
    assert {listed[n]["role"] for n in ("imp-2", "imp-3")} == {"worker"}
    assert listed["imp-1"]["role"] == "master" and listed["imp-1"]["status"] == "available"
    assert one.password not in done.stdout + done.stderr
    # Created through the API: audited, with the operator as the actor.
    events = served.get("/api/v1/audit", limit=100).json()["data"]["events"]
    created = [e for e in events if e["resource_id"] == listed["imp-2"]["id"]]
    assert any(e["user"] == "admin" and e["event_type"] for e in created), created

    again = taichu_import(served, path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("│ exists │") == 3, again.stdout
    assert len([m for m in machines(served) if m["name"].startswith("imp-")]) == 3
    # A name taken by a machine at another address is a conflict: that entry fails.
    taken = tmp_path / "taken.yaml"
    taken.write_text("hosts:\n  - {name: imp-1, address: 192.0.2.77, password: x}\n")
    clash = taichu_import(served, taken)
    assert clash.returncode == 1, clash.stdout + clash.stderr
    assert "│ failed │" in clash.stdout and "name: a machine with name imp-1" in clash.stdout


def test_sign_in_with_username_and_password(
    served: Inventory, ssh_host_factory: HostFactory, tmp_path: Path
) -> None:
    (host,) = ssh_host_factory(1, prefix="signed")
    path = tmp_path / "hosts.yaml"
    path.write_text("hosts:\n" + entry(host, "signed-1", f"password: '{host.password}'"))
    done = taichu_import(served, path, "--username", "admin", TAICHU_PASSWORD=ADMIN_PASSWORD)
    assert done.returncode == 0, done.stdout + done.stderr
    refused = taichu_import(served, path, "--username", "admin", TAICHU_PASSWORD="wrong-password")
    assert refused.returncode == 2 and "sign-in" in refused.stderr, refused.stderr


def test_unreachable_entry_fails_the_run_naming_why(served: Inventory, tmp_path: Path) -> None:
    path = tmp_path / "hosts.yaml"
    # TEST-NET-1: nothing answers there.
    path.write_text("hosts:\n  - {name: ghost, address: 192.0.2.10, password: x}\n")
    done = taichu_import(served, path, "--wait", "60")
    assert done.returncode == 1, done.stdout + done.stderr
    line = next(x for x in done.stdout.splitlines() if "ghost" in x)
    assert "unavailable" in line or "failed" in line, done.stdout


ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(9)
)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            "hosts:\n  - {name: u1, address: 10.9.0.1, password: x, colour: red}\n"
            "  - {name: u2, address: 10.9.0.2, password: x}\n",
            "hosts[0] (u1): unknown field 'colour'",
        ),
        (
            "hosts:\n  - {name: m1, address: 10.9.0.3, password: x}\n"
            "  - {name: m2, address: 10.9.0.4, user: root}\n",
            "hosts[1] (m2): credentials missing",
        ),
        ("hosts: []\n" + "#" * (1024 * 1024 + 10), "the limit is 1024 KiB"),
        (ALIAS_BOMB, "anchors and aliases"),
    ],
    ids=["unknown-field", "missing-credentials", "too-big", "alias-bomb"],
)
def test_bad_files_are_refused_whole(
    served: Inventory, tmp_path: Path, text: str, words: str
) -> None:
    before = machines(served)
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    done = taichu_import(served, path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert words in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert machines(served) == before
