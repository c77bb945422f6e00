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


def _add_ecdsa_host_key(host: SshHost) -> str:
    """A second host key (as most servers have: ed25519, ecdsa, rsa); returns its line."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    ssh = host.root / "etc.upper" / "ssh"
    private = ssh / "ssh_host_ecdsa_key"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    private.chmod(0o600)
    config = ssh / "sshd_config"
    config.write_text(config.read_text() + "HostKey /etc/ssh/ssh_host_ecdsa_key\n")
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )


async def test_the_pinned_key_is_the_one_asked_for(ssh_host_factory: HostFactory) -> None:
    (host,) = ssh_host_factory(1)
    host.stop()
    ecdsa = _add_ecdsa_host_key(host)
    host.start()
    pool = SshPool(SshSettings())
    try:
        for pinned in (ecdsa, host.host_public_key):
            async with pool.session(replace(target(host), host_key=pinned)) as ssh:
                assert ssh.presented_host_key == normalize_host_key(pinned)
    finally:
        await pool.close()


async def test_a_pin_of_a_key_type_the_host_no_longer_has(ssh_hosts: list[SshHost]) -> None:
    """Pinned to an ecdsa key, the host offers only ed25519: a mismatch naming both
    (not a failed handshake), and still no credential sent."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    host = ssh_hosts[2]
    ecdsa = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    pool = SshPool(SshSettings())
    try:
        with pytest.raises(SshHostKeyMismatch) as e:
            async with pool.session(replace(target(host), host_key=ecdsa)):
                pass
        assert e.value.presented == normalize_host_key(host.host_public_key)
        assert e.value.expected == normalize_host_key(ecdsa)
    finally:
        await pool.close()
