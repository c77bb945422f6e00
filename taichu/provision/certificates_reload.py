"""Renewed certificates taken up without a restart, where the component re-reads its files.

What re-reads what (Kubernetes v1.36.3, etcd v3.6.8, the versions the bundle carries):

- kube-apiserver: its serving pair (--tls-cert-file/--tls-private-key-file) and the
  aggregator's proxy-client pair are `dynamiccertificates.DynamicCertKeyPairContent`
  (k8s.io/apiserver pkg/server/dynamiccertificates): an fsnotify watch on both files, and a
  re-read every minute besides; a new pair is taken only once cert and key match, so the
  two uploads (each atomic: a temporary file, then a rename) never serve a torn pair. The
  client CAs are `DynamicFileCAContent` the same way (unchanged here: the CA stays). Its
  kubelet client pair (--kubelet-client-certificate) is read by client-go's
  `cachingCertificateLoader` on each new TLS connection (transport.loadTLSFiles sets
  ReloadTLSFiles for a pair given as files), its etcd client pair (--etcd-certfile) by
  etcd's TLSInfo `GetClientCertificate` on each new connection.
- etcd: its server and peer pairs by TLSInfo `GetCertificate` on each new connection
  (client/pkg/v3/transport/listener.go: "this only reloads certs when there's a client
  request").
- kubelet: its serving pair (tlsCertFile) by `NewKubeletServerCertificateDynamicFileManager`
  (feature ReloadKubeletServerCertificateFile, beta and on since 1.31). Its client
  certificate, embedded in its kubeconfig with certificate rotation off, is read once at
  start: the kubelet is restarted. So are the controller manager, the scheduler,
  kube-proxy and flanneld (kubeconfigs read once); none of them serves the API.

So etcd and the API server are not restarted: the job waits until each serves its renewed
certificate to a new connection made from the platform, and restarts one only when it
does not (an older binary, or an endpoint the platform cannot reach)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from taichu.kube import KubeClient
from taichu.kube.access import ClusterAccess
from taichu.kube.tls import ssl_context
from taichu.pki import CertKey
from taichu.provision import members
from taichu.provision.install import steps_control
from taichu.provision.install.configs import ETCD_CLIENT_PORT, ETCD_PEER_PORT
from taichu.provision.install.remote import Machine, wait_api
from taichu.provision.pki import ADMIN, ClusterPki
from taichu.provision.plan import NodePlan
from taichu.provision.runtime import EngineContext

# The API server re-reads its serving pair on a file event, and every minute without one.
RELOAD_WAIT = 90.0
# An endpoint never reached within this long is one the platform cannot reach (a firewall):
# waiting out RELOAD_WAIT would tell nothing more.
UNREACHED_WAIT = 15.0
PROBE_INTERVAL = 0.5
PROBE_TIMEOUT = 5.0
SETTLE_SECONDS = 3.0  # a restarted component must still be running after this long
KUBELET_WAIT = 120.0
SERVING_API = frozenset({"etcd", "kube-apiserver"})  # a restart of these silences the API


def probe_context(ca_pem: bytes, client: CertKey, address: str, port: int) -> ssl.SSLContext:
    """Verifying TLS (the CA, the address in the certificate) with a client pair, as the
    endpoint's clients connect. Blocking (key parsing): call it in a thread."""
    host = f"[{address}]" if ":" in address else address
    access = ClusterAccess(
        server=f"https://{host}:{port}",
        ca_data=ca_pem,
        client_cert_data=client.cert_pem,
        client_key_data=client.key_pem,
    )
    return ssl_context(access)


async def served(address: str, port: int, tls: ssl.SSLContext) -> bytes:
    """The certificate (DER) an endpoint presents to a new connection."""
    _, writer = await asyncio.wait_for(
        asyncio.open_connection(
            address, port, ssl=tls, server_hostname=address, ssl_handshake_timeout=PROBE_TIMEOUT
        ),
        PROBE_TIMEOUT + 1,
    )
    try:
        obj = writer.get_extra_info("ssl_object")
        der = obj.getpeercert(binary_form=True) if obj is not None else None
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 2)
    return der or b""


async def wait_served(
    address: str,
    port: int,
    tls: ssl.SSLContext,
    want: bytes,
    seconds: float = RELOAD_WAIT,
    unreached: float = UNREACHED_WAIT,
) -> float | None:
    """Seconds until `address:port` serves the certificate `want` (DER) to a new
    connection; None when it does not within `seconds`, or was never reached within
    `unreached`."""
    start = time.monotonic()
    reached = False
    while True:
        try:
            if await served(address, port, tls) == want:
                return time.monotonic() - start
            reached = True
        except ssl.SSLError:
            reached = True  # it answers: a pair torn between two uploads, or refusing us
        except (OSError, TimeoutError):
            pass
        waited = time.monotonic() - start
        if waited >= seconds or (not reached and waited >= unreached):
            return None
        await asyncio.sleep(PROBE_INTERVAL)


# --- per component ------------------------------------------------------------------------

Done = list[dict[str, Any]]


def _did(node: NodePlan, component: str, action: str, seconds: float) -> dict[str, Any]:
    return {
        "machine": node.name,
        "component": component,
        "action": action,
        "seconds": round(seconds, 2),
    }


def _der(ck: CertKey) -> bytes:
    return ck.cert.public_bytes(Encoding.DER)


async def _settled(m: Machine, name: str) -> None:
    await asyncio.sleep(SETTLE_SECONDS)
    services = await m.services()
    if await services.status(name) != "running":
        raise await m.service_failed(name, f"{name} does not stay running after its restart")


async def _restarted(m: Machine, node: NodePlan, name: str, done: Done) -> None:
    started = time.monotonic()
    await (await m.services()).restart(name)
    await _settled(m, name)
    done.append(_did(node, name, "restarted", time.monotonic() - started))


async def _restart_etcd(ctx: EngineContext, node: NodePlan) -> None:
    m = Machine(ctx, node)
    await (await m.services()).restart("etcd")
    await m.wait_command(
        "etcd healthy",
        f"{members.ETCDCTL} {members.etcd_tls()} --command-timeout=5s endpoint health",
        steps_control.ETCD_WAIT,
    )
    await m.log("etcd restarted with its renewed certificates, healthy")


async def etcd_member(ctx: EngineContext, node: NodePlan, pki: ClusterPki, done: Done) -> None:
    """etcd serves its renewed server and peer certificates to new connections (it reads
    them at each handshake); restarted only when it does not."""
    m = Machine(ctx, node)
    client = pki.cert("etcd-healthcheck-client")
    waited: list[float | None] = []
    for port, cert in (
        (ETCD_CLIENT_PORT, pki.etcd_server(node.name)),
        (ETCD_PEER_PORT, pki.etcd_peer(node.name)),
    ):
        tls = await asyncio.to_thread(
            probe_context, pki.etcd_ca.cert_pem, client, node.address, port
        )
        waited.append(await wait_served(node.address, port, tls, _der(pki.cert(cert))))
    if None not in waited:
        took = max(w for w in waited if w is not None)
        await m.log(f"etcd serves its renewed certificates after {took:.1f}s, not restarted")
        done.append(_did(node, "etcd", "reloaded", took))
        return
    await m.log("etcd does not serve its renewed certificates: restarting it")
    started = time.monotonic()
    await _restart_etcd(ctx, node)
    done.append(_did(node, "etcd", "restarted", time.monotonic() - started))


async def _restart_apiserver(m: Machine) -> None:
    await (await m.services()).restart("kube-apiserver")
    await m.wait_command(
        "kube-apiserver /readyz",
        f"{steps_control.KUBECTL} get --raw=/readyz",
        steps_control.APISERVER_WAIT,
    )


async def control_plane(ctx: EngineContext, node: NodePlan, pki: ClusterPki, done: Done) -> None:
    """The API server serves its renewed certificate to new connections without a restart
    (restarted only when it does not); the controller manager and the scheduler are
    restarted (their kubeconfigs are read once)."""
    m = Machine(ctx, node)
    port = ctx.plan.api_port
    tls = await asyncio.to_thread(
        probe_context, pki.ca.cert_pem, pki.cert(ADMIN), node.address, port
    )
    took = await wait_served(node.address, port, tls, _der(pki.cert("apiserver")))
    if took is not None:
        await m.log(f"kube-apiserver serves its renewed certificate after {took:.1f}s")
        done.append(_did(node, "kube-apiserver", "reloaded", took))
    else:
        await m.log("kube-apiserver does not serve its renewed certificate: restarting it")
        started = time.monotonic()
        await _restart_apiserver(m)
        done.append(_did(node, "kube-apiserver", "restarted", time.monotonic() - started))
    for name in ("kube-controller-manager", "kube-scheduler"):
        await _restarted(m, node, name, done)
    await m.log("control plane running with its renewed certificates")


async def _renew_time(client: KubeClient, node: str) -> str:
    lease = await client.get(
        f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}"
    )
    return str(lease.get("spec", {}).get("renewTime") or "")


async def node_components(
    ctx: EngineContext, node: NodePlan, client: KubeClient, done: Done
) -> None:
    """The kubelet re-reads its serving pair but not its client certificate (embedded in
    its kubeconfig, rotation off): restarted, as kube-proxy and flanneld are."""
    m = Machine(ctx, node)
    services = await m.services()
    started = time.monotonic()
    await services.restart("kubelet")
    # Once the restart returns the old kubelet is gone: a renewal after this read is the
    # new one's (no clock of ours compared with the cluster's).
    before = await wait_api("lease", lambda: _renew_time(client, node.name), bool, 30)
    # The kubelet works again once it renews its node lease with its new certificate.
    renewed = await wait_api(
        f"node {node.name} lease",
        lambda: _renew_time(client, node.name),
        lambda at: bool(at) and at != before,
        KUBELET_WAIT,
        interval=0.5,
    )
    if not renewed:
        raise await m.service_failed("kubelet", "the kubelet did not renew its node lease")
    done.append(_did(node, "kubelet", "restarted", time.monotonic() - started))
    for name in ("kube-proxy", "flanneld"):
        if await services.status(name) != "stopped":
            await _restarted(m, node, name, done)
    await m.log("node components restarted with their renewed certificates")
