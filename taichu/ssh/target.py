"""What the platform needs to reach one machine, and host key lines."""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass

# Host key types a server may present (certificates are not pinned keys).
KEY_TYPES = frozenset(
    {
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "ssh-ed448",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    }
)
_MAX_KEY_LINE = 16 * 1024


@dataclass(frozen=True, slots=True, repr=False)
class SshCredentials:
    """A password, a private key (OpenSSH or PEM text, maybe encrypted) or both."""

    password: str | None = None
    private_key: str | None = None
    passphrase: str | None = None

    def __repr__(self) -> str:
        # Never the values: a repr ends up in logs and tracebacks.
        given = [n for n in ("password", "private_key", "passphrase") if getattr(self, n)]
        return f"SshCredentials(given={given})"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class SshTarget:
    address: str
    username: str
    credentials: SshCredentials
    port: int = 22
    host_key: str | None = None  # pinned "type base64"; None = trust on first use
    become: bool = False  # privileged commands go through sudo (user is not root)

    @property
    def needs_sudo(self) -> bool:
        return self.become and self.username != "root"


def _blob(line: str) -> tuple[str, bytes]:
    parts = line.split()
    if len(parts) < 2:
        raise ValueError("host_key must be an OpenSSH public key line: 'ssh-ed25519 AAAA…'")
    kind, data = parts[0], parts[1]
    if kind not in KEY_TYPES:
        raise ValueError(f"host_key has an unknown key type {kind[:40]!r}")
    try:
        blob = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("host_key is not valid base64 after the key type") from None
    # The blob starts with its own type name: a pasted key of another type is refused.
    if len(blob) < 4:
        raise ValueError("host_key is too short to be a public key")
    (n,) = struct.unpack(">I", blob[:4])
    if blob[4 : 4 + n] != kind.encode():
        raise ValueError("host_key data does not match its key type")
    return kind, blob


def normalize_host_key(text: str) -> str:
    """ "type base64" of a public key line (an optional comment, or a leading known_hosts
    host field, is dropped). ValueError naming the problem, never quoting the input."""
    if len(text) > _MAX_KEY_LINE:
        raise ValueError(f"host_key is longer than {_MAX_KEY_LINE} characters")
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if len(lines) != 1:
        raise ValueError("host_key must be exactly one public key line")
    parts = lines[0].split()
    if parts and parts[0] not in KEY_TYPES and len(parts) >= 3:
        parts = parts[1:]  # "10.0.0.5 ssh-ed25519 AAAA…" as in known_hosts
    kind, blob = _blob(" ".join(parts[:2]))
    return f"{kind} {base64.b64encode(blob).decode()}"


def fingerprint(public_key_line: str) -> str:
    """ "SHA256:…" as `ssh-keygen -l` prints it."""
    _, blob = _blob(normalize_host_key(public_key_line))
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"
