"""A cluster created from a lab machine by the test pipeline, through a real `taichu
serve`: its detail shows when its CA and certificates expire; the health monitor's
certificate check records one warning event per expiry, not one per tick; an etcd backup
is accepted for it (and refused with resource options) and fails naming why when no etcd
member answers; a renewal runs as a job whose outcome the certificates endpoint shows."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from taichu.lab.ssh_hosts import SshHost
from tests.provision.serving import Provision, reset_hosts, serve_provision

pytestmark = pytest.mark.lab


def until(fetch: Callable[[], Any], ok: Callable[[Any], bool], timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if ok(value):
            return value
        assert time.monotonic() < deadline, value
        time.sleep(0.3)


@pytest.fixture
def served(tmp_path: Path, ssh_hosts: list[SshHost]) -> Iterator[Provision]:
    reset_hosts(ssh_hosts)
    # Certificates live 365 days: a 400-day threshold makes them due now; a check a second.
    with serve_provision(
        tmp_path,
        "certs",
        TAICHU_PROVISION__CERTIFICATE_WARNING_DAYS="400",
        TAICHU_PROVISION__CERTIFICATE_CHECK_INTERVAL_SECONDS="1",
    ) as s:
        yield s


def _created(served: Provision, host: SshHost) -> str:
    ids = [served.add_machine(host, "cert-cp", "master")]
    created = served.create("with-certs", ids).json()["data"]
    task = served.wait_task(created["id"], lambda t: t["status"] in ("completed", "failed"))
    assert task["status"] == "completed", task
    return str(created["cluster_id"])


def _warnings(served: Provision, cluster_id: str) -> list[Any]:
    return served.sql(
        "SELECT message, severity, component FROM platform_events "
        "WHERE cluster_id = :id AND reason = 'CertificateExpiring'",
        id=cluster_id,
    )


def _checks(served: Provision) -> int:
    (row,) = served.sql(
        "SELECT count(*) FROM jobs WHERE kind = 'provision.certificates-check' "
        "AND status = 'succeeded'"
    )
    return int(row[0])


def test_certificate_expiry_warning_once_etcd_backup_and_renewal(
    served: Provision, ssh_hosts: list[SshHost]
) -> None:
    cluster_id = _created(served, ssh_hosts[0])
    detail = served.get(f"/api/v1/clusters/{cluster_id}").json()["data"]
    certs = detail["certificates"]
    assert certs["ca"]["name"] == "ca" and certs["ca"]["subject"] == "CN=with-certs-ca"
    assert certs["ca"]["days_left"] >= 3640
    assert [c["name"] for c in certs["components"]] == ["admin"]
    assert certs["components"][0]["days_left"] in (364, 365)
    assert certs["first_expiry"]["name"] == "admin"
    assert certs["warning_days"] == 400 and certs["expiring_soon"] is True
    own = served.get(f"/api/v1/clusters/{cluster_id}/certificates")
    assert own.status_code == 200, own.text
    assert own.json()["data"]["first_expiry"] == certs["first_expiry"]
    assert own.json()["data"]["last_renewal"] is None

    # One warning for this expiry, however many checks run after it.
    (warning,) = until(lambda: _warnings(served, cluster_id), lambda rows: len(rows) >= 1)
    assert warning[1:] == ("warning", "health-monitor")
    assert "admin of cluster with-certs expires at " in warning[0]
    assert certs["first_expiry"]["not_after"] in warning[0]
    seen = _checks(served)
    until(lambda: _checks(served), lambda n: n >= seen + 3, timeout=60)
    assert len(_warnings(served, cluster_id)) == 1
    events = served.get(f"/api/v1/clusters/{cluster_id}/events", limit=100).json()["data"]
    assert [e for e in events["events"] if e["reason"] == "CertificateExpiring"]

    # An etcd snapshot: resource options refused; accepted, it fails saying why.
    path = f"/api/v1/clusters/{cluster_id}/backups"
    body = {"backup_name": "snap-1", "backup_type": "etcd", "retention_days": 3}
    refused = served.post(path, {**body, "included_namespaces": ["default"]})
    assert refused.status_code == 422, refused.text
    assert refused.json()["message"].startswith("included_namespaces:")
    accepted = served.post(path, body)
    assert accepted.status_code == 200, accepted.text
    backup_id = accepted.json()["data"]["id"]
    failed = until(
        lambda: served.get(f"{path}/{backup_id}").json()["data"],
        lambda b: b["status"] in ("completed", "failed"),
    )
    assert failed["status"] == "failed", failed
    assert "etcd backup failed while taking the etcd snapshot" in failed["error_message"]
    assert "no etcd member is healthy" in failed["error_message"]
    assert failed["storage_size_bytes"] == 0
    listed = served.get(path).json()["data"]
    assert [b["backup_type"] for b in listed["backups"]] == ["etcd"]
    schedule = served.post(
        f"/api/v1/clusters/{cluster_id}/backup-schedules",
        {"name": "nightly-etcd", "cron_expression": "0 2 * * *", "backup_type": "etcd"},
    )
    assert schedule.status_code == 200, schedule.text

    # A renewal is a job; its outcome shows on the certificates endpoint.
    renew = served.post(f"/api/v1/clusters/{cluster_id}/certificates/renew", None)
    assert renew.status_code == 200, renew.text
    job = renew.json()["data"]
    assert job["status"] == "queued" and job["job_id"]
    last = until(
        lambda: served.get(f"/api/v1/clusters/{cluster_id}/certificates").json()["data"],
        lambda d: d["last_renewal"]["status"] in ("succeeded", "failed"),
    )["last_renewal"]
    assert last["job_id"] == job["job_id"]
    # The test pipeline's PKI is a CA and an admin certificate: nothing the installer runs.
    assert last["status"] == "failed" and "not made by the installer" in last["error_message"]
