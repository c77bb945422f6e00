"""SFTP uploads to real lab hosts: written, verified, skipped when identical, privileged."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from taichu.config import SshSettings
from taichu.errors import Invalid
from taichu.lab.ssh_hosts import SshHost
from taichu.ssh import SshCommandFailed, SshError, SshPool
from tests.ssh.support import target

pytestmark = pytest.mark.lab


@pytest.fixture
async def pool() -> AsyncIterator[SshPool]:
    p = SshPool(SshSettings())
    yield p
    await p.close()


def _leftovers(host: SshHost, directory: str) -> list[str]:
    return [n for n in host.exec(f"ls -A {directory}").stdout.split() if ".taichu-" in n]


async def test_upload_writes_verifies_and_skips_identical(
    pool: SshPool, ssh_hosts: list[SshHost]
) -> None:
    host = ssh_hosts[0]
    name = f"/opt/upload-{uuid.uuid4().hex}"
    data = os.urandom(3 * 2**20 + 17)  # large enough to be hashed off the event loop
    async with pool.session(target(host)) as ssh:
        assert await ssh.upload(data, name, mode=0o640) is True
        local = host.root / "opt" / name.removeprefix("/opt/")  # the host's own /opt
        assert local.read_bytes() == data
        assert local.stat().st_mode & 0o777 == 0o640
        assert await ssh.upload(data, name, mode=0o640) is False  # identical: skipped
        assert await ssh.upload(b"changed\n", name) is True
        assert local.read_bytes() == b"changed\n"
        digest = hashlib.sha256(b"changed\n").hexdigest()
        assert host.exec(f"sha256sum {name}").stdout.split()[0] == digest
    assert _leftovers(host, "/opt") == []
    host.exec(f"rm -f {name}")  # the hosts are shared by the worker's tests


async def test_privileged_upload_by_a_sudo_user(pool: SshPool, ssh_hosts: list[SshHost]) -> None:
    host = ssh_hosts[1]
    name = f"/etc/kubernetes/taichu-{uuid.uuid4().hex}.conf"
    assert host.exec("stat -c %U /etc/kubernetes").stdout.strip() == "root"
    async with pool.session(target(host, "ops")) as ssh:
        staging_before = host.exec("ls -A /tmp").stdout.split()
        with pytest.raises(SshCommandFailed, match="Permission denied"):
            await ssh.upload(b"secret: 1\n", name)  # as ops itself: not allowed
        assert await ssh.upload(b"secret: 1\n", name, mode=0o600, privileged=True) is True
        assert host.exec(f"stat -c '%U %a' {name}").stdout.split() == ["root", "600"]
        assert host.exec(f"cat {name}").stdout == "secret: 1\n"
        assert await ssh.upload(b"secret: 1\n", name, mode=0o600, privileged=True) is False
        assert host.exec("ls -A /tmp").stdout.split() == staging_before
    assert _leftovers(host, "/etc/kubernetes") == []
    host.exec(f"rm -f {name}")


async def test_upload_needs_an_absolute_path(pool: SshPool, ssh_hosts: list[SshHost]) -> None:
    async with pool.session(target(ssh_hosts[2])) as ssh:
        with pytest.raises(Invalid, match="absolute"):
            await ssh.upload(b"x", "relative/file")


async def test_upload_streams_a_local_file(
    pool: SshPool, ssh_hosts: list[SshHost], tmp_path: Path
) -> None:
    host = ssh_hosts[2]
    local = tmp_path / "big.bin"
    data = os.urandom(9 * 2**20 + 5)  # several chunks, the last one short
    local.write_bytes(data)
    name = f"/opt/taichu-file-{uuid.uuid4().hex}"
    async with pool.session(target(host, "deploy")) as ssh:
        assert await ssh.upload(local, name, mode=0o755, privileged=True) is True
        digest = hashlib.sha256(data).hexdigest()
        assert host.exec(f"sha256sum {name}").stdout.split()[0] == digest
        assert host.exec(f"stat -c '%U %a' {name}").stdout.split() == ["root", "755"]
        assert await ssh.upload(local, name, mode=0o755, privileged=True) is False
        with pytest.raises(SshError, match="cannot read"):
            await ssh.upload(tmp_path / "missing", f"{name}.2", privileged=True)
    assert _leftovers(host, "/opt") == []
    host.exec(f"rm -f {name}")
