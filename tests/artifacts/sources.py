"""Small real stand-ins for a bundle's inputs: shell scripts that answer `--version` the
way the real binaries do, so a bundle is built, hashed and opened for real in a second."""

from __future__ import annotations

from pathlib import Path

from taichu.artifacts.build import CNI_PLUGINS, Sources

ANSWERS = {
    "kube-apiserver": "Kubernetes v1.36.3",
    "kube-controller-manager": "Kubernetes v1.36.3",
    "kube-scheduler": "Kubernetes v1.36.3",
    "kubelet": "Kubernetes v1.36.3",
    "kube-proxy": "Kubernetes v1.36.3",
    "kubectl": "Client Version: v1.36.3\nKustomize Version: v5.7.1",
    "etcd": "etcd Version: 3.6.5\nGit SHA: GitNotFound\nGo Version: go1.25.3",
    "etcdctl": "etcdctl version: 3.6.5\nAPI version: 3.6",
    "etcdutl": "etcdutl version: 3.6.5\nAPI version: 3.6",
    "containerd": "containerd github.com/containerd/containerd/v2 v2.4.2 0123abcd",
    "ctr": "ctr github.com/containerd/containerd/v2 v2.4.2",
    "containerd-shim-runc-v2": "shim",
    "flanneld": "v0.28.10",
    "coredns": "CoreDNS-1.15.0\nlinux/amd64, go1.25.3, ",
    "pause": "",
    "taichu-apilb": "",
}


def script(path: Path, answer: str, extra: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "#!/bin/sh\n" + extra + "cat <<'TAICHU_EOF'\n" + answer + "\nTAICHU_EOF\n"
    path.write_text(body)
    path.chmod(0o755)
    return path


def make_sources(root: Path, cni: str = "CNI {} plugin v1.1.1", **answers: str) -> Sources:
    """Every input of a bundle under `root` (answers override by binary name, `_` for `-`)."""
    wanted = {**ANSWERS, **{k.replace("_", "-"): v for k, v in answers.items()}}
    lab = root / "lab-bin"
    for name, answer in wanted.items():
        script(lab / name, answer)
    runc = script(root / "usr/sbin/runc", "runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1")
    for plugin in CNI_PLUGINS:
        script(root / "usr/lib/cni" / plugin, cni.format(plugin))
    listing = 'if [ "$1" = --list ]; then printf "sh\\nls\\ncat\\nnslookup\\nwget\\n"; exit 0; fi\n'
    busybox = script(
        root / "bin/busybox", "BusyBox v1.35.0 (Debian 1:1.35.0-4+b3) multi-call binary.", listing
    )
    return Sources(lab_bin=lab, runc=runc, cni_dir=root / "usr/lib/cni", busybox=busybox)
