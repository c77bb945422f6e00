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

On a LAN (`lan=`, taichu.lab.lan) a host also has eth1 with `lan_address` (sshd listens
there too) and forwards packets (ip_forward=1 in its namespace only). A real-node host
(`real_node=True`, taichu.lab.node_host) has its own cgroups and cgroup namespace, the
cgroup hierarchies mounted, plain /var/lib/{containerd,kubelet,etcd} and /var/log, and the
sysctl values kubelet demands; its first process is a holder, so sshd can die and come back
(`stop_sshd`, `start_sshd`) while the node's services keep running.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, Self

from taichu.lab import janitor
from taichu.lab.host_files import SSHD_CONFIG, product_uuid_mounts, write_logins
from taichu.lab.host_files import openssh_keypair as _openssh_keypair
from taichu.lab.lan import Lan
from taichu.lab.netns import NetNs, ip, next_seq
from taichu.lab.node_host import NodeParts
from taichu.lab.procs import LabError, LabProcess, kill_pids, wait_until
from taichu.lab.state import keep_logs, run_dir

_SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


class SshHost:
    """One machine. `start()` creates it on first use; `stop()` takes it down (connections
    are refused) keeping its address and files; `destroy()` removes it."""

    username = "root"

    def __init__(
        self,
        hostname: str | None = None,
        *,
        password: str | None = None,
        port: int = 22,
        lan: Lan | None = None,
        real_node: bool = False,
    ) -> None:
        self.seq = next_seq()
        self.lan = lan
        self.real_node = real_node
        self._lan_address: str | None = None
        self.node: NodeParts | None = None
        self.hostname = hostname or f"labhost-{self.seq}"
        self.password = password or secrets.token_urlsafe(12)
        self.port = port
        self.root = run_dir() / "hosts" / str(self.seq)
        self.private_key, self.public_key = _openssh_keypair()
        self.host_private_key, self.host_public_key = _openssh_keypair()
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
                if self.lan is not None:
                    self._lan_address = self.lan.attach(self.net.name, self.seq)
                if self.real_node:
                    self.node = NodeParts(self.net.name, self.root)
                    self.node.prepare()
                self._write_files()
            except BaseException:
                self.destroy()
                raise
        if self.running:
            return self
        net = self.net
        if self.node is not None:  # a boot: a machine's /run is a fresh tmpfs
            shutil.rmtree(self.root / "run", ignore_errors=True)
            (self.root / "run" / "sshd").mkdir(parents=True)
        cgroupns = ["--cgroup"] if self.node else []
        # --kill-child: if unshare dies, so does sshd (the kernel's parent-death signal).
        argv = ["ip", "netns", "exec", net.name, "unshare", "--mount", "--uts", *cgroupns]
        argv += ["--kill-child", "--", "sh", "-c", self._init_script()]
        # A real node's first process enters its cgroups before it unshares the namespace.
        argv = self.node.enter(argv) if self.node else argv
        self.proc = LabProcess(f"sshd {self.hostname}", argv, self.root / "logs" / "sshd.log")
        self.proc.start()
        what = f"sshd of {self.hostname} at {self.address}:{self.port}"
        wait_until(what, self._answers, timeout, watch=[self.proc])
        return self

    def stop(self) -> None:
        """Kill sshd and every session in the host, like pulling its plug."""
        if self.net is not None:
            kill_pids(self.net.pids())
        if self.node is not None:
            self.node.kill()  # a power cut: its containers (in their own netns) too
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    def destroy(self) -> None:
        self.stop()
        if self.lan is not None and self._lan_address is not None:
            self.lan.detach(self.seq, self._lan_address)
            self._lan_address = None
        if self.net is not None:
            self.net.delete()
            self.net = None
        if self.node is not None:
            self.node.destroy()
            self.node = None
        keep_logs(self.root / "logs", self.hostname)
        shutil.rmtree(self.root, ignore_errors=True)
        if self._handle is not None:
            janitor.untrack(self._handle)
            self._handle = None

    def unplug(self) -> None:
        """Pull the network cables (eth0, and eth1 on a LAN): packets to the host go nowhere
        (no refusal, no answer), sshd and its sessions keep running. `plug()` undoes it."""
        if self.net is not None:
            for link in ("eth0", "eth1") if self._lan_address else ("eth0",):
                ip("-n", self.net.name, "link", "set", link, "down")

    def plug(self) -> None:
        if self.net is not None:
            for link in ("eth0", "eth1") if self._lan_address else ("eth0",):
                ip("-n", self.net.name, "link", "set", link, "up")
            # Link down dropped the default route; the connected subnets come back by themselves.
            if self.lan is not None and self._lan_address is not None:
                self.lan.route(self.net.name)
            else:
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
    def lan_address(self) -> str:
        """The host's address on its LAN: where other hosts (and the platform) reach it."""
        if self._lan_address is None:
            raise LabError(f"host {self.hostname} is not on a started LAN")
        return self._lan_address

    def stop_sshd(self, timeout: float = 10.0) -> None:
        """Kill the host's sshd only (a real node: its services and sessions keep running)."""
        if not self.real_node:
            raise LabError("stop_sshd needs a real-node host; stop() takes a host down")
        self.exec("kill $(cat /run/sshd.pid)")
        wait_refused(self, timeout)

    def start_sshd(self, timeout: float = 20.0) -> None:
        """Start sshd again in a running real-node host (after `stop_sshd`)."""
        self.exec(f"{_SSHD} -D -e -f /etc/ssh/sshd_config >>/run/sshd.log 2>&1 </dev/null &")
        wait_until(
            f"sshd of {self.hostname}",
            self._answers,
            timeout,
            watch=[self.proc] if self.proc else [],
        )

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
        holder = "holder.pid" if self.node else "sshd.pid"
        pid = int((self.root / "run" / holder).read_text().strip())
        argv = ["nsenter", f"--target={pid}", "--mount", "--uts", "--net"]
        if self.node:
            argv = self.node.enter([*argv, "--cgroup"])
        proc = subprocess.run(
            [*argv, "--", "sh", "-c", command],
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
        own = self._lan_address or self.address  # the hostname resolves to the LAN address
        (etc / "hosts").write_text(f"{hosts.rstrip()}\n{own}\t{self.hostname}\n")
        # Machines are told apart by machine-id in inventories: give each its own.
        (etc / "machine-id").write_text(uuid.uuid4().hex + "\n")
        # The same password and client key for every login of the host, root included.
        write_logins(r, self.password, self.public_key)
        addresses = [self.address, *([self._lan_address] if self._lan_address else [])]
        listen = "\n".join(f"ListenAddress {a}" for a in addresses)
        (etc / "ssh" / "sshd_config").write_text(SSHD_CONFIG.format(port=self.port, listen=listen))
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
        lines += product_uuid_mounts(r)
        if self.lan is not None:
            lines.append("echo 1 > /proc/sys/net/ipv4/ip_forward")  # this namespace's only
        if self.node is not None:
            lines += self.node.init_lines()
        # `ip netns exec` mounted a fresh /sys without cgroups: give the host the unified
        # hierarchy, as a current distribution has (a test may unmount it in the host).
        elif "cgroup2" in Path("/proc/filesystems").read_text():
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
        lines.append(f"hostname {self.hostname}")
        sshd = f"{_SSHD} -D -e -f /etc/ssh/sshd_config"
        if self.node is not None:  # a holder as the first process: sshd may die and return
            lines += ["echo $$ > /run/holder.pid", f"{sshd} &", "exec sleep infinity"]
        else:
            lines.append(f"exec {sshd}")
        return "\n".join(lines)


def start_ssh_hosts(
    count: int, *, prefix: str = "labhost", lan: Lan | None = None, real_node: bool = False
) -> list[SshHost]:
    """Start `count` hosts named `<prefix>-<n>`; on failure none is left running."""
    hosts: list[SshHost] = []
    try:
        for _ in range(count):
            host = SshHost(lan=lan, real_node=real_node)
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
