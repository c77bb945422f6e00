"""Logging in to real lab hosts: password, key, encrypted key, sudo; the failures."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from taichu.config import SshSettings
from taichu.lab.pytest_fixtures import HostFactory
from taichu.lab.ssh_hosts import SshHost, wait_refused
from taichu.ssh import (
    SshAuthFailed,
    SshPool,
    SshRefused,
    SshSudoRefused,
    SshTimeout,
    SshUnreachable,
)
from tests.ssh.support import target

pytestmark = pytest.mark.lab


@pytest.fixture
async def pool() -> AsyncIterator[SshPool]:
    p = SshPool(SshSettings(connect_timeout=5))
    yield p
    await p.close()


async def _whoami(pool: SshPool, t: object, *, privileged: bool = False) -> str:
    async with pool.session(t) as ssh:  # type: ignore[arg-type]
        return (await ssh.run("id -un", privileged=privileged)).stdout.strip()


async def test_password_login(pool: SshPool, ssh_hosts: list[SshHost]) -> None:
    assert await _whoami(pool, target(ssh_hosts[0])) == "root"


async def test_key_login(pool: SshPool, ssh_hosts: list[SshHost]) -> None:
    assert await _whoami(pool, target(ssh_hosts[1], password=None, key=True)) == "root"


def _encrypted(private_key: str, passphrase: str) -> str:
    # PKCS#8 PEM: OpenSSH-format encryption needs the optional bcrypt module.
    key = serialization.load_ssh_private_key(private_key.encode(), None)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode()),
    ).decode()


async def test_encrypted_key_with_passphrase(pool: SshPool, ssh_hosts: list[SshHost]) -> None:
    host = ssh_hosts[2]
    encrypted = _encrypted(host.private_key, "open sesame")
    t = target(host, password=None, private_key=encrypted, passphrase="open sesame")
    assert await _whoami(pool, t) == "root"
    wrong = target(host, password=None, private_key=encrypted, passphrase="not it")
    with pytest.raises(SshAuthFailed, match="private key could not be read") as e:
        await _whoami(pool, wrong)
    assert e.value.reason == "authentication"


@pytest.mark.parametrize("key", [False, True])
async def test_sudo_user_becomes_root(pool: SshPool, ssh_hosts: list[SshHost], key: bool) -> None:
    # "ops" is asked for the password by sudo; "deploy" is NOPASSWD and logs in by key only.
    host = ssh_hosts[0]
    t = target(host, "deploy", password=None, key=True) if key else target(host, "ops")
    async with pool.session(t) as ssh:
        assert (await ssh.run("id -u")).stdout.strip() != "0"
        assert (await ssh.run("id -u", privileged=True)).stdout.strip() == "0"
        # stdin reaches the command, the sudo password does not.
        echoed = await ssh.run("cat", privileged=True, stdin=b"hello\n")
        assert echoed.stdout == "hello\n"


async def test_sudo_refused(pool: SshPool, ssh_hosts: list[SshHost]) -> None:
    host = ssh_hosts[1]
    with pytest.raises(SshSudoRefused, match="not in the sudoers file") as e:
        await _whoami(pool, target(host, host.nosudo_user), privileged=True)
    assert e.value.reason == "sudo_refused"
    # A user whom sudo asks for a password, with only a key stored: refused, not hung.
    with pytest.raises(SshSudoRefused, match="needs a password"):
        await _whoami(pool, target(host, host.sudo_user, password=None, key=True), privileged=True)


async def test_wrong_password(pool: SshPool, ssh_hosts: list[SshHost]) -> None:
    host = ssh_hosts[0]
    with pytest.raises(SshAuthFailed, match="authentication failed") as e:
        await _whoami(pool, target(host, password="not-the-password"))
    assert e.value.reason == "authentication" and e.value.address == host.address
    assert "not-the-password" not in str(e.value)


async def test_stopped_sshd_is_refused(pool: SshPool, ssh_host_factory: HostFactory) -> None:
    (host,) = ssh_host_factory(1)
    host.stop()
    wait_refused(host)
    with pytest.raises(SshRefused, match="connection refused") as e:
        await _whoami(pool, target(host))
    assert e.value.reason == "refused"
    host.start()
    assert await _whoami(pool, target(host)) == "root"


@pytest.fixture
def silent_server() -> Iterator[tuple[str, int]]:
    """Accepts TCP connections and never says a word (a hung or firewalled sshd)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[:2]


async def test_silent_server_times_out(silent_server: tuple[str, int]) -> None:
    from taichu.ssh import SshCredentials, SshTarget

    address, port = silent_server
    p = SshPool(SshSettings(connect_timeout=1.5))
    started = time.monotonic()
    with pytest.raises(SshTimeout, match="timed out") as e:
        async with p.session(SshTarget(address, "root", SshCredentials(password="x"), port=port)):
            pass
    assert time.monotonic() - started < 5
    assert e.value.reason == "timeout"
    await p.close()


async def test_unplugged_host_fails_within_the_connect_timeout(
    ssh_host_factory: HostFactory,
) -> None:
    (host,) = ssh_host_factory(1)
    p = SshPool(SshSettings(connect_timeout=1.5))
    host.unplug()
    try:
        started = time.monotonic()
        with pytest.raises((SshTimeout, SshUnreachable)) as e:
            async with p.session(target(host)):
                pass
        assert time.monotonic() - started < 5
        assert e.value.reason in ("timeout", "unreachable")
    finally:
        host.plug()
    # Plugged back in, the same pool reaches it.
    assert await _whoami(p, target(host)) == "root"
    await p.close()


def _keygen(path: Path, passphrase: str) -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-f", str(path)], check=True
    )
    return path


async def test_openssh_format_encrypted_key(
    pool: SshPool, ssh_host_factory: HostFactory, tmp_path: Path
) -> None:
    """What `ssh-keygen -N` writes (bcrypt KDF): usable with the bcrypt module installed
    (a dependency), else refused with a message saying so, never a crash."""
    (host,) = ssh_host_factory(1)
    path = _keygen(tmp_path / "id", "kdf-phrase")
    keys = host.root / "root" / ".ssh" / "authorized_keys"
    keys.write_text(keys.read_text() + path.with_suffix(".pub").read_text())
    t = target(host, password=None, private_key=path.read_text(), passphrase="kdf-phrase")
    if importlib.util.find_spec("bcrypt"):
        assert await _whoami(pool, t) == "root"
    else:
        with pytest.raises(SshAuthFailed, match="bcrypt"):
            await _whoami(pool, t)
