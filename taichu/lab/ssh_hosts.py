"""SSH hosts: sshd in its own network, mount and UTS namespaces, looking like a machine.

Each host has its own address (a veth into its network namespace), hostname, host key,
root password and authorized key, and private views of the filesystem:
  /etc, /var/lib  overlays of the real ones: reads fall through, writes stay with the host
                  (so /etc/shadow with the host's root password is the host's alone)
  /opt, /root, /tmp, /run  empty directories of the host's own
  /home           the host's own, with three non-root users (see LabUser)
  /sys/fs/cgroup  a cgroup2 mount (the unified hierarchy)
  /sys/class/dmi/id/product_uuid  the host's own (over the real one, or in a private
                  /sys/class where the real machine has no DMI), readable by root only
The real machine's files, including its root password, are never modified.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import itertools
import os
import secrets
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from taichu.lab import janitor
from taichu.lab.netns import NetNs, ip
from taichu.lab.procs import LabError, LabProcess, kill_pids, wait_until
from taichu.lab.state import keep_logs, run_dir

_seq = itertools.count(1)
_SSHD = shutil.which("sshd") or "/usr/sbin/sshd"

SSHD_CONFIG = """\
Port {port}
ListenAddress {address}
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


def _sha512_crypt(password: str) -> str:
    """/etc/shadow hash via libcrypt (the `crypt` module is gone from Python 3.13)."""
    lib = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    salt = "$6$" + secrets.token_hex(8) + "$"
    result = lib.crypt(password.encode(), salt.encode())
    if not result or not result.startswith(b"$6$"):
        raise LabError("libcrypt could not hash the host password")
    return str(result.decode())


def _openssh_keypair() -> tuple[str, str]:
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


class SshHost:
    """One machine. `start()` creates it on first use; `stop()` takes it down (connections
    are refused) keeping its address and files; `destroy()` removes it."""

    username = "root"

    def __init__(
        self, hostname: str | None = None, *, password: str | None = None, port: int = 22
    ) -> None:
        self.seq = next(_seq)
        self.hostname = hostname or f"labhost-{self.seq}"
        self.password = password or secrets.token_urlsafe(12)
        self.port = port
        self.root = run_dir() / "hosts" / str(self.seq)
        self.private_key, self.public_key = _openssh_keypair()
        self.host_private_key, self.host_public_key = _openssh_keypair()
        # The same password and client key for every login of the host, root included.
        self.users = {u.name: u for u in LAB_USERS}
        self.product_uuid = str(uuid.uuid4())
        self.net: NetNs | None = None
        self.proc: LabProcess | None = None
        self._handle: int | None = None

    # --- lifecycle ---------------------------------------------------------------------

    def start(self, timeout: float = 20.0) -> Self:
        if self.net is None:
            self._handle = janitor.track(self.destroy)
            try:
                self.net = NetNs.create(self.seq)
                self._write_files()
            except BaseException:
                self.destroy()
                raise
        if self.running:
            return self
        net = self.net
        self.proc = LabProcess(
            f"sshd {self.hostname}",
            # --kill-child: if unshare dies, so does sshd (the kernel's parent-death signal).
            [
                "ip",
                "netns",
                "exec",
                net.name,
                "unshare",
                "--mount",
                "--uts",
                "--kill-child",
                "--",
                "sh",
                "-c",
                self._init_script(),
            ],
            self.root / "logs" / "sshd.log",
        )
        self.proc.start()
        wait_until(
            f"sshd of {self.hostname} at {self.address}:{self.port}",
            self._answers,
            timeout,
            watch=[self.proc],
        )
        return self

    def stop(self) -> None:
        """Kill sshd and every session in the host, like pulling its plug."""
        if self.net is not None:
            kill_pids(self.net.pids())
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    def destroy(self) -> None:
        self.stop()
        if self.net is not None:
            self.net.delete()
            self.net = None
        keep_logs(self.root / "logs", self.hostname)
        shutil.rmtree(self.root, ignore_errors=True)
        if self._handle is not None:
            janitor.untrack(self._handle)
            self._handle = None

    def unplug(self) -> None:
        """Pull the network cable: packets to the host go nowhere (no refusal, no answer),
        sshd and its sessions keep running. `plug()` undoes it."""
        if self.net is not None:
            ip("-n", self.net.name, "link", "set", "eth0", "down")

    def plug(self) -> None:
        if self.net is not None:
            ip("-n", self.net.name, "link", "set", "eth0", "up")
            # Link down dropped the default route; the connected /30 comes back by itself.
            ip("-n", self.net.name, "route", "replace", "default", "via", self.net.gateway)

    def regenerate_host_key(self, timeout: float = 20.0) -> str:
        """A new host key (as after a reinstall): sshd restarts with it; returns the new
        public key line."""
        was_running = self.running
        self.stop()
        self.host_private_key, self.host_public_key = _openssh_keypair()
        if self.net is not None:
            self._write_host_key()
        if was_running:
            self.start(timeout)
        return self.host_public_key

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.running

    # --- access ------------------------------------------------------------------------

    @property
    def address(self) -> str:
        if self.net is None:
            raise LabError(f"host {self.hostname} was not started")
        return self.net.address

    @property
    def private_key_path(self) -> Path:
        """The client key as a file (mode 600), for `ssh -i`."""
        return self.root / "client" / "id_ed25519"

    @property
    def known_hosts_line(self) -> str:
        return f"{self.address} {self.host_public_key}"

    def credentials(self) -> dict[str, Any]:
        return {
            "hostname": self.hostname,
            "address": self.address,
            "port": self.port,
            "username": self.username,
            "password": self.password,
            "private_key_path": str(self.private_key_path),
            "host_key": self.host_public_key,
        }

    @property
    def sudo_user(self) -> str:
        """A non-root user whom sudo asks for the password."""
        return "ops"

    @property
    def nopasswd_user(self) -> str:
        """A non-root user with passwordless sudo."""
        return "deploy"

    @property
    def nosudo_user(self) -> str:
        """A non-root user not in sudoers: sudo refuses them."""
        return "guest"

    def sudo_credentials(self, user: str | None = None) -> dict[str, Any]:
        """`credentials()` for a non-root user (default: `sudo_user`)."""
        return {**self.credentials(), "username": user or self.sudo_user}

    def exec(self, command: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a shell command inside the host without SSH (its mounts, hostname, network)."""
        pid = int((self.root / "run" / "sshd.pid").read_text().strip())
        proc = subprocess.run(
            ["nsenter", f"--target={pid}", "--mount", "--uts", "--net", "--", "sh", "-c", command],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and proc.returncode != 0:
            raise LabError(f"{self.hostname}: {command!r} failed: {proc.stderr}")
        return proc

    # --- internals ---------------------------------------------------------------------

    def _answers(self) -> bool:
        with socket.create_connection((self.address, self.port), timeout=1.0) as s:
            return s.recv(4).startswith(b"SSH-")

    def _write_files(self) -> None:
        r = self.root
        for d in (
            "etc.upper/ssh",
            "etc.upper/kubernetes",
            "etc.work",
            "varlib.upper",
            "varlib.work",
            "etc.upper/sudoers.d",
            "opt",
            "home",
            "sysclass.orig",
            "root/.ssh",
            "run/sshd",
            "tmp",
            "client",
            "logs",
        ):
            (r / d).mkdir(parents=True, exist_ok=True)
        (r / "root").chmod(0o700)
        (r / "tmp").chmod(0o1777)
        etc = r / "etc.upper"
        (etc / "hostname").write_text(f"{self.hostname}\n")
        hosts = Path("/etc/hosts").read_text() if Path("/etc/hosts").exists() else ""
        (etc / "hosts").write_text(f"{hosts.rstrip()}\n{self.address}\t{self.hostname}\n")
        # Machines are told apart by machine-id in inventories: give each its own.
        (etc / "machine-id").write_text(uuid.uuid4().hex + "\n")
        shadow = []
        for line in Path("/etc/shadow").read_text().splitlines():
            fields = line.split(":")
            if fields[0] == "root":
                fields[1] = _sha512_crypt(self.password)
            shadow.append(":".join(fields))
        self._write_users(shadow)
        (etc / "shadow").write_text("\n".join(shadow) + "\n")
        real = os.stat("/etc/shadow")
        os.chown(etc / "shadow", real.st_uid, real.st_gid)
        (etc / "shadow").chmod(real.st_mode & 0o777)
        (etc / "ssh" / "sshd_config").write_text(
            SSHD_CONFIG.format(port=self.port, address=self.address)
        )
        self._write_host_key()
        keys = r / "root" / ".ssh" / "authorized_keys"
        keys.write_text(self.public_key + "\n")
        keys.chmod(0o600)
        (r / "root" / ".ssh").chmod(0o700)
        self.private_key_path.write_text(self.private_key)
        self.private_key_path.chmod(0o600)
        uuid_file = r / "product_uuid"
        uuid_file.write_text(self.product_uuid + "\n")
        uuid_file.chmod(0o400)  # as the kernel's: reading it takes root

    def _write_host_key(self) -> None:
        ssh = self.root / "etc.upper" / "ssh"
        host_key = ssh / "ssh_host_ed25519_key"
        host_key.write_text(self.host_private_key)
        host_key.chmod(0o600)
        (ssh / "ssh_host_ed25519_key.pub").write_text(self.host_public_key + "\n")

    def _write_users(self, shadow: list[str]) -> None:
        """passwd, group and sudoers entries in the host's /etc overlay (shadow lines are
        added to `shadow`); homes with the client key authorized."""
        etc = self.root / "etc.upper"
        shell = "/bin/bash" if Path("/bin/bash").exists() else "/bin/sh"
        passwd = Path("/etc/passwd").read_text().rstrip("\n").splitlines()
        group = Path("/etc/group").read_text().rstrip("\n").splitlines()
        hashed = _sha512_crypt(self.password)
        sudoers = []
        for u in LAB_USERS:
            passwd.append(f"{u.name}:x:{u.uid}:{u.uid}:lab user:/home/{u.name}:{shell}")
            group.append(f"{u.name}:x:{u.uid}:")
            shadow.append(f"{u.name}:{hashed}:20000:0:99999:7:::")
            if u.sudo == "password":
                sudoers.append(f"{u.name} ALL=(ALL:ALL) ALL")
            elif u.sudo == "nopasswd":
                sudoers.append(f"{u.name} ALL=(ALL:ALL) NOPASSWD: ALL")
            ssh_dir = self.root / "home" / u.name / ".ssh"
            ssh_dir.mkdir(parents=True, exist_ok=True)
            (ssh_dir / "authorized_keys").write_text(self.public_key + "\n")
            (ssh_dir / "authorized_keys").chmod(0o600)
            ssh_dir.chmod(0o700)
            for path in (ssh_dir.parent, ssh_dir, ssh_dir / "authorized_keys"):
                os.chown(path, u.uid, u.uid)
        (etc / "passwd").write_text("\n".join(passwd) + "\n")
        (etc / "group").write_text("\n".join(group) + "\n")
        rules = etc / "sudoers.d" / "taichu-lab"
        rules.write_text("\n".join(sudoers) + "\n")
        rules.chmod(0o440)

    def _init_script(self) -> str:
        r = self.root
        overlay = "overlay" in Path("/proc/filesystems").read_text()
        lines = ["set -e"]
        if overlay:
            lines += [
                f"mount -t overlay overlay -o lowerdir=/etc,upperdir={r}/etc.upper,"
                f"workdir={r}/etc.work /etc",
                f"mount -t overlay overlay -o lowerdir=/var/lib,upperdir={r}/varlib.upper,"
                f"workdir={r}/varlib.work /var/lib",
            ]
        else:
            # Without overlayfs: a full private copy of /etc, an empty private /var/lib.
            lines += [
                f"[ -e {r}/etc.copy ] || cp -a /etc {r}/etc.copy",
                f"cp -a {r}/etc.upper/. {r}/etc.copy/",
                f"mount --bind {r}/etc.copy /etc",
                f"mount --bind {r}/varlib.upper /var/lib",
            ]
        lines += self._product_uuid_mounts()
        # `ip netns exec` mounted a fresh /sys without cgroups: give the host the unified
        # hierarchy, as a current distribution has (a test may unmount it in the host).
        if "cgroup2" in Path("/proc/filesystems").read_text():
            lines.append("mount -t cgroup2 cgroup2 /sys/fs/cgroup || true")
        # /tmp last: the host's own directories live under the real /tmp.
        private = (
            ("opt", "/opt"),
            ("home", "/home"),
            ("root", "/root"),
            ("run", "/run"),
            ("tmp", "/tmp"),  # noqa: S108
        )
        lines += [f"mount --bind {r}/{src} {dst}" for src, dst in private]
        lines += [f"hostname {self.hostname}", f"exec {_SSHD} -D -e -f /etc/ssh/sshd_config"]
        return "\n".join(lines)

    def _product_uuid_mounts(self) -> list[str]:
        r = self.root
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


def start_ssh_hosts(count: int, *, prefix: str = "labhost") -> list[SshHost]:
    """Start `count` hosts named `<prefix>-<n>`; on failure none is left running."""
    hosts: list[SshHost] = []
    try:
        for _ in range(count):
            host = SshHost()
            host.hostname = f"{prefix}-{host.seq}"
            hosts.append(host)
            host.start()
    except BaseException:
        for host in hosts:
            host.destroy()
        raise
    return hosts


def wait_refused(host: SshHost, timeout: float = 10.0) -> None:
    """Wait until connections to the host are refused (after `stop()`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host.address, host.port), timeout=1.0).close()
        except OSError:
            return
        time.sleep(0.1)
    raise LabError(f"{host.hostname} still accepts connections")
