"""etcd snapshots and certificates of a real cluster created from two real-node lab machines
through a real `taichu serve` and a real bundle:

- an etcd snapshot is taken, stored (encrypted, checksummed) and listed; a namespace with
  objects is deleted (and another made); the restore brings the deleted one back and the
  later one is gone; the cluster is healthy again;
- a tampered archive is refused before the cluster is touched (etcd and the API server
  keep running the same processes);
- the component certificates are renewed: new expiry dates (also in what the API server
  and etcd present), the CA unchanged, the cluster healthy; etcd and the API server take up
  their renewed files without a restart (the same processes before and after), so the API
  answers throughout (its longest silence measured from outside and by the job, both
  printed and bounded well below one API server restart, which the test then measures on
  the same machine for comparison).

Needs real nodes and a bundle with etcdutl (scripts/lab-build.sh --with-node; the bundle
fixture runs `taichu artifact build`)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509

from taichu.lab.ssh_hosts import SshHost
from taichu.provision.install import layout as L
from tests.provision.serving import Provision, serve_platform
from tests.provision.test_create_lab import KUBECTL, add_machine, kubectl, needs_inputs, wait

pytestmark = [pytest.mark.lab, pytest.mark.real_nodes]
FINISHED = ("completed", "failed", "cancelled")
PRECIOUS = {
    "apiVersion": "v1",
    "kind": "List",
    "items": [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "precious"}},
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": "precious"},
            "data": {"greeting": "hello from before the snapshot"},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "token", "namespace": "precious"},
            "stringData": {"token": "s3cr3t"},
        },
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "robot", "namespace": "precious"},
        },
    ],
}


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle from the lab's binaries (TAICHU_LAB_* kept: they say where the cache is)."""
    dest = tmp_path_factory.mktemp("bundles")
    env = {
        k: v
        for k, v in os.environ.items()
        if k.startswith("TAICHU_LAB_") or not k.startswith("TAICHU_")
    }
    done = subprocess.run(
        [sys.executable, "-m", "taichu.cli", "artifact", "build", "--dest", str(dest)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return dest


@pytest.fixture
def served(tmp_path: Path, bundles: Path) -> Iterator[Provision]:
    with serve_platform(tmp_path, "etcdcert", bundles, TAICHU_HEALTH_INTERVAL="3") as p:
        yield p


class Prober(threading.Thread):
    """GET /readyz of the API server every 0.2 s from outside (anonymous: /readyz is
    public); keeps the longest stretch between two answers."""

    def __init__(self, server: str) -> None:
        super().__init__(daemon=True)
        self.server, self.stop = server, threading.Event()
        self.longest, self.failures, self.samples = 0.0, 0, 0

    def run(self) -> None:
        last = time.monotonic()
        with httpx.Client(verify=False, timeout=2) as client:  # noqa: S501 - a lab probe
            while not self.stop.is_set():
                self.samples += 1
                try:
                    ok = client.get(f"{self.server}/readyz").status_code == 200
                except httpx.HTTPError:
                    ok = False
                now = time.monotonic()
                if ok:
                    self.longest = max(self.longest, now - last)
                    last = now
                else:
                    self.failures += 1
                self.stop.wait(0.2)


def served_certificate(address: str) -> x509.Certificate:
    pem = ssl.get_server_certificate((address, 6443), timeout=10)
    return x509.load_pem_x509_certificate(pem.encode())


def healthy(p: Provision, cluster_id: str) -> dict[str, Any] | None:
    data = dict(p.get(f"/api/v1/clusters/{cluster_id}").json()["data"])
    return data if data["status"] == "healthy" and data.get("last_heartbeat_at") else None


def served_etcd_certificate(host: SshHost, workdir: Path) -> x509.Certificate:
    """What etcd presents on the machine's :2379 to a new connection (its health-check
    client pair, read from the machine, as the client)."""
    for name in ("ca.crt", "healthcheck-client.crt", "healthcheck-client.key"):
        data = host.exec(f"cat {L.ETCD_PKI}/{name}").stdout
        (workdir / name).write_text(data)
    tls = ssl.create_default_context(cafile=str(workdir / "ca.crt"))
    tls.load_cert_chain(workdir / "healthcheck-client.crt", workdir / "healthcheck-client.key")
    address = host.lan_address
    with (
        socket.create_connection((address, 2379), timeout=10) as raw,
        tls.wrap_socket(raw, server_hostname=address) as conn,
    ):
        der = conn.getpeercert(binary_form=True)
    assert der
    return x509.load_der_x509_certificate(der)


def restart_cost(host: SshHost) -> dict[str, float]:
    """One restart of the API server, as a renewal did before it reloaded: how long the
    stop and start command takes, and until /version and /readyz answer from outside."""
    started = time.monotonic()
    host.exec(
        f"if [ -x {L.SUPERVISOR} ]; then {L.SUPERVISOR} restart kube-apiserver; "
        "else systemctl restart taichu-kube-apiserver; fi"
    )
    restarted = time.monotonic() - started
    found: dict[str, float] = {"restart_command": restarted}
    with httpx.Client(verify=False, timeout=2) as client:  # noqa: S501 - a lab probe
        while len(found) < 3 and time.monotonic() - started < 300:
            for path in ("version", "readyz"):
                if path in found:
                    continue
                try:
                    response = client.get(f"https://{host.lan_address}:6443/{path}")
                except httpx.HTTPError:
                    continue
                if response.status_code == 200:
                    found[path] = time.monotonic() - started
            time.sleep(0.2)
    return {k: round(v, 1) for k, v in found.items()}


def pids(host: SshHost) -> str:
    """The running etcd and API server processes (pid and start time)."""
    return host.exec(
        "cat /run/taichu/etcd.pid /run/taichu/kube-apiserver.pid 2>/dev/null || "
        "systemctl show -p ExecMainPID taichu-etcd taichu-kube-apiserver"
    ).stdout


def finished(p: Provision, path: str, steps: list[str] | None = None) -> dict[str, Any] | None:
    data = dict(p.get(path).json()["data"])
    if steps is not None and data.get("current_step") and data["current_step"] not in steps:
        steps.append(data["current_step"])
    return data if data["status"] in FINISHED else None


@needs_inputs
def test_etcd_snapshot_restore_tamper_and_certificate_renewal(
    served: Provision,
    bundles: Path,
    real_node_hosts: Any,
    tmp_path: Path,
) -> None:
    (bundle_dir,) = [d for d in bundles.iterdir() if (d / "manifest.json").is_file()]
    hosts: list[SshHost] = real_node_hosts(2)
    master = hosts[0]
    ids = [
        add_machine(served, master, "CP-1", "master"),
        add_machine(served, hosts[1], "Worker-1", "worker"),
    ]
    response = served.create("real-etcd", ids, artifact_path=bundle_dir.name, with_packages=False)
    assert response.status_code == 200, response.text
    task_id, cluster_id = response.json()["data"]["id"], response.json()["data"]["cluster_id"]
    task = served.wait_task(task_id, lambda t: t["status"] in FINISHED, timeout=1200)
    assert task["status"] == "completed", (task["error_msg"], task["logs"][-3000:])
    wait("healthy", lambda: healthy(served, cluster_id), 180)

    # --- the snapshot ---------------------------------------------------------------------
    master.exec(f"{KUBECTL} apply -f - <<'EOF'\n{json.dumps(PRECIOUS)}\nEOF")
    backups = f"/api/v1/clusters/{cluster_id}/backups"
    body = {"backup_name": "etcd-1", "backup_type": "etcd", "retention_days": 7}
    response = served.post(backups, body)
    assert response.status_code == 200, response.text
    backup_id = response.json()["data"]["id"]
    started = time.monotonic()
    backup = wait("snapshot", lambda: finished(served, f"{backups}/{backup_id}"), 300)
    print(f"etcd snapshot backed up in {time.monotonic() - started:.1f}s")
    assert backup["status"] == "completed", backup["error_message"]
    assert backup["backup_type"] == "etcd" and backup["storage_size_bytes"] > 0
    assert backup["archive_sha256"] and backup["snapshot_timestamp"]
    assert backup["resource_counts"]["etcd_keys"] > 100, backup["resource_counts"]
    listed = served.get(backups).json()["data"]["backups"]
    assert [b["id"] for b in listed] == [backup_id]
    archive = Path(backup["storage_location"])
    assert archive.is_file() and b"hello from before" not in archive.read_bytes()  # encrypted
    assert master.exec("ls /var/tmp | grep -c taichu-etcd || true").stdout.strip() == "0"

    # --- a tampered archive is refused before the cluster is touched ------------------------
    original = archive.with_suffix(".orig")
    shutil.copyfile(archive, original)
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0x01
    archive.write_bytes(bytes(data))
    before = pids(master)
    restore_path = f"{backups}/{backup_id}/restore"
    response = served.post(restore_path, {"restore_name": "tampered"})
    assert response.status_code == 200, response.text
    tampered = wait(
        "tampered restore",
        lambda: finished(served, f"{restore_path}/{response.json()['data']['restore_id']}"),
        120,
    )
    assert tampered["status"] == "failed", tampered
    assert "failed verification" in tampered["error_message"], tampered
    assert "not touched" in tampered["error_message"], tampered
    assert pids(master) == before  # etcd and the API server were never restarted
    assert kubectl(master, "get configmap settings -n precious -o name").strip()
    shutil.move(original, archive)

    # --- lose a namespace, make another, restore ---------------------------------------------
    kubectl(master, "delete namespace precious --wait=true --timeout=120s")
    assert kubectl(master, "get namespace precious --ignore-not-found -o name").strip() == ""
    kubectl(master, "create namespace after-the-snapshot")
    response = served.post(restore_path, {"restore_name": "back-in-time"})
    assert response.status_code == 200, response.text
    restore_id = response.json()["data"]["restore_id"]
    steps: list[str] = []
    started = time.monotonic()
    # Sampled every 0.2 s: with the API servers' quick stop its steps last a second or two.
    deadline = time.monotonic() + 600
    while (restored := finished(served, f"{restore_path}/{restore_id}", steps)) is None:
        assert time.monotonic() < deadline, f"restore not within 600s: {steps}"
        time.sleep(0.2)
    print(f"etcd restored in {time.monotonic() - started:.1f}s, steps seen: {steps}")
    assert restored["status"] == "completed", (restored, steps)
    assert restored["progress"] == 100 and restored["counts"]["etcd-snapshot"]["restored"] == 1
    # The steps are sampled by polling, so a loaded machine may see none of the middle ones;
    # that etcd and the API server run anew is what shows the restore happened.
    assert pids(master) != before, steps
    config = json.loads(kubectl(master, "get configmap settings -n precious -o json"))
    assert config["data"] == {"greeting": "hello from before the snapshot"}
    secret = json.loads(kubectl(master, "get secret token -n precious -o json"))
    assert secret["data"]["token"] == "czNjcjN0"
    assert kubectl(master, "get serviceaccount robot -n precious -o name").strip()
    gone = kubectl(master, "get namespace after-the-snapshot --ignore-not-found -o name")
    assert gone.strip() == "", gone
    left = master.exec("ls -d /var/lib/etcd.taichu-* /var/lib/etcd/.taichu-* 2>/dev/null; true")
    assert left.stdout.strip() == "", left.stdout
    wait("healthy after the restore", lambda: healthy(served, cluster_id), 240)
    wait(
        "nodes Ready after the restore",
        lambda: (
            served.get(f"/api/v1/clusters/{cluster_id}/nodes").json()["data"]["summary"][
                "ready_count"
            ]
            == 2
        ),
        240,
    )

    # --- certificates --------------------------------------------------------------------------
    certs = served.get(f"/api/v1/clusters/{cluster_id}/certificates").json()["data"]
    old = {c["name"]: c["not_after"] for c in certs["components"]}
    assert {"apiserver", "admin", "kubelet-client-worker-1", "etcd-server-cp-1"} <= set(old)
    ca_before = certs["ca"]["not_after"]
    served_before = served_certificate(master.lan_address)
    etcd_before = served_etcd_certificate(master, tmp_path)
    processes = pids(master)
    prober = Prober(f"https://{master.lan_address}:6443")
    prober.start()
    time.sleep(1)  # the prober's first answers before the renewal starts
    response = served.post(f"/api/v1/clusters/{cluster_id}/certificates/renew", None)
    assert response.status_code == 200, response.text
    again = served.post(f"/api/v1/clusters/{cluster_id}/certificates/renew", None)
    assert again.status_code == 409, again.text
    started = time.monotonic()

    def renewal() -> dict[str, Any] | None:
        last = served.get(f"/api/v1/clusters/{cluster_id}/certificates").json()["data"]
        job = last["last_renewal"]
        return last if job["status"] in ("succeeded", "failed") else None

    after = wait("renewal", renewal, 900)
    took = time.monotonic() - started
    prober.stop.set()
    prober.join(10)
    job = after["last_renewal"]
    assert job["status"] == "succeeded", job
    measured = job["result"]["api_availability"]
    actions = {(c["machine"], c["component"]): c["action"] for c in job["result"]["components"]}
    print(
        f"certificates renewed in {took:.0f}s; API server's longest silence: "
        f"{prober.longest:.1f}s from outside ({prober.failures} of {prober.samples} probes "
        f"failed), {measured['longest_gap_seconds']}s seen by the job (gaps {measured['gaps']}); "
        f"components: {job['result']['components']}"
    )
    # etcd and the API server took up their files in place: the same processes (any
    # restart fails that, however quick), and the API's silence bounded at 4 s: a renewal
    # measured 0.58 s (job) and 0.4 s (outside) on this loaded 2-core lab, so 4 s leaves a
    # loaded machine's stalls 7x room (one poll may wait out its 2 s timeout). A restart
    # of the API server silenced it 19.8-22.8 s (job's /version) and 31-33 s (/readyz,
    # with etcd's restart) before --shutdown-send-retry-after; with it, stop + start is
    # still 4.6-9.4 s here (measured again below): either fails the bound.
    assert actions[("cp-1", "etcd")] == "reloaded", actions
    assert actions[("cp-1", "kube-apiserver")] == "reloaded", actions
    assert actions[("worker-1", "kubelet")] == "restarted", actions
    assert pids(master) == processes  # etcd and the API server never restarted
    assert prober.longest < 4, prober.longest
    assert measured["longest_gap_seconds"] < 4, measured
    new = {c["name"]: c["not_after"] for c in after["components"]}
    assert set(new) == set(old)
    assert all(new[n] > old[n] for n in old), (old, new)
    assert after["ca"]["not_after"] == ca_before  # the CA is not renewed
    served_after = served_certificate(master.lan_address)
    assert served_after.serial_number != served_before.serial_number
    assert served_after.not_valid_after_utc > served_before.not_valid_after_utc
    assert served_after.issuer == served_before.issuer
    etcd_after = served_etcd_certificate(master, tmp_path)
    assert etcd_after.serial_number != etcd_before.serial_number
    assert etcd_after.not_valid_after_utc > etcd_before.not_valid_after_utc
    wait("healthy after the renewal", lambda: healthy(served, cluster_id), 180)
    nodes = served.get(f"/api/v1/clusters/{cluster_id}/nodes").json()["data"]
    assert nodes["summary"]["ready_count"] == 2, nodes
    # The platform's own credential was renewed too: it still reads the cluster.
    assert served.get(f"/api/v1/clusters/{cluster_id}/nodes").status_code == 200
    events = served.get(f"/api/v1/clusters/{cluster_id}/events", limit=100).json()["data"]
    renewed = [e for e in events["events"] if e["reason"] == "CertificatesRenewed"]
    assert renewed and "etcd and kube-apiserver reloaded" in renewed[0]["message"], renewed

    # For the record: what one restart of the API server costs here (what the bound rules out).
    cost = restart_cost(master)
    print(f"one kube-apiserver restart on this machine, seconds from its start: {cost}")
    assert "readyz" in cost, cost
    wait("healthy after the restart", lambda: healthy(served, cluster_id), 180)
