"""Where the installer puts things on a machine. Teardown removes exactly these."""

from __future__ import annotations

OPT = "/opt/taichu"
BIN = f"{OPT}/bin"  # the bundle's binaries, and the supervisor (taichu-svc)
CNI_BIN = f"{OPT}/cni"  # the bundle's CNI plugins
IMAGES = f"{OPT}/images"  # the bundle's OCI archives
ETC = "/etc/taichu"  # what the installer writes that is not a component's own config
SERVICES = f"{ETC}/services"  # service definitions the supervisor runs
SUPERVISOR = f"{BIN}/taichu-svc"
KUBERNETES = "/etc/kubernetes"
PKI = f"{KUBERNETES}/pki"
ETCD_PKI = f"{PKI}/etcd"
MANIFESTS = f"{KUBERNETES}/manifests"
CONTAINERD_ETC = "/etc/containerd"
CNI_CONF = "/etc/cni/net.d"
ETCD_DATA = "/var/lib/etcd"
KUBELET_DATA = "/var/lib/kubelet"
CONTAINERD_DATA = "/var/lib/containerd"
RUN = "/run/taichu"  # the supervisor's pid files
CONTAINERD_RUN = "/run/containerd"
CONTAINERD_SOCKET = f"{CONTAINERD_RUN}/containerd.sock"
FLANNEL_RUN = "/run/flannel"
LOGS = "/var/log/taichu"
SYSTEMD_UNITS = "/etc/systemd/system"
BUNDLE_STAMP = f"{ETC}/bundle.json"  # the manifest of the bundle distributed last

# Directories the installer creates (mode 0755 unless listed in PRIVATE).
DIRECTORIES = (
    BIN,
    CNI_BIN,
    IMAGES,
    SERVICES,
    PKI,
    ETCD_PKI,
    MANIFESTS,
    CONTAINERD_ETC,
    CNI_CONF,
    RUN,
    LOGS,
)
PRIVATE = (ETCD_DATA, PKI, ETCD_PKI)  # 0700: keys and etcd's data

# Files of others' directories the installer writes (removed one by one, not the directory).
CNI_CONF_FILES = (f"{CNI_CONF}/10-containerd-net.conflist", f"{CNI_CONF}/10-flannel.conflist")

# Removed whole by teardown (a mount point itself stays, emptied: the lab bind-mounts
# /var/lib/kubelet and friends, and so may an operator).
REMOVED = (
    OPT,
    ETC,
    KUBERNETES,
    CONTAINERD_ETC,
    ETCD_DATA,
    KUBELET_DATA,
    CONTAINERD_DATA,
    RUN,
    CONTAINERD_RUN,
    FLANNEL_RUN,
    LOGS,
)

# Mounts kubelet and containerd leave behind (volumes, sandboxes' netns, rootfs).
MOUNT_PREFIXES = (
    f"{KUBELET_DATA}/",
    f"{CONTAINERD_RUN}/",
    f"{CONTAINERD_DATA}/",
    "/run/netns/cni-",
)


def unit_path(service: str) -> str:
    return f"{SYSTEMD_UNITS}/taichu-{service}.service"


def definition_path(service: str) -> str:
    return f"{SERVICES}/{service}"


def log_path(service: str) -> str:
    return f"{LOGS}/{service}.log"
