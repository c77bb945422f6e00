"""Runs the app under uvicorn with Taichu's edge: HTTP limits, optional TLS, and no
trust in forwarding headers except what `taichu.api.client` decides."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

from taichu.config import Settings

log = logging.getLogger("taichu")


class ServeError(Exception):
    """The server cannot start as configured; the message says what to change."""


def check_tls(cert_file: Path | None, key_file: Path | None) -> tuple[Path, Path] | None:
    """Both files or neither; both readable and a matching certificate and key."""
    if cert_file is None and key_file is None:
        return None
    if cert_file is None or key_file is None:
        given, missing = (
            ("certificate", "key (--tls-key / TAICHU_TLS__KEY_FILE)")
            if cert_file
            else ("key", "certificate (--tls-cert / TAICHU_TLS__CERT_FILE)")
        )
        raise ServeError(f"TLS needs a certificate and a key: a {given} was given, no {missing}")
    for what, path in (("certificate", cert_file), ("key", key_file)):
        try:
            path.read_bytes()
        except OSError as e:
            raise ServeError(f"TLS {what} file {path} cannot be read: {e.strerror}") from e
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert_file, key_file)
    except (ssl.SSLError, ValueError) as e:
        raise ServeError(
            f"TLS certificate {cert_file} and key {key_file} are not a usable PEM pair: {e}"
        ) from e
    return cert_file, key_file


def warn_if_development(settings: Settings) -> None:
    if settings.env == "development":
        log.warning(
            "!!! TAICHU_ENV=development: GET /api/v1/auth/token hands an ADMIN token to any "
            "client on this machine. Never run development mode on a shared host or with "
            "real clusters. !!!"
        )


def run(settings: Settings, host: str, port: int) -> None:
    tls = check_tls(settings.tls.cert_file, settings.tls.key_file)

    import uvicorn

    from taichu.api.protocol import GuardedHttpProtocol
    from taichu.app import create_app

    warn_if_development(settings)
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=int(settings.jobs.shutdown_grace_seconds) + 5,
        http=GuardedHttpProtocol.with_limits(settings.http),
        # The client address comes from taichu.api.client (TAICHU_TRUSTED_PROXIES);
        # uvicorn's own rewriting would believe X-Forwarded-For from any loopback peer.
        proxy_headers=False,
        ssl_certfile=str(tls[0]) if tls else None,
        ssl_keyfile=str(tls[1]) if tls else None,
    )
