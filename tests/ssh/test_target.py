"""Host key lines and credentials (pure)."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest

from taichu.lab.ssh_hosts import _openssh_keypair
from taichu.ssh import SshCredentials, SshTarget, fingerprint, normalize_host_key


def test_normalize_host_key() -> None:
    _, public = _openssh_keypair()
    kind, data = public.split()[:2]
    assert normalize_host_key(public) == f"{kind} {data}"
    assert normalize_host_key(f"  {kind} {data} root@somewhere\n") == f"{kind} {data}"
    assert normalize_host_key(f"10.0.0.5 {kind} {data}") == f"{kind} {data}"  # known_hosts


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "exactly one"),
        ("ssh-ed25519", "OpenSSH public key line"),
        ("ssh-foo AAAA", "unknown key type"),
        ("ssh-ed25519 not*base64", "not valid base64"),
        ("ssh-rsa " + base64.b64encode(b"\0\0\0\x0bssh-ed25519xxxx").decode(), "does not match"),
        ("a\nb", "exactly one"),
        ("ssh-ed25519 " + "A" * 20000, "longer than"),
    ],
)
def test_bad_host_keys_name_the_problem(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as e:
        normalize_host_key(text)
    assert "not*base64" not in str(e.value)


def test_fingerprint_is_ssh_keygens(tmp_path: Path) -> None:
    _, public = _openssh_keypair()
    (tmp_path / "k.pub").write_text(public + "\n")
    out = subprocess.run(["ssh-keygen", "-lf", str(tmp_path / "k.pub")], capture_output=True)
    assert fingerprint(public) == out.stdout.decode().split()[1]


def test_credentials_never_show() -> None:
    c = SshCredentials(password="hunter2", private_key="-----BEGIN KEY-----x", passphrase="pp")
    t = SshTarget("10.0.0.5", "root", c)
    for text in (repr(c), str(c), repr(t), str(t)):
        assert "hunter2" not in text and "BEGIN" not in text and "'pp'" not in text
    assert repr(c) == "SshCredentials(given=['password', 'private_key', 'passphrase'])"
    assert not SshTarget("h", "root", c, become=True).needs_sudo
    assert SshTarget("h", "ops", c, become=True).needs_sudo
