"""The installer's configuration renderers: what each component is told, exactly where it
matters (addresses, certificates, CIDRs, the probe's workarounds)."""

from __future__ import annotations

import json
import tomllib

import yaml

from taichu.provision.install import configs as C
from taichu.provision.install import manifests as M


def flags(argv: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for a in argv[1:]:
        key, _, value = a.partition("=")
        out[key] = value
    return out


def test_etcd_uses_tls_for_clients_and_peers_on_the_machine_address() -> None:
    argv = C.etcd_argv(
        name="m2",
        address="10.1.0.12",
        members=[("m1", "10.1.0.11"), ("m2", "10.1.0.12"), ("m3", "10.1.0.13")],
        token="task-1",
    )
    assert argv[0] == "/opt/taichu/bin/etcd"
    f = flags(argv)
    assert f["--listen-client-urls"] == "https://10.1.0.12:2379,https://127.0.0.1:2379"
    assert f["--advertise-client-urls"] == "https://10.1.0.12:2379"
    assert f["--listen-peer-urls"] == "https://10.1.0.12:2380"
    assert f["--initial-cluster"] == (
        "m1=https://10.1.0.11:2380,m2=https://10.1.0.12:2380,m3=https://10.1.0.13:2380"
    )
    assert f["--client-cert-auth"] == f["--peer-client-cert-auth"] == "true"
    assert (
        f["--trusted-ca-file"] == f["--peer-trusted-ca-file"] == "/etc/kubernetes/pki/etcd/ca.crt"
    )
    assert f["--data-dir"] == "/var/lib/etcd"
    health = C.etcdctl_health()
    assert "--cacert=/etc/kubernetes/pki/etcd/ca.crt" in health and health.endswith(
        "endpoint health"
    )


def test_apiserver_listens_everywhere_advertises_the_machine_and_talks_tls_to_etcd() -> None:
    f = flags(
        C.apiserver_argv(
            address="10.1.0.11",
            port=6443,
            etcd_addresses=["10.1.0.11", "10.1.0.12"],
            service_cidr="10.96.0.0/12",
            cluster_domain="corp.local",
        )
    )
    assert f["--bind-address"] == "0.0.0.0" and f["--secure-port"] == "6443"
    assert f["--advertise-address"] == "10.1.0.11"
    assert f["--etcd-servers"] == "https://10.1.0.11:2379,https://10.1.0.12:2379"
    assert f["--etcd-certfile"] == "/etc/kubernetes/pki/apiserver-etcd-client.crt"
    assert f["--service-cluster-ip-range"] == "10.96.0.0/12"
    assert f["--service-account-issuer"] == "https://kubernetes.default.svc.corp.local"
    assert f["--authorization-mode"] == "Node,RBAC"
    assert f["--enable-admission-plugins"] == "NodeRestriction"
    assert f["--kubelet-certificate-authority"] == "/etc/kubernetes/pki/ca.crt"
    assert f["--shutdown-send-retry-after"] == "true"  # a stop takes seconds, not a minute


def test_controller_manager_allocates_node_cidrs_from_the_pod_network() -> None:
    f = flags(C.controller_manager_argv(service_cidr="10.96.0.0/12", pods_cidr="10.244.0.0/16"))
    assert f["--allocate-node-cidrs"] == "true"
    assert f["--cluster-cidr"] == "10.244.0.0/16"
    assert f["--node-cidr-mask-size"] == "24"
    assert f["--kubeconfig"] == "/etc/kubernetes/controller-manager.kubeconfig"
    assert f["--cluster-signing-key-file"] == "/etc/kubernetes/pki/ca.key"
    assert C.node_cidr_mask("10.50.0.0/22") == 26
    assert flags(C.scheduler_argv())["--kubeconfig"] == "/etc/kubernetes/scheduler.kubeconfig"


def test_containerd_2_config_v3() -> None:
    doc = tomllib.loads(C.containerd_config(sandbox_image="registry.k8s.io/pause:3.10"))
    assert doc["version"] == 3
    plugins = doc["plugins"]
    images = plugins["io.containerd.cri.v1.images"]
    assert images["pinned_images"]["sandbox"] == "registry.k8s.io/pause:3.10"
    runtime = plugins["io.containerd.cri.v1.runtime"]
    assert runtime["restrict_oom_score_adj"] is True
    runc = runtime["containerd"]["runtimes"]["runc"]
    assert runc["options"] == {"SystemdCgroup": False, "BinaryName": "/opt/taichu/bin/runc"}
    assert runtime["cni"] == {
        "bin_dirs": ["/opt/taichu/cni"],
        "conf_dir": "/etc/cni/net.d",
        "conf_template": "/etc/containerd/cni.template",
    }
    assert doc["grpc"]["address"] == "/run/containerd/containerd.sock"


def test_cni_template_is_bridge_and_host_local_on_the_node_pod_cidr() -> None:
    doc = json.loads(C.cni_template())
    bridge, portmap = doc["plugins"]
    assert bridge["type"] == "bridge" and bridge["ipMasq"] is False
    assert bridge["ipam"]["ranges"] == [[{"subnet": "{{.PodCIDR}}"}]]
    assert portmap["type"] == "portmap"


def test_kubelet_config_per_the_probe() -> None:
    doc = yaml.safe_load(
        C.kubelet_config(
            address="10.1.0.21",
            cluster_dns="10.96.0.10",
            cluster_domain="corp.local",
            cgroup_v1=True,
        )
    )
    assert doc["kind"] == "KubeletConfiguration"
    assert doc["cgroupDriver"] == "cgroupfs"
    assert doc["failCgroupV1"] is False and doc["failSwapOn"] is False
    assert doc["address"] == "10.1.0.21"
    assert doc["clusterDNS"] == ["10.96.0.10"] and doc["clusterDomain"] == "corp.local"
    assert doc["authentication"]["webhook"]["enabled"] is True
    assert doc["authentication"]["anonymous"]["enabled"] is False
    assert doc["authentication"]["x509"]["clientCAFile"] == "/etc/kubernetes/pki/ca.crt"
    assert doc["authorization"]["mode"] == "Webhook"
    assert doc["protectKernelDefaults"] is True and doc["rotateCertificates"] is False
    assert doc["readOnlyPort"] == 0
    assert doc["tlsCertFile"] == "/etc/kubernetes/pki/kubelet.crt"
    assert "cgroupRoot" not in doc
    v2 = yaml.safe_load(
        C.kubelet_config(
            address="a", cluster_dns="d", cluster_domain="c", cgroup_v1=False, cgroup_root="/n1"
        )
    )
    assert "failCgroupV1" not in v2 and v2["cgroupRoot"] == "/n1"
    f = flags(C.kubelet_argv(node_name="w1", address="10.1.0.21", taints=[M.CONTROL_PLANE_TAINT]))
    assert f["--node-ip"] == "10.1.0.21" and f["--hostname-override"] == "w1"
    assert f["--register-with-taints"] == "node-role.kubernetes.io/control-plane:NoSchedule"
    assert "--register-with-taints" not in flags(C.kubelet_argv(node_name="w", address="a"))


def test_kube_proxy_iptables_leaves_conntrack_alone() -> None:
    doc = yaml.safe_load(
        C.kube_proxy_config(node_name="w1", address="10.1.0.21", pods_cidr="10.244.0.0/16")
    )
    assert doc["mode"] == "iptables"
    assert doc["conntrack"] == {"maxPerCore": 0}
    assert doc["clusterCIDR"] == "10.244.0.0/16"
    assert doc["hostnameOverride"] == "w1" and doc["bindAddress"] == "10.1.0.21"
    assert doc["clientConnection"]["kubeconfig"] == "/etc/kubernetes/kube-proxy.kubeconfig"


def test_flannel_host_gw_on_the_node_address() -> None:
    assert json.loads(C.flannel_net_conf("10.244.0.0/16")) == {
        "Network": "10.244.0.0/16",
        "Backend": {"Type": "host-gw"},
    }
    f = flags(C.flanneld_argv(address="10.1.0.21"))
    assert "--kube-subnet-mgr" in f and f["--iface"] == "10.1.0.21"
    assert f["--kubeconfig-file"] == "/etc/kubernetes/flannel.kubeconfig"
    assert C.flanneld_env("w1")["NODE_NAME"] == "w1"


def test_coredns_objects() -> None:
    objs = M.coredns(
        image="registry.k8s.io/coredns/coredns:v1.15.0",
        cluster_dns="10.96.0.10",
        cluster_domain="corp.local",
        replicas=2,
    )
    kinds = {o["kind"]: o for o in objs}
    assert set(kinds) == {
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "Deployment",
        "Service",
    }
    dep = kinds["Deployment"]
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.k8s.io/coredns/coredns:v1.15.0"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert dep["spec"]["replicas"] == 2
    assert kinds["Service"]["spec"]["clusterIP"] == "10.96.0.10"
    assert kinds["Service"]["metadata"]["name"] == "kube-dns"
    assert "kubernetes corp.local in-addr.arpa" in kinds["ConfigMap"]["data"]["Corefile"]
    assert M.api_path(dep) == "/apis/apps/v1/namespaces/kube-system/deployments/coredns"
    assert M.api_path(kinds["ClusterRole"]) == (
        "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:coredns"
    )


def test_flannel_rbac_binds_the_certificate_user_and_verify_pods_pin_nodes() -> None:
    role, binding = M.flannel_rbac()
    assert {"apiGroups": [""], "resources": ["nodes/status"], "verbs": ["patch"]} in role["rules"]
    assert binding["subjects"][0]["name"] == "taichu:flannel"
    pod = M.verify_pod(node_name="w1", image="docker.io/library/busybox:1.36")
    assert pod["spec"]["nodeName"] == "w1"
    assert pod["metadata"]["namespace"] == M.VERIFY_NAMESPACE
    assert M.api_path(pod) == "/api/v1/namespaces/taichu-verify/pods/verify-w1"
