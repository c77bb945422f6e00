"""No password, private key or passphrase in any log line, error message or repr."""

from __future__ import annotations

import logging
import traceback
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives import serialization

from taichu.config import SshSettings
from taichu.lab.pytest_fixtures import HostFactory
from taichu.ssh import SshError, SshPool
from tests.ssh.support import target

pytestmark = pytest.mark.lab

PASSPHRASE = "passphrase-that-must-not-leak"


def _encrypted(private_key: str) -> str:
    key = serialization.load_ssh_private_key(private_key.encode(), None)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSPHRASE.encode()),
    ).decode()


async def test_no_secret_in_logs_or_errors(
    ssh_host_factory: HostFactory, caplog: pytest.LogCaptureFixture
) -> None:
    (host,) = ssh_host_factory(1)
    encrypted = _encrypted(host.private_key)
    key_lines = [ln for ln in host.private_key.splitlines() if "PRIVATE KEY" not in ln]
    secrets = [host.password, PASSPHRASE, *key_lines, *encrypted.splitlines()[1:-1]]
    caplog.set_level(logging.DEBUG)  # every logger, asyncssh's included
    pool = SshPool(SshSettings(connect_timeout=5))
    texts: list[str] = []
    try:
        good = [
            target(host),
            target(host, "ops"),
            target(host, password=None, private_key=encrypted, passphrase=PASSPHRASE),
        ]
        bad = [
            target(host, password=host.password + "x"),
            target(host, password=None, private_key=encrypted, passphrase="wrong"),
            target(host, "guest"),
            replace(target(host), host_key=host.host_public_key),
        ]
        host.regenerate_host_key()  # the last of `bad` is pinned to the old key
        for t in [*good, *bad]:
            texts += [repr(t), str(t)]
            try:
                async with pool.session(t) as ssh:
                    await ssh.run("id -u", privileged=True)
                    await ssh.run("false", check=False)
                    await ssh.upload(b"x\n", "/opt/secret-test", privileged=True)
            except SshError as e:
                texts.append("".join(traceback.format_exception(e)))
        assert len(texts) == 2 * 7 + 4  # every bad target failed
    finally:
        await pool.close()
    texts.append(caplog.text)
    assert "authentication failed" in caplog.text or any("authentication" in t for t in texts)
    for text in texts:
        for secret in secrets:
            assert secret not in text
