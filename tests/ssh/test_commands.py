"""Commands on real lab hosts: exit codes, timeouts, output caps, no leaks of this process."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from taichu.config import SshSettings
from taichu.lab.ssh_hosts import SshHost
from taichu.ssh import SshCommandFailed, SshPool, SshTimeout
from tests.ssh.support import target
from tests.support.waiting import wait_for

pytestmark = pytest.mark.lab


@pytest.fixture
async def pool() -> AsyncIterator[SshPool]:
    p = SshPool(SshSettings(connect_timeout=5, max_output_bytes=4096))
    yield p
    await p.close()


async def test_non_zero_exit(pool: SshPool, ssh_hosts: list[SshHost]) -> None:
    async with pool.session(target(ssh_hosts[0])) as ssh:
        with pytest.raises(SshCommandFailed, match="exit status 3: broken here") as e:
            await ssh.run("echo out; echo broken here >&2; exit 3")
        assert e.value.exit_status == 3 and e.value.reason == "command_failed"
        assert e.value.stderr == "broken here"
        result = await ssh.run("echo out; exit 3", check=False)
        assert (result.exit_status, result.stdout) == (3, "out\n")
        # A shell syntax error is the command's failure, also through sudo.
    async with pool.session(target(ssh_hosts[0], "ops")) as ssh:
        result = await ssh.run("exit 4", privileged=True, check=False)
        assert result.exit_status == 4
        with pytest.raises(SshCommandFailed):
            await ssh.run("if then fi", privileged=True)


def _running(marker: str) -> list[str]:
    # Lab hosts share this machine's process table: look for the marker anywhere.
    out = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    return out.stdout.split()


@pytest.mark.parametrize("user", ["root", "ops"])
async def test_command_timeout_kills_it(pool: SshPool, ssh_hosts: list[SshHost], user: str) -> None:
    marker = f"{uuid.uuid4().int % 10**6}.{uuid.uuid4().int % 10**3}"
    async with pool.session(target(ssh_hosts[1], user)) as ssh:
        with pytest.raises(SshTimeout, match="timed out after 1s") as e:
            # A child of the shell as well: the whole command goes, not just the shell.
            await ssh.run(f"sleep {marker} & sleep {marker}; wait", timeout=1, privileged=True)
        assert e.value.reason == "timeout"
        await wait_for(lambda: _running(f"sleep {marker}"), lambda pids: not pids, timeout=10)
        # The connection is still good for the next command.
        assert (await ssh.run("echo still here")).stdout == "still here\n"


async def test_output_is_capped(pool: SshPool, ssh_hosts: list[SshHost]) -> None:
    async with pool.session(target(ssh_hosts[2])) as ssh:
        result = await ssh.run("head -c 1000000 /dev/zero | tr '\\0' x; head -c 9000 /dev/zero >&2")
        assert result.truncated
        assert result.stdout == "x" * 4096 and len(result.stderr) == 4096
        small = await ssh.run("echo small")
        assert not small.truncated and small.stdout == "small\n"


@pytest.fixture
def agent_socket(tmp_path: Path) -> Iterator[str]:
    """A real ssh-agent of this process, holding a key: forwarding it would show."""
    sock = str(tmp_path / "agent.sock")
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", sock], stdout=subprocess.DEVNULL)
    try:
        yield sock
    finally:
        proc.terminate()
        proc.wait(10)


async def test_no_environment_or_agent_reaches_the_machine(
    ssh_hosts: list[SshHost], monkeypatch: pytest.MonkeyPatch, agent_socket: str
) -> None:
    # sshd of the lab accepts LANG and LC_*: what a client sends would arrive.
    monkeypatch.setenv("LC_TAICHU_LEAK", "leaked-locale")
    monkeypatch.setenv("LANG", "leaked-lang")
    monkeypatch.setenv("TAICHU_LEAK", "leaked-variable")
    monkeypatch.setenv("SSH_AUTH_SOCK", agent_socket)
    assert os.environ["SSH_AUTH_SOCK"] == agent_socket
    p = SshPool(SshSettings())
    try:
        for t in (target(ssh_hosts[0]), target(ssh_hosts[0], password=None, key=True)):
            async with p.session(t) as ssh:
                env = (await ssh.run("env")).stdout
                assert "leaked" not in env
                assert "SSH_AUTH_SOCK" not in env
                assert "DISPLAY" not in env
                # No port forwarding listener or agent socket appeared for the session.
                tty = await ssh.run("tty", check=False)
                assert tty.stdout.strip() == "not a tty"
    finally:
        await p.close()
