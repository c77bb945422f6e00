"""SFTP downloads from real lab hosts: the file arrives whole with its sha256; a file over
the limit is refused before it is copied; a missing file is the machine's error."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from taichu.config import SshSettings
from taichu.lab.ssh_hosts import SshHost
from taichu.ssh import SshError, SshPool
from taichu.ssh.download import TooLarge
from tests.ssh.support import target

pytestmark = pytest.mark.lab


@pytest.fixture
async def pool() -> AsyncIterator[SshPool]:
    p = SshPool(SshSettings())
    yield p
    await p.close()


async def test_download_copies_a_file_whole_and_keeps_to_the_limit(
    pool: SshPool, ssh_hosts: list[SshHost], tmp_path: Path
) -> None:
    host = ssh_hosts[0]
    name = f"/opt/download-{uuid.uuid4().hex}"
    data = os.urandom(3 * 2**20 + 17)  # several SFTP reads
    (host.root / "opt" / name.removeprefix("/opt/")).write_bytes(data)
    try:
        async with pool.session(target(host)) as ssh:
            got = await ssh.download(name, tmp_path / "copy", max_bytes=len(data))
            assert got.size == len(data) and got.sha256 == hashlib.sha256(data).hexdigest()
            assert (tmp_path / "copy").read_bytes() == data
            with pytest.raises(TooLarge, match="more than the 1048576 allowed"):
                await ssh.download(name, tmp_path / "big", max_bytes=1 << 20)
            assert (tmp_path / "big").stat().st_size == 0  # nothing copied
            with pytest.raises(SshError, match="SFTP could not read"):
                await ssh.download(f"{name}-missing", tmp_path / "none", max_bytes=1 << 20)
    finally:
        host.exec(f"rm -f {name}")
