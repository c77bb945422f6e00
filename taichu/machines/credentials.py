"""Checking the credentials an operator gives before they are stored: a private key must
load (with its passphrase, if any). Key parsing (and the KDF of an encrypted key) is slow,
so it runs in a thread under a deadline; no message ever quotes the key or passphrase."""

from __future__ import annotations

import asyncio

import asyncssh

from taichu.errors import Invalid

# An encrypted key's KDF rounds are the key's own choice: a hostile count would hold a
# thread for a long time. The request gives up after this; the thread ends on its own.
KEY_CHECK_SECONDS = 10.0


def _load(private_key: str, passphrase: str | None) -> None:
    try:
        asyncssh.import_private_key(private_key, passphrase or None)
    except (asyncssh.KeyImportError, ValueError, TypeError) as e:
        text = str(e).lower()
        if "passphrase" in text or "decrypt" in text or "bcrypt" in text:
            if passphrase:
                raise Invalid("passphrase: does not decrypt the private_key") from None
            raise Invalid("passphrase: the private_key is encrypted: give its passphrase") from None
        raise Invalid(
            "private_key: not a private key asyncssh can load (OpenSSH or PEM text)"
        ) from None


async def check_private_key(private_key: str, passphrase: str | None) -> None:
    """Invalid naming `private_key` or `passphrase` unless the key loads."""
    try:
        await asyncio.wait_for(asyncio.to_thread(_load, private_key, passphrase), KEY_CHECK_SECONDS)
    except TimeoutError:
        raise Invalid(
            f"private_key: could not be loaded within {KEY_CHECK_SECONDS:g}s (too many KDF rounds?)"
        ) from None
