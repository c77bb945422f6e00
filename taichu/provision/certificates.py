"""Certificates of a cluster the platform created: when they expire, the warning before
they do, and re-issuing component certificates (the renewal job: certificates_renew).

Where the dates come from: the cluster's PKI as the platform keeps it (encrypted, on its
create task). The platform is the only writer of those files on the machines — at
creation, and at each renewal, which writes the new PKI back only once every machine holds
its new files (each upload verified by checksum on the machine) — so reading it costs no
SSH round trip per detail request and works while machines are down. The renewal job
re-reads each machine's certificates after writing them: a machine whose files differ
fails the renewal, naming it.

The warning: a periodic check (`provision.certificate_check_interval_seconds`) records a
`CertificateExpiring` warning event for a cluster whose first expiry falls within
`provision.certificate_warning_days`; one event per expiry date (the next check finds it
and records nothing), so a renewal moves the date and a later warning is new."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.clusters import events as cluster_events
from taichu.clusters.models import SOURCE_CREATED, Cluster, PlatformEvent
from taichu.context import AppContext
from taichu.db.session import transaction
from taichu.jobs import service as jobs
from taichu.jobs.registry import JobContext, JobRegistry
from taichu.pki import CertKey, new_key
from taichu.provision.members import latest_task_id
from taichu.provision.models import CreateTask
from taichu.timeutil import rfc3339, utcnow

log = logging.getLogger("taichu.provision.certificates")
CHECK_KIND = "provision.certificates-check"
CHECK_TICK = "cluster-certificates"
WARNING_REASON = "CertificateExpiring"
VALIDITY = dt.timedelta(days=365)
MAX_CLUSTERS = 2000  # per check: created clusters are bounded by the machines


@dataclass(frozen=True)
class CertInfo:
    name: str
    subject: str
    issuer: str
    not_before: dt.datetime
    not_after: dt.datetime
    ca: bool

    def out(self, now: dt.datetime) -> dict[str, Any]:
        return {
            "name": self.name,
            "subject": self.subject,
            "issuer": self.issuer,
            "not_before": rfc3339(self.not_before),
            "not_after": rfc3339(self.not_after),
            "days_left": int((self.not_after - now).total_seconds() // 86400),
        }


def info(name: str, cert: x509.Certificate, *, ca: bool = False) -> CertInfo:
    return CertInfo(
        name=name,
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        ca=ca,
    )


def cas_of(pki: Any) -> list[tuple[str, CertKey]]:
    """The CAs of a PKI (the installer's has three; a stand-in pipeline's may have one)."""
    found = [("ca", pki.ca)]
    for name, attr in (("etcd-ca", "etcd_ca"), ("front-proxy-ca", "front_proxy_ca")):
        if getattr(pki, attr, None) is not None:
            found.append((name, getattr(pki, attr)))
    return found


def components_of(pki: Any) -> dict[str, CertKey]:
    certs = getattr(pki, "certs", None)
    if isinstance(certs, dict):
        return dict(certs)
    admin = getattr(pki, "admin", None)
    return {"admin": admin} if admin is not None else {}


def expiries(pki: Any) -> tuple[list[CertInfo], list[CertInfo]]:
    """(CAs, component certificates), each sorted by name."""
    cas = [info(n, ck.cert, ca=True) for n, ck in cas_of(pki)]
    components = [info(n, ck.cert) for n, ck in sorted(components_of(pki).items())]
    return cas, components


def first_expiry(certs: list[CertInfo]) -> CertInfo | None:
    return min(certs, key=lambda c: (c.not_after, c.name), default=None)


def summary(pki: Any, now: dt.datetime, warning_days: int) -> dict[str, Any]:
    cas, components = expiries(pki)
    first = first_expiry(cas + components)
    return {
        "ca": cas[0].out(now) if cas else None,
        "cas": [c.out(now) for c in cas],
        "components": [c.out(now) for c in components],
        "first_expiry": first.out(now) if first else None,
        "warning_days": warning_days,
        "expiring_soon": bool(first and warning_due(first, now, warning_days)),
        "source": "the cluster PKI the platform wrote to its machines (create task and renewals)",
    }


def warning_due(cert: CertInfo, now: dt.datetime, days: int) -> bool:
    """Within `days` of its expiry (or past it)."""
    return cert.not_after - now <= dt.timedelta(days=days)


def warning_message(cluster: Cluster, cert: CertInfo, now: dt.datetime) -> str:
    """Names the certificate and its expiry date: the same expiry gives the same text,
    which is how a check finds the warning it recorded before."""
    what = "CA" if cert.ca else "certificate"
    verb = "expired" if cert.not_after <= now else "expires"
    how = (
        "the CA is not renewed by the platform"
        if cert.ca
        else f"renew with POST /api/v1/clusters/{cluster.id}/certificates/renew"
    )
    return (
        f"The {what} {cert.name} of cluster {cluster.name} {verb} at "
        f"{rfc3339(cert.not_after)}: {how}"
    )


# --- the stored PKI ------------------------------------------------------------------------


async def stored_pki(app: AppContext, session: AsyncSession, cluster: Cluster) -> Any | None:
    """The PKI kept on the cluster's create task (None: not a created cluster, or none)."""
    from taichu.provision import engine

    if cluster.source != SOURCE_CREATED:
        return None
    task_id = await latest_task_id(session, cluster.id)
    blob = (
        await session.scalar(select(CreateTask.pki_encrypted).where(CreateTask.id == task_id))
        if task_id
        else None
    )
    if not blob:
        return None
    pipeline = engine.load_pipeline(app.settings.provision.pipeline)
    text = app.box.decrypt(blob)
    return await asyncio.to_thread(pipeline.load_pki, text)


async def cluster_certificates(
    app: AppContext, session: AsyncSession, cluster: Cluster
) -> dict[str, Any] | None:
    """What a cluster's detail shows; None when there is nothing to show (a cluster the
    platform did not create) or the kept PKI cannot be read (logged: a detail never fails
    for it)."""
    try:
        pki = await stored_pki(app, session, cluster)
        if pki is None:
            return None
        days = app.settings.provision.certificate_warning_days
        return await asyncio.to_thread(summary, pki, utcnow(), days)
    except Exception:
        log.warning("cluster %s: its PKI cannot be read", cluster.id, exc_info=True)
        return None


# --- re-issuing ----------------------------------------------------------------------------

_RECOMPUTED = (x509.AuthorityKeyIdentifier, x509.SubjectKeyIdentifier)


def reissue(ca: CertKey, old: x509.Certificate, now: dt.datetime | None = None) -> CertKey:
    """The same certificate (subject, names, usages) with a new key and a new validity,
    signed by `ca`. Blocking (a key and a signature): call it in a thread."""
    now = now or dt.datetime.now(dt.UTC)
    key = new_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(old.subject)
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
    )
    for ext in old.extensions:
        if not isinstance(ext.value, _RECOMPUTED):
            builder = builder.add_extension(ext.value, critical=ext.critical)
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
    )
    return CertKey(builder.sign(ca.key, hashes.SHA256()), key)


def issuer_of(pki: Any, cert: x509.Certificate) -> CertKey:
    for _, ca in cas_of(pki):
        try:  # by signature: a name says nothing (two clusters' CAs may share one)
            cert.verify_directly_issued_by(ca.cert)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return ca
    raise ValueError(f"no CA of the cluster issued {cert.subject.rfc4514_string()}")


def renew_components(pki: Any) -> Any:
    """A copy of the installer's ClusterPki with every component certificate re-issued by
    the CA that issued it; the CAs and the service-account key stay. Blocking."""
    from dataclasses import replace

    certs = {name: reissue(issuer_of(pki, ck.cert), ck.cert) for name, ck in pki.certs.items()}
    return replace(pki, certs=certs)


# --- the warning check ---------------------------------------------------------------------


async def check_all(job: JobContext) -> dict[str, Any]:
    app = job.app
    days = app.settings.provision.certificate_warning_days
    now = utcnow()
    async with app.read_sessions() as session:
        clusters = list(
            await session.scalars(
                select(Cluster).where(Cluster.source == SOURCE_CREATED).limit(MAX_CLUSTERS)
            )
        )
        due: list[tuple[Cluster, CertInfo]] = []
        for cluster in clusters:
            try:
                pki = await stored_pki(app, session, cluster)
            except Exception:  # one unreadable PKI must not hide the others' warnings
                job.logger.warning("cluster %s: PKI unreadable", cluster.id, exc_info=True)
                continue
            if pki is None:
                continue
            cas, components = await asyncio.to_thread(expiries, pki)
            first = first_expiry(cas + components)
            if first is not None and warning_due(first, now, days):
                due.append((cluster, first))
    recorded = 0
    for cluster, cert in due:
        message = warning_message(cluster, cert, now)
        async with transaction(app.sessions) as session:
            seen = await session.scalar(
                select(PlatformEvent.id).where(
                    PlatformEvent.cluster_id == cluster.id,
                    PlatformEvent.reason == WARNING_REASON,
                    PlatformEvent.message == message,
                )
            )
            if seen is None and await session.get(Cluster, cluster.id) is not None:
                await cluster_events.record(
                    session,
                    cluster.id,
                    reason=WARNING_REASON,
                    severity="warning",
                    message=message,
                    component="health-monitor",
                )
                recorded += 1
    return {"clusters": len(clusters), "due": len(due), "recorded": recorded}


def register(registry: JobRegistry, settings: Any) -> None:
    registry.handler(CHECK_KIND, max_attempts=1)(check_all)

    async def tick(session: AsyncSession, now: dt.datetime) -> None:
        await jobs.enqueue(session, CHECK_KIND, {}, dedup_key=CHECK_TICK, max_attempts=1)

    registry.periodic(CHECK_TICK, settings.provision.certificate_check_interval_seconds, tick)
