"""Host keys: pinned keys must match, first use shows the key, a changed key is refused."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from taichu.config import SshSettings
from taichu.lab.pytest_fixtures import HostFactory
from taichu.lab.ssh_hosts import SshHost
from taichu.ssh import SshHostKeyMismatch, SshPool, fingerprint, normalize_host_key
from tests.ssh.support import target

pytestmark = pytest.mark.lab


def _keygen_fingerprint(line: str, tmp_path: Path) -> str:
    path = tmp_path / "key.pub"
    path.write_text(line + "\n")
    out = subprocess.run(["ssh-keygen", "-lf", str(path)], capture_output=True, text=True)
    return out.stdout.split()[1]


async def test_first_use_shows_the_presented_key(ssh_hosts: list[SshHost], tmp_path: Path) -> None:
    host = ssh_hosts[0]
    pool = SshPool(SshSettings())
    try:
        async with pool.session(target(host)) as ssh:
            assert ssh.presented_host_key == normalize_host_key(host.host_public_key)
        async with pool.session(target(host, pinned=True)) as ssh:
            assert (await ssh.run("hostname")).stdout.strip() == host.hostname
    finally:
        await pool.close()
    assert fingerprint(host.host_public_key) == _keygen_fingerprint(host.host_public_key, tmp_path)


async def test_regenerated_host_key_is_refused(
    ssh_host_factory: HostFactory, tmp_path: Path
) -> None:
    (host,) = ssh_host_factory(1)
    old = normalize_host_key(host.host_public_key)
    new = normalize_host_key(host.regenerate_host_key())
    assert new != old
    pool = SshPool(SshSettings())
    try:
        pinned_old = replace(target(host), host_key=old)
        with pytest.raises(SshHostKeyMismatch) as e:
            async with pool.session(pinned_old):
                pass
        assert str(e.value) == (
            f"host key of {host.address} changed: expected {_keygen_fingerprint(old, tmp_path)}, "
            f"presented {_keygen_fingerprint(new, tmp_path)}"
        )
        assert (e.value.expected, e.value.presented) == (old, new)
        assert e.value.reason == "host_key_mismatch"
        # Re-pinned to the new key, it connects.
        async with pool.session(target(host, pinned=True)) as ssh:
            assert ssh.presented_host_key == new
    finally:
        await pool.close()


async def test_mismatch_sends_no_password(ssh_host_factory: HostFactory) -> None:
    """The key is checked before authentication: sshd never saw a login attempt."""
    (host,) = ssh_host_factory(1)
    old = host.host_public_key
    host.regenerate_host_key()
    log = host.root / "logs" / "sshd.log"
    before = log.read_text()
    pool = SshPool(SshSettings())
    t = replace(target(host), host_key=old)
    with pytest.raises(SshHostKeyMismatch):
        async with pool.session(t):
            pass
    await pool.close()
    attempts = log.read_text()[len(before) :]
    assert "password" not in attempts.lower() and "Accepted" not in attempts
