"""The renewal's check that a component took up its renewed certificate: a real TLS server
on loopback that, like etcd and the API server, picks its certificate at each handshake
(requiring a client certificate, as etcd does). The wait ends when the new certificate is
served, gives up when it never is, and gives up early on an endpoint it cannot reach."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from taichu.pki import CertKey, issue, new_ca
from taichu.provision.certificates_reload import probe_context, served, wait_served

ADDRESS = "127.0.0.1"


@dataclass
class Endpoint:
    port: int
    contexts: dict[str, ssl.SSLContext]
    current: str = "old"


def _der(ck: CertKey) -> bytes:
    return ck.cert.public_bytes(Encoding.DER)


def _server_context(ca: CertKey, pair: CertKey, tmp: Path, stem: str) -> ssl.SSLContext:
    crt, key = pair.write(tmp, stem)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cadata=ca.cert_pem.decode())
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_cert_chain(crt, key)
    return ctx


@pytest.fixture(scope="module")
def ca() -> CertKey:
    return new_ca("reload-test-ca")


@pytest.fixture(scope="module")
def pairs(ca: CertKey) -> dict[str, CertKey]:
    return {
        "old": issue(ca, "server", server=True, ips=(ADDRESS,)),
        "new": issue(ca, "server", server=True, ips=(ADDRESS,)),
        "client": issue(ca, "client", client=True),
        "foreign": issue(new_ca("another-ca"), "server", server=True, ips=(ADDRESS,)),
    }


@pytest.fixture
async def endpoint(
    ca: CertKey, pairs: dict[str, CertKey], tmp_path: Path
) -> AsyncIterator[Endpoint]:
    contexts = {
        name: _server_context(ca, pairs[name], tmp_path, name) for name in ("old", "new", "foreign")
    }
    found = Endpoint(0, contexts)

    def pick(obj: ssl.SSLObject, _name: str | None, _ctx: ssl.SSLContext) -> None:
        obj.context = found.contexts[found.current]  # the certificate of this handshake

    base = contexts["old"]
    base.sni_callback = pick  # type: ignore[assignment]

    async def talk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(talk, ADDRESS, 0, ssl=base)
    found.port = server.sockets[0].getsockname()[1]
    try:
        yield found
    finally:
        server.close()
        await server.wait_closed()


async def _tls(ca: CertKey, pairs: dict[str, CertKey], port: int) -> ssl.SSLContext:
    return await asyncio.to_thread(probe_context, ca.cert_pem, pairs["client"], ADDRESS, port)


async def test_the_wait_ends_when_the_new_certificate_is_served(
    endpoint: Endpoint, ca: CertKey, pairs: dict[str, CertKey]
) -> None:
    tls = await _tls(ca, pairs, endpoint.port)
    assert await served(ADDRESS, endpoint.port, tls) == _der(pairs["old"])

    async def renew_later() -> None:
        await asyncio.sleep(1.0)
        endpoint.current = "new"

    renewing = asyncio.create_task(renew_later())
    took = await wait_served(ADDRESS, endpoint.port, tls, _der(pairs["new"]), seconds=30)
    await renewing
    assert took is not None and 0.9 <= took < 10, took
    assert await served(ADDRESS, endpoint.port, tls) == _der(pairs["new"])


async def test_no_new_certificate_within_the_time_is_none(
    endpoint: Endpoint, ca: CertKey, pairs: dict[str, CertKey]
) -> None:
    tls = await _tls(ca, pairs, endpoint.port)
    started = time.monotonic()
    took = await wait_served(
        ADDRESS, endpoint.port, tls, _der(pairs["new"]), seconds=2, unreached=1
    )
    assert took is None
    # It answered (the old certificate), so it waited the whole time, not the unreached one.
    assert 2 <= time.monotonic() - started < 10


async def test_a_certificate_of_another_ca_is_not_taken_for_the_new_one(
    endpoint: Endpoint, ca: CertKey, pairs: dict[str, CertKey]
) -> None:
    endpoint.current = "foreign"
    tls = await _tls(ca, pairs, endpoint.port)
    with pytest.raises(ssl.SSLCertVerificationError):
        await served(ADDRESS, endpoint.port, tls)
    took = await wait_served(
        ADDRESS, endpoint.port, tls, _der(pairs["new"]), seconds=1.5, unreached=0.5
    )
    assert took is None


async def test_an_endpoint_never_reached_gives_up_early(
    ca: CertKey, pairs: dict[str, CertKey]
) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind((ADDRESS, 0))
        port = s.getsockname()[1]
    tls = await _tls(ca, pairs, port)
    started = time.monotonic()
    took = await wait_served(ADDRESS, port, tls, _der(pairs["new"]), seconds=60, unreached=1)
    assert took is None
    assert time.monotonic() - started < 10
