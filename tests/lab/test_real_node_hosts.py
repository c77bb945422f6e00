"""Real-node lab hosts: what a kubelet and containerd need, proven on real hosts."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from taichu.lab import cgroups
from taichu.lab.janitor import sweep
from taichu.lab.lan import Lan
from taichu.lab.node_host import KERNEL_DEFAULTS, PLAIN_DIRS
from taichu.lab.procs import LabError, alive
from taichu.lab.pytest_fixtures import RealNodeFactory
from taichu.lab.ssh_hosts import SshHost, wait_refused
from taichu.lab.state import OWNER_ENV, state_root
from tests.lab.leftovers import NOTHING, leftovers

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]

BUSYBOX = shutil.which("busybox")
RUNC = shutil.which("runc")
needs_busybox = pytest.mark.skipif(not BUSYBOX, reason="busybox-static is not installed")
needs_runc = pytest.mark.skipif(
    not (RUNC and BUSYBOX), reason="runc or busybox-static is not installed"
)


async def _ssh(host: SshHost, command: str, *, address: str | None = None) -> str:
    """`command` over SSH, as the installer runs it (at the LAN address by default)."""
    async with asyncssh.connect(
        address or host.lan_address,
        host.port,
        username="root",
        password=host.password,
        known_hosts=None,
        client_keys=None,
    ) as conn:
        return str((await conn.run(command, check=True)).stdout)


def _banner(address: str, port: int, timeout: float = 5.0) -> bytes:
    with socket.create_connection((address, port), timeout=timeout) as s:
        return s.recv(4)


def _read(path: str) -> str:
    return Path(path).read_text()


def _netns_of(pid: int) -> str:
    return str(Path(f"/proc/{pid}/ns/net").readlink())


def _real_sysctls() -> dict[str, str]:
    return {k: (Path("/proc/sys") / k).read_text().strip() for k in KERNEL_DEFAULTS}


@needs_busybox
async def test_hosts_on_a_lan_reach_each_other_and_the_platform_reaches_them(
    real_node_hosts: RealNodeFactory,
) -> None:
    a, b = real_node_hosts(2)
    assert a.lan is b.lan is not None
    assert a.lan_address != b.lan_address
    assert {a.lan_address, b.lan_address} <= set(map(str, a.lan.subnet.hosts()))
    for src, dst in ((a, b), (b, a)):
        out = await _ssh(src, f"busybox ping -c 1 -W 5 {dst.lan_address}")
        assert "1 packets received" in out
    for host in (a, b):
        # The platform (root namespace) reaches sshd at both addresses, nothing forwarded.
        assert _banner(host.lan_address, host.port) == b"SSH-"
        assert _banner(host.address, host.port) == b"SSH-"
        assert (await _ssh(host, "hostname")).strip() == host.hostname
        assert (await _ssh(host, "cat /proc/sys/net/ipv4/ip_forward")).strip() == "1"
        # The default route is on the LAN: what a node detects as its address is lan_address.
        route = (await _ssh(host, "ip -4 route get 192.0.2.1")).split()
        assert route[route.index("dev") + 1] == "eth1"
        assert route[route.index("src") + 1] == host.lan_address
        # The hostname resolves to the LAN address, like a machine's own name on its network.
        assert (await _ssh(host, f"getent hosts {host.hostname}")).split()[0] == host.lan_address
    assert _read("/proc/sys/net/ipv4/ip_forward").strip() == "0"


async def test_a_real_node_host_has_its_own_cgroups_sysctls_and_plain_dirs(
    real_node_hosts: RealNodeFactory,
) -> None:
    before = _real_sysctls()
    a, b = real_node_hosts(2)
    # A cgroup namespace: the host's own cgroup is its root in every hierarchy.
    lines = (await _ssh(a, "cat /proc/self/cgroup")).splitlines()
    assert lines and all(line.endswith(":/") for line in lines)
    assert len(lines) == len(_read("/proc/self/cgroup").splitlines())
    mounts = (await _ssh(a, "cat /proc/self/mountinfo")).splitlines()
    mounted = {ln.split()[4] for ln in mounts if " - cgroup" in ln}
    assert mounted == {str(h.mountpoint) for h in cgroups.hierarchies()}
    assert a.node is not None and all(p.is_dir() for p in a.node.paths)
    # kubelet's protectKernelDefaults values inside, the real machine's untouched.
    for key, want in KERNEL_DEFAULTS.items():
        assert (await _ssh(a, f"cat /proc/sys/{key}")).strip() == want, key
    assert _real_sysctls() == before
    # Plain directories (overlayfs snapshots cannot sit on an overlay), private per host.
    kinds = await _ssh(a, "stat -f -c %T " + " ".join(PLAIN_DIRS.values()) + " /var/lib")
    *plain, varlib = kinds.split()
    assert varlib == "overlayfs" and "overlayfs" not in plain and len(plain) == len(PLAIN_DIRS)
    await _ssh(a, "echo mine > /var/lib/containerd/marker")
    assert (await _ssh(b, "ls /var/lib/containerd")).strip() == ""
    assert (await _ssh(a, "cat /var/lib/containerd/marker")).strip() == "mine"


def _bundle(host: SshHost, args: list[str]) -> None:
    """A busybox rootfs and `runc spec` config in the host's /tmp/bb, running `args`."""
    host.exec(
        "mkdir -p /tmp/bb/rootfs/bin /tmp/bb/rootfs/proc /tmp/bb/rootfs/dev /tmp/bb/rootfs/sys"
        f" && cp {BUSYBOX} /tmp/bb/rootfs/bin/busybox && rm -f /tmp/bb/config.json"
        " && cd /tmp/bb && runc spec"
    )
    config: dict[str, Any] = json.loads(host.exec("cat /tmp/bb/config.json").stdout)
    config["process"]["terminal"] = False
    config["process"]["args"] = ["/bin/busybox", *args]
    host.exec(f"cat > /tmp/bb/config.json <<'EOF'\n{json.dumps(config)}\nEOF")


def _run_detached(host: SshHost, name: str) -> int:
    _bundle(host, ["sleep", "600"])
    host.exec(f"cd /tmp/bb && runc run -d {name} >/tmp/{name}.out 2>&1 </dev/null")
    return int(json.loads(host.exec(f"runc state {name}").stdout)["pid"])


@needs_runc
async def test_runc_runs_a_busybox_container_under_the_hosts_cgroup(
    real_node_hosts: RealNodeFactory,
) -> None:
    (host,) = real_node_hosts(1)
    assert host.node is not None
    _bundle(host, ["sh", "-c", "echo hello from busybox; cat /proc/self/cgroup"])
    out = await _ssh(host, "cd /tmp/bb && runc run hello")
    assert out.splitlines()[0] == "hello from busybox"
    # runc inside the cgroup namespace puts the container at /<id> of the host's tree.
    assert all(line.endswith(":/hello") for line in out.splitlines()[1:])
    pid = _run_detached(host, "sleeper")
    assert host.net is not None
    # Seen from the real machine: in every hierarchy, under the host's own cgroup.
    seen = {ln.split(":", 2)[2] for ln in _read(f"/proc/{pid}/cgroup").splitlines()}
    want = {f"{h.own.rstrip('/')}/{host.net.name}/sleeper" for h in cgroups.hierarchies()}
    assert seen == want
    # It left the host's network namespace (it has its own), yet destroy can find it.
    host_pid = host.net.pids()[0]
    assert _netns_of(pid) != _netns_of(host_pid)
    assert pid not in host.net.pids()
    assert pid in cgroups.members(host.node.paths)


def _gone(name: str) -> dict[str, Any]:
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    return {"netns": name in netns.split(), "link": f" {name}:" in links or f" {name}@" in links}


@needs_runc
def test_destroy_leaves_no_netns_link_cgroup_or_process(lab_session: None) -> None:
    lan = Lan().start()
    host = SshHost(lan=lan, real_node=True)
    try:
        host.start()
        assert host.net is not None and host.node is not None
        name, paths, lan_port = host.net.name, list(host.node.paths), f"h{host.seq}"
        pid = _run_detached(host, "orphan")
        inside = host.net.pids()
        assert alive(pid) and inside
        assert _gone(name) == {"netns": True, "link": True}
    finally:
        host.destroy()
    assert _gone(name) == {"netns": False, "link": False}
    assert not alive(pid) and not any(alive(p) for p in inside)
    assert not any(p.exists() for p in paths)
    assert not (state_root() / "cgroups" / f"{name}.json").exists()
    ports = subprocess.run(["ip", "-n", lan.name, "-o", "link"], capture_output=True, text=True)
    assert lan_port not in ports.stdout
    index = lan.index
    lan.destroy()
    assert _gone(lan.name) == {"netns": False, "link": False}
    assert not (state_root() / "lans" / str(index)).exists()


async def test_sshd_can_die_and_return_while_the_node_keeps_running(
    real_node_hosts: RealNodeFactory,
) -> None:
    (host,) = real_node_hosts(1)
    host.exec("setsid sleep 600 >/dev/null 2>&1 </dev/null & echo $! > /run/service.pid")
    service = int(host.exec("cat /run/service.pid").stdout)
    host.stop_sshd()
    wait_refused(host)
    assert alive(service) and host.running
    host.start_sshd()
    assert (await _ssh(host, "cat /run/service.pid")).strip() == str(service)
    # A stop is a power cut, a start a boot: the service is gone, and so is /run's content.
    host.stop()
    assert not alive(service)
    host.start()
    assert (await _ssh(host, "ls /run/service.pid || echo none")).strip() == "none"
    # Unplugged, the LAN address goes silent too (no refusal, no answer); plugged, it is back.
    host.unplug()
    with pytest.raises(TimeoutError):
        _banner(host.lan_address, host.port, timeout=1.0)
    host.plug()
    assert _banner(host.lan_address, host.port) == b"SSH-"
    assert "default via" in host.exec("ip route show default dev eth1").stdout


async def test_plain_hosts_have_no_lan_and_no_node_parts(ssh_hosts: list[SshHost]) -> None:
    host = ssh_hosts[0]
    assert host.node is None and host.lan is None
    with pytest.raises(LabError, match="not on a started LAN"):
        _ = host.lan_address
    out = await _ssh(host, "ls /sys/class/net; stat -f -c %T /sys/fs/cgroup", address=host.address)
    *links, cgroup_fs = out.split()
    assert "eth1" not in links and cgroup_fs == "cgroup2fs"
    panic = await _ssh(host, "cat /proc/sys/kernel/panic", address=host.address)
    assert panic == _read("/proc/sys/kernel/panic")


@needs_runc
def test_janitor_removes_a_killed_owners_lan_hosts_and_containers() -> None:
    # Started from a thread: no parent-death signal, so after SIGKILL of the owner all of
    # it survives (sshd, the container in its own netns) and only the sweep removes it.
    script = textwrap.dedent("""
        import threading, time
        from taichu.lab.lan import Lan
        from taichu.lab.ssh_hosts import SshHost
        from tests.lab.test_real_node_hosts import _run_detached

        out = []
        def start():
            lan = Lan().start()
            host = SshHost(lan=lan, real_node=True).start()
            out.append(_run_detached(host, "left"))

        t = threading.Thread(target=start)
        t.start()
        t.join()
        print("READY", out[0], flush=True)
        time.sleep(300)
    """)
    env = {k: v for k, v in os.environ.items() if k != OWNER_ENV}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        [sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        assert line[:1] == ["READY"], line
        container = int(line[1])
        left = leftovers(proc.pid)
        assert len(left["netns"]) == 2 and len(left["links"]) == 2  # the host's and the LAN's
        assert left["lans"] and left["cgroups"] and alive(container)
    finally:
        proc.kill()
        proc.wait()
    sweep()
    assert leftovers(proc.pid) == NOTHING
    assert not alive(container)


def test_lans_never_share_a_subnet_and_a_full_pool_says_so(
    lab_session: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pool of two /24s of its own (claims in a private state root), so nothing else
    # running on the machine takes part.
    monkeypatch.setenv("TAICHU_LAB_STATE", str(tmp_path))
    monkeypatch.setenv("TAICHU_LAB_LAN_SUBNET", "10.215.0.0/23")
    first, second = Lan().start(), Lan().start()
    try:
        assert {str(first.subnet), str(second.subnet)} == {"10.215.0.0/24", "10.215.1.0/24"}
        assert sorted(p.name for p in (tmp_path / "lans").iterdir()) == ["0", "1"]
        with pytest.raises(LabError, match=r"no free /24 in 10\.215\.0\.0/23"):
            Lan().start()
        index = second.index
        second.destroy()
        third = Lan().start()  # the released /24 is free again
        assert third.index == index
        third.destroy()
    finally:
        first.destroy()
        second.destroy()
    assert list((tmp_path / "lans").iterdir()) == []


def test_a_destroyed_hosts_address_is_not_given_to_the_next(lab_session: None) -> None:
    """The platform's neighbour entry for a destroyed host still names its MAC: a new host
    at the same address would be unreachable until it expired (seen as SSH timeouts)."""
    with Lan() as lan:
        first = SshHost(lan=lan).start()
        taken = first.lan_address
        first.destroy()
        second = SshHost(lan=lan).start()
        try:
            assert second.lan_address != taken
            with socket.create_connection((second.lan_address, second.port), timeout=5) as s:
                assert s.recv(4).startswith(b"SSH-")
        finally:
            second.destroy()
