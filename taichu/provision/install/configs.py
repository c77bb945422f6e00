"""Every component's configuration, as pure functions of plain values (unit-tested).

Paths are the layout's; certificates are named as `ClusterPki` names them and written by
the pki step to /etc/kubernetes/pki/<name>.crt|.key (the etcd CA's under pki/etcd/).
What works on this machine kind and why is in the probe notes (LAB.md, "Real nodes").
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence

import yaml

from taichu.provision.install import layout as L

ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
KUBELET_PORT = 10250


def pki_file(name: str, ext: str = "crt") -> str:
    return f"{L.PKI}/{name}.{ext}"


def etcd_file(name: str, ext: str = "crt") -> str:
    return f"{L.ETCD_PKI}/{name}.{ext}"


def kubeconfig_path(user: str) -> str:
    return f"{L.KUBERNETES}/{user}.kubeconfig"


CA = pki_file("ca")
ETCD_CA = etcd_file("ca")


def _url(address: str, port: int) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"https://{host}:{port}"


def etcd_client_urls(addresses: Sequence[str]) -> str:
    return ",".join(_url(a, ETCD_CLIENT_PORT) for a in addresses)


def api_url(address: str, port: int) -> str:
    return _url(address, port)


def node_cidr_mask(pods_cidr: str) -> int:
    """Per-node pod subnet: /24 as usual, smaller when the pod network is small (a /20
    still gives 16 nodes)."""
    prefix = ipaddress.ip_network(pods_cidr, strict=False).prefixlen
    return 24 if prefix <= 20 else min(prefix + 4, 30)


# --- etcd ----------------------------------------------------------------------------------


def etcd_argv(
    *, name: str, address: str, members: Sequence[tuple[str, str]], token: str
) -> tuple[str, ...]:
    """etcd over TLS: clients (the API servers, etcdctl) and peers need etcd-CA certs."""
    peers = ",".join(f"{n}={_url(a, ETCD_PEER_PORT)}" for n, a in members)
    return (
        f"{L.BIN}/etcd",
        f"--name={name}",
        f"--data-dir={L.ETCD_DATA}",
        f"--listen-client-urls={_url(address, ETCD_CLIENT_PORT)},https://127.0.0.1:2379",
        f"--advertise-client-urls={_url(address, ETCD_CLIENT_PORT)}",
        f"--listen-peer-urls={_url(address, ETCD_PEER_PORT)}",
        f"--initial-advertise-peer-urls={_url(address, ETCD_PEER_PORT)}",
        f"--initial-cluster={peers}",
        "--initial-cluster-state=new",
        f"--initial-cluster-token={token}",
        "--listen-metrics-urls=http://127.0.0.1:2381",
        "--client-cert-auth=true",
        f"--trusted-ca-file={ETCD_CA}",
        f"--cert-file={etcd_file('server')}",
        f"--key-file={etcd_file('server', 'key')}",
        "--peer-client-cert-auth=true",
        f"--peer-trusted-ca-file={ETCD_CA}",
        f"--peer-cert-file={etcd_file('peer')}",
        f"--peer-key-file={etcd_file('peer', 'key')}",
        "--auto-compaction-retention=1",
        "--snapshot-count=10000",
    )


def etcdctl_health(endpoints: str = "https://127.0.0.1:2379") -> str:
    return (
        f"{L.BIN}/etcdctl --endpoints={endpoints} --cacert={ETCD_CA} "
        f"--cert={etcd_file('healthcheck-client')} --key={etcd_file('healthcheck-client', 'key')} "
        "--command-timeout=5s endpoint health"
    )


# --- control plane -------------------------------------------------------------------------


def apiserver_argv(
    *,
    address: str,
    port: int,
    etcd_addresses: Sequence[str],
    service_cidr: str,
    cluster_domain: str,
) -> tuple[str, ...]:
    return (
        f"{L.BIN}/kube-apiserver",
        f"--advertise-address={address}",
        "--bind-address=0.0.0.0",
        f"--secure-port={port}",
        f"--etcd-servers={etcd_client_urls(etcd_addresses)}",
        f"--etcd-cafile={ETCD_CA}",
        f"--etcd-certfile={pki_file('apiserver-etcd-client')}",
        f"--etcd-keyfile={pki_file('apiserver-etcd-client', 'key')}",
        f"--tls-cert-file={pki_file('apiserver')}",
        f"--tls-private-key-file={pki_file('apiserver', 'key')}",
        f"--client-ca-file={CA}",
        f"--service-account-key-file={pki_file('sa', 'pub')}",
        f"--service-account-signing-key-file={pki_file('sa', 'key')}",
        f"--service-account-issuer=https://kubernetes.default.svc.{cluster_domain}",
        f"--service-cluster-ip-range={service_cidr}",
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        "--allow-privileged=true",
        f"--kubelet-client-certificate={pki_file('apiserver-kubelet-client')}",
        f"--kubelet-client-key={pki_file('apiserver-kubelet-client', 'key')}",
        f"--kubelet-certificate-authority={CA}",
        "--kubelet-preferred-address-types=InternalIP,Hostname",
        f"--requestheader-client-ca-file={pki_file('front-proxy-ca')}",
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-username-headers=X-Remote-User",
        f"--proxy-client-cert-file={pki_file('front-proxy-client')}",
        f"--proxy-client-key-file={pki_file('front-proxy-client', 'key')}",
        "--profiling=false",
        # On SIGTERM, drain the requests in flight (new ones answered 429 + Retry-After),
        # then give the open watches 2 s. Without it the HTTP server's shutdown waits up to
        # --request-timeout (60 s) for every watch to close, long after the listener is
        # gone: the supervisor killed it at 20 s, and a restart was that long a silence.
        "--shutdown-send-retry-after=true",
    )


def _component_auth(user: str) -> tuple[str, ...]:
    kc = kubeconfig_path(user)
    return (
        f"--kubeconfig={kc}",
        f"--authentication-kubeconfig={kc}",
        f"--authorization-kubeconfig={kc}",
        "--bind-address=127.0.0.1",
        "--leader-elect=true",
    )


def controller_manager_argv(*, service_cidr: str, pods_cidr: str) -> tuple[str, ...]:
    return (
        f"{L.BIN}/kube-controller-manager",
        *_component_auth("controller-manager"),
        "--secure-port=10257",
        f"--root-ca-file={CA}",
        f"--service-account-private-key-file={pki_file('sa', 'key')}",
        "--use-service-account-credentials=true",
        f"--cluster-signing-cert-file={CA}",
        f"--cluster-signing-key-file={pki_file('ca', 'key')}",
        f"--service-cluster-ip-range={service_cidr}",
        "--allocate-node-cidrs=true",
        f"--cluster-cidr={pods_cidr}",
        f"--node-cidr-mask-size={node_cidr_mask(pods_cidr)}",
        f"--requestheader-client-ca-file={pki_file('front-proxy-ca')}",
        "--controllers=*,bootstrapsigner,tokencleaner",
        "--profiling=false",
    )


def scheduler_argv() -> tuple[str, ...]:
    return (
        f"{L.BIN}/kube-scheduler",
        *_component_auth("scheduler"),
        "--secure-port=10259",
        "--profiling=false",
    )


# --- container runtime ---------------------------------------------------------------------

CNI_TEMPLATE = f"{L.CONTAINERD_ETC}/cni.template"
CONTAINERD_CONFIG = f"{L.CONTAINERD_ETC}/config.toml"


def containerd_config(*, sandbox_image: str) -> str:
    """containerd 2.x, config version 3. `restrict_oom_score_adj`: machines (and VMs)
    without CAP_SYS_RESOURCE refuse the pause container's negative oom_score_adj."""
    return f"""\
version = 3
root = "{L.CONTAINERD_DATA}"
state = "{L.CONTAINERD_RUN}"
[grpc]
  address = "{L.CONTAINERD_SOCKET}"
[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = {json.dumps(sandbox_image)}
[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "{L.BIN}/runc"
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["{L.CNI_BIN}"]
    conf_dir = "{L.CNI_CONF}"
    conf_template = "{CNI_TEMPLATE}"
"""


def containerd_argv() -> tuple[str, ...]:
    return (f"{L.BIN}/containerd", f"--config={CONTAINERD_CONFIG}")


CONTAINERD_ENV = {"PATH": f"{L.BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}


def cni_template() -> str:
    """Bridge + host-local on the node's pod CIDR (containerd fills {{.PodCIDR}} from the
    Node). No masquerade here: flanneld masquerades what leaves the pod network, so pods
    see each other's real addresses across nodes."""
    doc = {
        "cniVersion": "1.0.0",
        "name": "taichu",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": "{{.PodCIDR}}"}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


# --- kubelet -------------------------------------------------------------------------------

KUBELET_CONFIG = f"{L.KUBERNETES}/kubelet.yaml"


def kubelet_config(
    *,
    address: str,
    cluster_dns: str,
    cluster_domain: str,
    cgroup_v1: bool,
    resolv_conf: str = "/etc/resolv.conf",
    cgroup_root: str | None = None,
) -> str:
    doc: dict[str, object] = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "failSwapOn": False,
        "cgroupDriver": "cgroupfs",
        "cgroupsPerQOS": True,
        "containerRuntimeEndpoint": f"unix://{L.CONTAINERD_SOCKET}",
        "staticPodPath": L.MANIFESTS,
        "address": address,
        "port": KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "tlsCertFile": pki_file("kubelet"),
        "tlsPrivateKeyFile": pki_file("kubelet", "key"),
        # never write the kernel's global sysctls: check them instead
        "protectKernelDefaults": True,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": CA},
        },
        "authorization": {"mode": "Webhook"},
        "clusterDNS": [cluster_dns],
        "clusterDomain": cluster_domain,
        "resolvConf": resolv_conf,
        "rotateCertificates": False,
        "serializeImagePulls": False,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "5%",
            "imagefs.available": "5%",
            "nodefs.inodesFree": "5%",
        },
        # offline: an image collected here cannot be pulled again
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
    }
    if cgroup_v1:
        doc["failCgroupV1"] = False  # 1.35+ refuses cgroup v1 otherwise
    if cgroup_root:
        doc["cgroupRoot"] = cgroup_root
    return yaml.safe_dump(doc, sort_keys=False)


BOOTSTRAP_KUBECONFIG = kubeconfig_path("bootstrap-kubelet")
KUBELET_CERT_DIR = f"{L.KUBELET_DATA}/pki"


def kubelet_argv(
    *, node_name: str, address: str, taints: Sequence[str] = (), bootstrap: bool = False
) -> tuple[str, ...]:
    """`bootstrap`: a joining node's kubelet asks for its client certificate with the join
    credential (TLS bootstrap) and writes its kubeconfig itself."""
    argv = (
        f"{L.BIN}/kubelet",
        f"--config={KUBELET_CONFIG}",
        f"--kubeconfig={kubeconfig_path('kubelet')}",
        f"--node-ip={address}",
        f"--hostname-override={node_name}",
        "--v=1",
    )
    if bootstrap:
        argv += (f"--bootstrap-kubeconfig={BOOTSTRAP_KUBECONFIG}", f"--cert-dir={KUBELET_CERT_DIR}")
    if taints:
        argv += (f"--register-with-taints={','.join(taints)}",)
    return argv


KUBELET_ENV = CONTAINERD_ENV  # kubelet finds iptables, mount and friends on PATH


def apilb_argv(*, port: int, backends: str) -> tuple[str, ...]:
    """taichu-apilb: a worker's loopback endpoint passing TCP to the masters' API servers."""
    return (f"{L.BIN}/taichu-apilb", f"-listen=127.0.0.1:{port}", f"-backends={backends}")


# --- kube-proxy ----------------------------------------------------------------------------

KUBE_PROXY_CONFIG = f"{L.KUBERNETES}/kube-proxy.yaml"


def kube_proxy_config(*, node_name: str, address: str, pods_cidr: str) -> str:
    doc = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": kubeconfig_path("kube-proxy")},
        "mode": "iptables",
        "clusterCIDR": pods_cidr,
        "hostnameOverride": node_name,
        "bindAddress": address,
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        # leave the machine's (global) nf_conntrack_max alone
        "conntrack": {"maxPerCore": 0},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def kube_proxy_argv() -> tuple[str, ...]:
    return (f"{L.BIN}/kube-proxy", f"--config={KUBE_PROXY_CONFIG}", "--v=1")


# --- flannel -------------------------------------------------------------------------------

FLANNEL_NET_CONF = f"{L.ETC}/flannel-net-conf.json"


def flannel_net_conf(pods_cidr: str) -> str:
    """host-gw: routes to the other nodes' pod subnets via their addresses (one L2)."""
    return json.dumps({"Network": pods_cidr, "Backend": {"Type": "host-gw"}}, indent=2) + "\n"


def flanneld_argv(*, address: str) -> tuple[str, ...]:
    return (
        f"{L.BIN}/flanneld",
        "--kube-subnet-mgr",
        f"--kubeconfig-file={kubeconfig_path('flannel')}",
        f"--net-config-path={FLANNEL_NET_CONF}",
        f"--subnet-file={L.FLANNEL_RUN}/subnet.env",
        f"--iface={address}",  # the interface that carries the node's address
        "--ip-masq",
    )


def flanneld_env(node_name: str) -> dict[str, str]:
    return {**CONTAINERD_ENV, "NODE_NAME": node_name}
