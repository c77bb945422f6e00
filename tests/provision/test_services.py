"""Services: the systemd unit and supervisor definition rendered from one Service, and the
supervisor (taichu-svc) itself on a real lab host over SSH: it starts a service detached,
brings it back when it is killed, leaves it alone when nothing changed, restarts it on a
change, stops it (TERM, then KILL) and reports its status."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from functools import partial

import pytest

from taichu.config import SshSettings
from taichu.lab.ssh_hosts import SshHost
from taichu.provision.install import layout
from taichu.provision.install.services import (
    Service,
    Services,
    supervisor_definition,
    systemd_unit,
)
from taichu.ssh import SshCommandFailed, SshPool, SshSession
from tests.ssh.support import target
from tests.support.waiting import wait_for

SVC = Service(
    "demo-svc",
    ("/opt/taichu/bin/demo", "--msg=it's 100% $HOME", 'say "hi"'),
    env={"PATH": "/opt/taichu/bin:/usr/bin", "A": "x y"},
)


def test_systemd_unit_quotes_for_systemd_and_logs_to_the_file() -> None:
    unit = systemd_unit(SVC)
    assert 'ExecStart="/opt/taichu/bin/demo" "--msg=it\'s 100%% $$HOME" "say \\"hi\\""\n' in unit
    assert 'Environment="A=x y"\nEnvironment="PATH=/opt/taichu/bin:/usr/bin"\n' in unit
    assert "Restart=always\n" in unit and "KillMode" not in unit
    assert "StandardOutput=append:/var/log/taichu/demo-svc.log\n" in unit
    assert "KillMode=process\n" in systemd_unit(Service("c", ("/x",), keep_children=True))


def test_supervisor_definition_is_a_shell_exec_line() -> None:
    text = supervisor_definition(SVC)
    assert text.startswith("#!/bin/sh\n")
    assert "export A='x y'\n" in text
    assert text.endswith("exec /opt/taichu/bin/demo '--msg=it'\"'\"'s 100% $HOME' 'say \"hi\"'\n")


def test_service_names_and_commands_are_checked() -> None:
    with pytest.raises(ValueError, match="name"):
        Service("Bad Name", ("/x",))
    with pytest.raises(ValueError, match="absolute"):
        Service("ok", ("relative",))


# --- the supervisor on a lab host ------------------------------------------------------


@pytest.fixture
async def session(ssh_hosts: list[SshHost]) -> AsyncIterator[SshSession]:
    pool = SshPool(SshSettings())
    async with pool.session(target(ssh_hosts[0], "deploy")) as ssh:  # sudo, no password
        yield ssh
    await pool.close()


def machine(ssh: SshSession) -> tuple[partial[object], partial[object]]:
    run = partial(ssh.run, privileged=True)

    async def upload(data: bytes, path: str, mode: int) -> bool:
        return await ssh.upload(data, path, mode=mode, privileged=True)

    return run, upload  # type: ignore[return-value]


def pid_of(host: SshHost, name: str) -> int | None:
    r = host.exec(f"cat {layout.RUN}/{name}.pid 2>/dev/null", check=False)
    return int(r.stdout.split()[0]) if r.stdout.strip() else None


def running(host: SshHost, pid: int) -> bool:
    stat = host.exec(f"cat /proc/{pid}/stat 2>/dev/null", check=False).stdout
    return bool(stat) and stat.rsplit(")", 1)[1].split()[0] != "Z"


async def test_supervisor_keeps_a_service_running_and_stops_it(
    session: SshSession, ssh_hosts: list[SshHost]
) -> None:
    host = ssh_hosts[0]
    name = f"sleeper-{uuid.uuid4().hex[:6]}"
    marker = uuid.uuid4().hex
    run, upload = machine(session)
    services = await Services.detect(run, upload)  # type: ignore[arg-type]
    assert services.init == "supervisor"  # the lab's hosts have no systemd
    assert host.exec(f"test -x {layout.SUPERVISOR}", check=False).returncode == 0
    svc = Service(name, ("/bin/sh", "-c", f"echo started {marker}; exec sleep 1000"))
    try:
        assert await services.status(name) == "stopped"
        assert await services.ensure(svc) is True
        assert await services.status(name) == "running"
        first = pid_of(host, name)
        assert first and running(host, first)
        # Detached: the SSH session that started it is long gone, it keeps running.
        assert "sleep 1000" in host.exec(f"tr '\\0' ' ' < /proc/{first}/cmdline").stdout

        host.exec(f"kill -9 {first}")
        second = await wait_for(
            lambda: pid_of(host, name), lambda p: p is not None and p != first, timeout=30
        )
        assert running(host, second) and not running(host, first)
        await wait_for(lambda: services.status(name), lambda s: s == "running", timeout=10)
        log = host.exec(f"cat {layout.log_path(name)}").stdout
        assert log.count(f"started {marker}") == 2
        assert "exited with status 137; starting it again" in log

        # Nothing changed: left alone. A changed configuration: restarted.
        assert await services.ensure(svc) is False
        assert pid_of(host, name) == second
        assert await services.ensure(svc, changed=True) is True
        third = pid_of(host, name)
        assert third not in (first, second) and third and running(host, third)

        # The loop killed -9 leaves the service unsupervised; start does not run it twice.
        loop = int(host.exec(f"cat {layout.RUN}/{name}.loop.pid").stdout.split()[0])
        host.exec(f"kill -9 {loop}")
        await wait_for(lambda: services.status(name), lambda s: s == "unsupervised", timeout=10)
        await services.start(name)
        assert await services.status(name) == "running"
        fourth = pid_of(host, name)
        assert fourth != third and not running(host, third)

        # A definition whose program is not there is refused, naming it.
        with pytest.raises(SshCommandFailed, match="/opt/taichu/bin/nosuch is missing"):
            await services.ensure(Service(name, ("/opt/taichu/bin/nosuch",)))
        assert pid_of(host, name) == fourth  # the running one is left alone

        # A service that ignores TERM is killed.
        stubborn = Service(name, ("/bin/sh", "-c", "trap '' TERM; while :; do sleep 1; done"))
        await services.ensure(stubborn)
        fifth = pid_of(host, name)
        assert fifth and running(host, fifth)
        await run(f"TAICHU_SVC_STOP_WAIT=1 {layout.SUPERVISOR} stop {name}")
        assert await services.status(name) == "stopped"
        assert not running(host, fifth)
    finally:
        await services.remove(name)
    assert host.exec(f"test -e {layout.definition_path(name)}", check=False).returncode == 1
    assert await services.status(name) == "stopped"


async def test_supervisor_caps_the_log(session: SshSession, ssh_hosts: list[SshHost]) -> None:
    host = ssh_hosts[0]
    name = f"talker-{uuid.uuid4().hex[:6]}"
    run, upload = machine(session)
    services = await Services.detect(run, upload)  # type: ignore[arg-type]
    chatter = "yes 0123456789abcdef0123456789abcdef | head -c 3000000; exec sleep 1000"
    svc = Service(name, ("/bin/sh", "-c", chatter))
    try:
        # The cap is the supervisor's setting: given to the loop through its environment.
        await run(f"mkdir -p {layout.SERVICES}")
        await services.install(svc)
        await run(f"TAICHU_SVC_LOG_MAX=100000 {layout.SUPERVISOR} start {name}")

        def size() -> int:
            r = host.exec(f"wc -c < {layout.log_path(name)}.1 2>/dev/null", check=False)
            return int(r.stdout.strip() or 0)

        await wait_for(size, lambda n: n >= 3000000, timeout=30)
        current = int(host.exec(f"wc -c < {layout.log_path(name)}").stdout.strip())
        assert current < 100000
    finally:
        await services.remove(name)
        host.exec(f"rm -f {layout.log_path(name)} {layout.log_path(name)}.1*")
