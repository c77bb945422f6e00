"""`taichu serve` serves HTTPS given a certificate and key, and refuses to start with half
a TLS configuration or files it cannot use."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from taichu.pki import issue, new_ca
from tests.api.conftest import EDGE_ADMIN_PASSWORD
from tests.support.server import (
    drop_prepared_database,
    free_port,
    prepare_database,
    server_env,
)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    url = prepare_database(tmp_path, "tls")
    yield server_env(
        url,
        tmp_path / "data",
        TAICHU_ADMIN_PASSWORD=EDGE_ADMIN_PASSWORD,
        TAICHU_SECRET_KEY="tls-secret-key-0123456789abcdef0123",
        TAICHU_JOBS__ENABLED="false",
    )
    drop_prepared_database(url)


def _serve(env: dict[str, str], port: int, *flags: str, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "taichu.cli", "serve", "--host", "127.0.0.1"]
    with log.open("ab") as out:
        return subprocess.Popen(
            [*command, "--port", str(port), *flags], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def test_serves_https_with_the_given_certificate(env: dict[str, str], tmp_path: Path) -> None:
    ca = new_ca("edge-test-ca")
    cert, key = issue(ca, "taichu", server=True, dns=("localhost",), ips=("127.0.0.1",)).write(
        tmp_path, "server"
    )
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(ca.cert_pem)
    port, log = free_port(), tmp_path / "tls.log"
    proc = _serve(env, port, "--tls-cert", str(cert), "--tls-key", str(key), log=log)
    verify = ssl.create_default_context(cafile=str(ca_file))
    try:
        deadline, ready = time.monotonic() + 60, None
        while ready is None and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                ready = httpx.get(f"https://127.0.0.1:{port}/readyz", verify=verify, timeout=2)
            except httpx.HTTPError:
                time.sleep(0.2)
        assert ready is not None and ready.status_code == 200, log.read_text()[-3000:]
        login = httpx.post(
            f"https://127.0.0.1:{port}/api/v1/auth/login",
            json={"username": "admin", "password": EDGE_ADMIN_PASSWORD},
            verify=verify,
            timeout=30,
        )
        assert login.status_code == 200
        # Plain HTTP is not answered on the TLS port, and an unknown CA is not trusted.
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"https://127.0.0.1:{port}/healthz", timeout=5)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def _refusal(env: dict[str, str], tmp_path: Path, *flags: str, **extra: str) -> str:
    log = tmp_path / f"refused-{len(os.listdir(tmp_path))}.log"
    proc = _serve({**env, **extra}, free_port(), *flags, log=log)
    try:
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = log.read_text()
    assert code == 2, output
    assert "Traceback" not in output
    return " ".join(output.split())


def test_refuses_half_or_unusable_tls(env: dict[str, str], tmp_path: Path) -> None:
    ca = new_ca("edge-test-ca")
    cert, key = issue(ca, "taichu", server=True, ips=("127.0.0.1",)).write(tmp_path, "server")
    _, other_key = issue(ca, "other", server=True).write(tmp_path, "other")

    out = _refusal(env, tmp_path, "--tls-cert", str(cert))
    assert "TLS needs a certificate and a key" in out and "TAICHU_TLS__KEY_FILE" in out
    out = _refusal(env, tmp_path, TAICHU_TLS__KEY_FILE=str(key))
    assert "no certificate" in out and "TAICHU_TLS__CERT_FILE" in out
    missing = tmp_path / "missing.key"
    out = _refusal(env, tmp_path, "--tls-cert", str(cert), "--tls-key", str(missing))
    assert f"TLS key file {missing} cannot be read" in out
    out = _refusal(env, tmp_path, "--tls-cert", str(cert), "--tls-key", str(other_key))
    assert "are not a usable PEM pair" in out and "KEY_VALUES_MISMATCH" in out
