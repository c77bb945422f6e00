"""A machine's credentials: which ones it has after a create or an update, checked
before they are stored (a private key must load, with its passphrase if any), encrypted
at rest. Key parsing (and an encrypted key's KDF) is slow: it runs in a thread under a
deadline. No message ever quotes a key, password or passphrase."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncssh

from taichu.crypto import SecretBox
from taichu.errors import Invalid
from taichu.machines.models import Machine
from taichu.machines.schemas import MachineIn

CREDENTIALS = ("password", "private_key", "passphrase")

# An encrypted key's KDF rounds are the key's own choice: a hostile count would hold a
# thread for a long time. The request gives up after this; the thread ends on its own.
KEY_CHECK_SECONDS = 10.0


def _load(private_key: str, passphrase: str | None) -> None:
    try:
        asyncssh.import_private_key(private_key, passphrase or None)
    except (asyncssh.KeyImportError, ValueError, TypeError) as e:
        text = str(e).lower()
        if "bcrypt" in text:
            raise Invalid(
                "private_key: an OpenSSH key with a passphrase needs the bcrypt package "
                "on the server (or give the key in PEM/PKCS#8)"
            ) from None
        if "passphrase" in text or "decrypt" in text:
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


@dataclass
class Secrets:
    """Credentials after an update: what was given, else what was stored (decrypted only
    to check a key against its passphrase)."""

    password: str | None
    private_key: str | None
    passphrase: str | None


def _given(body: MachineIn, name: str) -> str | None:
    value = getattr(body, name)
    return value if value else None  # "" or null removes it


async def resolve_secrets(body: MachineIn, stored: Secrets | None) -> Secrets:
    """The credentials the machine will have (create: the body's; update: the body's where
    given, the stored ones where omitted). Invalid naming the field when they cannot log
    in: none at all, a passphrase without a key, a key that does not load."""
    given = body.model_fields_set if stored is not None else set(CREDENTIALS)
    old = stored or Secrets(None, None, None)
    password = _given(body, "password") if "password" in given else old.password
    key = _given(body, "private_key") if "private_key" in given else old.private_key
    if "passphrase" in given:
        passphrase = _given(body, "passphrase")
    else:
        # A new key comes with its own passphrase (or none).
        passphrase = None if "private_key" in given else old.passphrase
    if not password and not key:
        raise Invalid("password: a password or a private_key is required")
    if passphrase and not key:
        raise Invalid("passphrase: only meaningful with a private_key")
    if key and ({"private_key", "passphrase"} & given):
        await check_private_key(key, passphrase)
    return Secrets(password, key, passphrase)


def store_secrets(machine: Machine, box: SecretBox, secrets: Secrets) -> None:
    def enc(value: str | None) -> str | None:
        return box.encrypt(value) if value else None

    machine.password_encrypted = enc(secrets.password)
    machine.private_key_encrypted = enc(secrets.private_key)
    machine.passphrase_encrypted = enc(secrets.passphrase)


def stored_secrets(machine: Machine, box: SecretBox) -> Secrets:
    def dec(value: str | None) -> str | None:
        return box.decrypt(value) if value else None

    return Secrets(
        dec(machine.password_encrypted),
        dec(machine.private_key_encrypted),
        dec(machine.passphrase_encrypted),
    )
