"""The installation's master secret and what is derived from it.

One master secret (TAICHU_SECRET_KEY, or generated once into the data dir with mode 0600)
yields independent keys per purpose through HKDF, so the JWT key never doubles as the
encryption key of stored kubeconfigs and passwords.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from taichu.config import Settings
from taichu.datadir import private_dir
from taichu.errors import TaichuError

SECRET_FILE_NAME = "secret.key"  # noqa: S105 - a file name, not a secret


def secret_file(settings: Settings) -> Path:
    return Path(settings.data_dir) / SECRET_FILE_NAME


def read_master_secret(settings: Settings) -> bytes | None:
    """The configured secret (TAICHU_SECRET_KEY, else the data dir's file), or None."""
    if settings.secret_key:
        return settings.secret_key.encode()
    path = secret_file(settings)
    return path.read_bytes().strip() if path.exists() else None


def create_master_secret(settings: Settings) -> tuple[bytes, bool]:
    """The configured secret, else a new one written into the data dir (0600). The flag
    says whether this call wrote the file (so a refused start can take it back)."""
    existing = read_master_secret(settings)
    if existing is not None:
        return existing, False
    path = secret_file(settings)
    private_dir(path.parent)
    value = secrets.token_urlsafe(48).encode()
    # O_EXCL: two processes starting at once must not overwrite each other's key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip(), False
    with os.fdopen(fd, "wb") as handle:
        handle.write(value)
    return value, True


def load_master_secret(settings: Settings) -> bytes:
    return create_master_secret(settings)[0]


def fingerprint(master: bytes) -> str:
    """Identifies the secret without revealing it: processes compare it in the database."""
    key = derive_key(master, "installation-fingerprint")
    return hmac.new(key, b"taichu installation secret", hashlib.sha256).hexdigest()


def derive_key(master: bytes, purpose: str, length: int = 32) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=length, salt=b"taichu", info=purpose.encode()
    ).derive(master)


class SecretBox:
    """Encrypts secrets at rest (Fernet: AES-128-CBC + HMAC-SHA256, authenticated)."""

    def __init__(self, master: bytes) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(derive_key(master, "secrets-at-rest")))

    def encrypt(self, plaintext: str | bytes) -> str:
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        return self._fernet.encrypt(data).decode()

    def decrypt(self, token: str) -> str:
        return self.decrypt_bytes(token).decode()

    def decrypt_bytes(self, token: str) -> bytes:
        try:
            return self._fernet.decrypt(token.encode())
        except InvalidToken as e:
            raise TaichuError("stored secret cannot be decrypted with this secret key") from e


def secret_box(settings: Settings) -> SecretBox:
    """The process's box; built once per AppContext, which holds it (no module cache)."""
    return SecretBox(load_master_secret(settings))


def jwt_signing_key(settings: Settings) -> bytes:
    return derive_key(load_master_secret(settings), "jwt-signing")
