"""The real proof: containerd and a standalone kubelet run a static pod in a lab host."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from taichu.artifacts.oci import Entry, ImageSpec, busybox_entries, write_image
from taichu.lab.binaries import default_root
from taichu.lab.procs import alive
from taichu.lab.pytest_fixtures import RealNodeFactory
from taichu.lab.ssh_hosts import SshHost

pytestmark = pytest.mark.lab

BIN = default_root() / "bin"
NODE_BINARIES = ("containerd", "containerd-shim-runc-v2", "ctr", "kubelet", "pause")
_missing = [b for b in NODE_BINARIES if not os.access(BIN / b, os.X_OK)]
_missing += [b for b in ("runc", "busybox") if not shutil.which(b)]

CONTAINERD_CONFIG = """\
version = 3
root = "/var/lib/containerd"
state = "/run/containerd"
[grpc]
  address = "/run/containerd/containerd.sock"
[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "registry.k8s.io/pause:3.10"
[plugins."io.containerd.cri.v1.runtime"]
  # No CAP_SYS_RESOURCE in this VM's bounding set: pause's oom_score_adj -998 is refused.
  restrict_oom_score_adj = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "{runc}"
"""

# No API server: a standalone kubelet (no kubeconfig) running what staticPodPath holds.
# No cgroupRoot: the host's cgroup namespace makes the default ("/") the host's own.
KUBELET_CONFIG = """\
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
failSwapOn: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
staticPodPath: /opt/lab/manifests
address: {address}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
protectKernelDefaults: true
authentication: {{anonymous: {{enabled: true}}, webhook: {{enabled: false}}}}
authorization: {{mode: AlwaysAllow}}
evictionHard: {{memory.available: 10Mi, nodefs.available: 1%, imagefs.available: 1%}}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
"""

POD = """\
apiVersion: v1
kind: Pod
metadata: {name: bb, namespace: default}
spec:
  hostNetwork: true
  containers:
  - name: bb
    image: docker.io/library/busybox:lab
    imagePullPolicy: Never
    command: ["/bin/sh", "-c", "echo started; exec sleep 3600"]
"""


def _stage(host: SshHost) -> None:
    """Binaries, configs and images in the host's /opt (a plain private directory: what an
    installer would copy over SFTP)."""
    lab = host.root / "opt" / "lab"
    for d in ("bin", "images", "manifests"):
        (lab / d).mkdir(parents=True, exist_ok=True)
    for name in ("containerd", "containerd-shim-runc-v2", "ctr", "kubelet"):
        shutil.copy2(BIN / name, lab / "bin" / name)
    (lab / "containerd.toml").write_text(CONTAINERD_CONFIG.format(runc=shutil.which("runc")))
    (lab / "kubelet.yaml").write_text(KUBELET_CONFIG.format(address=host.lan_address))
    pause = (Entry("pause", source=BIN / "pause"),)
    write_image(
        ImageSpec("registry.k8s.io/pause:3.10", pause, entrypoint=("/pause",)),
        lab / "images" / "pause.tar",
    )
    busybox = Path(shutil.which("busybox") or "/bin/busybox")
    applets = busybox_entries(busybox, ("sh", "sleep", "echo", "cat"))
    write_image(
        ImageSpec("docker.io/library/busybox:lab", applets, cmd=("sh",)),
        lab / "images" / "busybox.tar",
    )


def _wait(what: str, check: object, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        out = check()  # type: ignore[operator]
        if out:
            return str(out)
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {timeout}s")
        time.sleep(1)


def _busybox_task(host: SshHost) -> str:
    """`<pid>` of the RUNNING task of the pod's busybox container, or ""."""
    ctr = "/opt/lab/bin/ctr -n k8s.io"
    containers = host.exec(f"{ctr} containers ls", check=False).stdout.splitlines()
    ids = {ln.split()[0] for ln in containers if "busybox:lab" in ln}
    for line in host.exec(f"{ctr} tasks ls", check=False).stdout.splitlines()[1:]:
        task, pid, status = [*line.split(), "", "", ""][:3]
        if task in ids and status == "RUNNING":
            return pid
    return ""


def _running(host: SshHost) -> str:
    if host.exec("kill -0 $(cat /run/kubelet.pid)", check=False).returncode != 0:
        raise AssertionError("kubelet exited")
    return _busybox_task(host)


def _start_node(host: SshHost) -> None:
    """containerd, the images, the static pod and kubelet, as an installer would."""
    _stage(host)
    path = "PATH=/opt/lab/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    host.exec(
        f"setsid env {path} containerd --config /opt/lab/containerd.toml"
        " >/var/log/containerd.log 2>&1 </dev/null &"
    )
    _wait("containerd", lambda: host.exec("/opt/lab/bin/ctr version", check=False).returncode == 0,
          60)  # fmt: skip
    host.exec(
        "for i in /opt/lab/images/*.tar; do /opt/lab/bin/ctr -n k8s.io images import $i; done"
    )
    host.exec(
        "mkdir -p /opt/lab/manifests && cat > /opt/lab/manifests/bb.yaml <<'EOF'\n" + POD + "EOF"
    )
    host.exec(
        f"setsid env {path} kubelet --config=/opt/lab/kubelet.yaml"
        f" --hostname-override={host.hostname} --node-ip={host.lan_address} --v=2"
        " >/var/log/kubelet.log 2>&1 </dev/null & echo $! > /run/kubelet.pid"
    )


def _pod_pid(host: SshHost) -> int:
    try:
        return int(_wait("the static pod's container RUNNING", lambda: _running(host), 240))
    except AssertionError as e:
        log = host.exec("tail -n 30 /var/log/kubelet.log /var/log/containerd.log", check=False)
        raise AssertionError(f"{host.hostname}: {e}\n{log.stdout}") from None


@pytest.mark.skipif(bool(_missing), reason=f"node binaries missing: {', '.join(_missing)}")
def test_containerd_and_standalone_kubelets_run_static_pods_side_by_side(
    real_node_hosts: RealNodeFactory,
) -> None:
    # Two nodes on one kernel, both with kubelet's default cgroupRoot: no collision.
    hosts = real_node_hosts(2)
    for host in hosts:
        _start_node(host)
    pids = [_pod_pid(host) for host in hosts]
    for host, pid in zip(hosts, pids, strict=True):
        assert host.node is not None and host.net is not None
        # It ran its command (kubelet's own container log), and kubelet's
        # protectKernelDefaults check passed: only the host's sysctl masks make it pass here.
        logs = host.exec("cat /var/log/pods/*/bb/0.log").stdout
        assert logs.split()[-1:] == ["started"]
        assert "invalid kernel flag" not in host.exec("cat /var/log/kubelet.log").stdout
        # The pod's cgroup: under kubelet's default root, which is the host's own cgroup.
        own = {p.parts[4]: p for p in host.node.paths}  # /sys/fs/cgroup/<hierarchy>/...
        assert (own["pids"] / "kubepods").is_dir()
        assert f"/{host.net.name}/kubepods/" in Path(f"/proc/{pid}/cgroup").read_text()
    # Destroying one node takes its pod (in a netns of its own) and leaves the other's.
    hosts[0].destroy()
    assert not alive(pids[0])
    assert alive(pids[1]) and _busybox_task(hosts[1]) == str(pids[1])
