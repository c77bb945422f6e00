"""The real proof: containerd and a standalone kubelet run a static pod in a lab host."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from taichu.lab.binaries import default_root
from taichu.lab.procs import alive
from taichu.lab.pytest_fixtures import RealNodeFactory
from taichu.lab.ssh_hosts import SshHost
from tests.lab.oci_images import image_archive

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
    image_archive(lab / "images" / "pause.tar", "registry.k8s.io/pause:3.10", ["/pause"],
                  {"/pause": BIN / "pause"}, {})  # fmt: skip
    busybox = Path(shutil.which("busybox") or "/bin/busybox")
    links = {f"/bin/{a}": "busybox" for a in ("sh", "sleep", "echo", "cat")}
    image_archive(lab / "images" / "busybox.tar", "docker.io/library/busybox:lab", ["/bin/sh"],
                  {"/bin/busybox": busybox}, links)  # fmt: skip


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


@pytest.mark.skipif(bool(_missing), reason=f"node binaries missing: {', '.join(_missing)}")
def test_containerd_and_a_standalone_kubelet_run_a_static_pod(
    real_node_hosts: RealNodeFactory,
) -> None:
    (host,) = real_node_hosts(1)
    assert host.node is not None
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
        " >/var/log/kubelet.log 2>&1 </dev/null &"
    )
    try:
        pid = int(_wait("the static pod's container RUNNING", lambda: _busybox_task(host), 240))
    except AssertionError:
        log = host.exec("tail -n 30 /var/log/kubelet.log /var/log/containerd.log", check=False)
        raise AssertionError(log.stdout) from None
    # The pod's cgroup: under kubelet's default root, which is the host's own cgroup.
    own = {p.parts[4]: p for p in host.node.paths}  # /sys/fs/cgroup/<hierarchy>/...
    assert (own["pids"] / "kubepods").is_dir()
    cgroup = Path(f"/proc/{pid}/cgroup").read_text()
    assert f"/{host.net.name}/kubepods/" in cgroup  # type: ignore[union-attr]
    host.destroy()
    assert not alive(pid)
