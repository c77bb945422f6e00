"""Files that make a lab host look like a machine of its own: logins, keys, product_uuid."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from taichu.lab.procs import LabError

SSHD_CONFIG = """\
Port {port}
{listen}
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile /run/sshd.pid
PermitRootLogin yes
PasswordAuthentication yes
PubkeyAuthentication yes
KbdInteractiveAuthentication no
# PAM session modules (loginuid, systemd) fail in namespaces; sshd checks /etc/shadow itself.
UsePAM no
AuthorizedKeysFile .ssh/authorized_keys
Subsystem sftp internal-sftp
UseDNS no
AcceptEnv LANG LC_*
# Tests open many connections at once; the default 10:30:100 drops some of them.
MaxStartups 200
MaxSessions 100
LogLevel INFO
"""


def sha512_crypt(password: str) -> str:
    """/etc/shadow hash via libcrypt (the `crypt` module is gone from Python 3.13)."""
    lib = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    salt = "$6$" + secrets.token_hex(8) + "$"
    result = lib.crypt(password.encode(), salt.encode())
    if not result or not result.startswith(b"$6$"):
        raise LabError("libcrypt could not hash the host password")
    return str(result.decode())


def openssh_keypair() -> tuple[str, str]:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return private, public


@dataclass(frozen=True)
class LabUser:
    """A non-root login of a host. `sudo` is "password" (sudo asks for the user's
    password), "nopasswd" or None (not in sudoers: sudo refuses)."""

    name: str
    uid: int
    sudo: str | None


LAB_USERS = (
    LabUser("ops", 2001, "password"),
    LabUser("deploy", 2002, "nopasswd"),
    LabUser("guest", 2003, None),
)


def write_users(root: Path, password: str, public_key: str, shadow: list[str]) -> None:
    """passwd, group and sudoers entries of LAB_USERS in the host's /etc overlay
    (shadow lines are added to `shadow`); homes with `public_key` authorized."""
    etc = root / "etc.upper"
    shell = "/bin/bash" if Path("/bin/bash").exists() else "/bin/sh"
    passwd = Path("/etc/passwd").read_text().rstrip("\n").splitlines()
    group = Path("/etc/group").read_text().rstrip("\n").splitlines()
    hashed = sha512_crypt(password)
    sudoers = []
    for u in LAB_USERS:
        passwd.append(f"{u.name}:x:{u.uid}:{u.uid}:lab user:/home/{u.name}:{shell}")
        group.append(f"{u.name}:x:{u.uid}:")
        shadow.append(f"{u.name}:{hashed}:20000:0:99999:7:::")
        if u.sudo == "password":
            sudoers.append(f"{u.name} ALL=(ALL:ALL) ALL")
        elif u.sudo == "nopasswd":
            sudoers.append(f"{u.name} ALL=(ALL:ALL) NOPASSWD: ALL")
        ssh_dir = root / "home" / u.name / ".ssh"
        ssh_dir.mkdir(parents=True, exist_ok=True)
        (ssh_dir / "authorized_keys").write_text(public_key + "\n")
        (ssh_dir / "authorized_keys").chmod(0o600)
        ssh_dir.chmod(0o700)
        for path in (ssh_dir.parent, ssh_dir, ssh_dir / "authorized_keys"):
            os.chown(path, u.uid, u.uid)
    (etc / "passwd").write_text("\n".join(passwd) + "\n")
    (etc / "group").write_text("\n".join(group) + "\n")
    rules = etc / "sudoers.d" / "taichu-lab"
    rules.write_text("\n".join(sudoers) + "\n")
    rules.chmod(0o440)


def write_logins(root: Path, password: str, public_key: str) -> None:
    """/etc/shadow (root's password replaced) and LAB_USERS in the host's /etc overlay."""
    etc = root / "etc.upper"
    shadow = []
    for line in Path("/etc/shadow").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == "root":
            fields[1] = sha512_crypt(password)
        shadow.append(":".join(fields))
    write_users(root, password, public_key, shadow)
    (etc / "shadow").write_text("\n".join(shadow) + "\n")
    real = os.stat("/etc/shadow")
    os.chown(etc / "shadow", real.st_uid, real.st_gid)
    (etc / "shadow").chmod(real.st_mode & 0o777)


def product_uuid_mounts(r: Path) -> list[str]:
    """Init-script lines giving the host its own product_uuid (the file r/product_uuid)."""
    real = "/sys/class/dmi/id/product_uuid"
    if Path(real).exists():
        return [f"mount --bind {r}/product_uuid {real}"]
    # No DMI here (a VM without it, a container): a private /sys/class of the real
    # entries, bind-mounted one by one, plus dmi/id/product_uuid. Relative links such
    # as net/eth0 -> ../../devices/... still resolve through the real /sys.
    stash = f"{r}/sysclass.orig"
    return [
        f"mount --bind /sys/class {stash}",
        "mount -t tmpfs -o mode=0755 tmpfs /sys/class",
        f'for e in {stash}/*; do n=${{e##*/}}; mkdir "/sys/class/$n"; '
        f'mount --bind "$e" "/sys/class/$n"; done',
        "mkdir -p /sys/class/dmi/id",
        f"touch {real}",
        f"mount --bind {r}/product_uuid {real}",
        f"umount -l {stash}",
    ]
