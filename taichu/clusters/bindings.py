"""Runtime family: clusters registered by API-server address, and per-user Kubernetes
identities (service-account tokens) that runtime reads run as."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from taichu.audit import context as audit
from taichu.audit import recording
from taichu.auth.principal import Principal
from taichu.clusters import events
from taichu.clusters.models import Cluster, K8sAccountBinding
from taichu.clusters.service import (
    access_for,
    connect_policy,
    ensure_may_bind,
    get_cluster,
    name_taken,
    store_new,
    target_policy,
    unreachable_reason,
)
from taichu.context import AppContext
from taichu.db.session import transaction
from taichu.errors import Conflict, Forbidden, Invalid, TaichuError, Unauthorized
from taichu.kube import (
    PLATFORM_IDENTITY,
    ClusterAccess,
    ClusterForbidden,
    ClusterUnreachable,
    CredentialsRejected,
    access_from_token,
)
from taichu.kube.access import check_certificates
from taichu.kube.targets import check_server

# Any bearer proves reachability and TLS: the server answers 401 to a token it does not know.
_PROBE_TOKEN = "taichu-reachability-probe"  # noqa: S105 - deliberately not a credential


@dataclass
class AddressRegistration:
    name: str
    api_server: str
    port: int
    description: str
    ca_certificate: str | None
    insecure_skip_tls_verify: bool


def server_url(api_server: str, port: int) -> str:
    host = api_server.strip().removeprefix("https://").rstrip("/")
    if not host or "/" in host or "@" in host or " " in host:
        raise Invalid("api_server: must be a host name or IP address")
    if host.count(":") > 1 and not host.startswith("["):
        host = f"[{host}]"  # IPv6 literal
    return f"https://{host}:{port}"


def _runtime_access(cluster: Cluster, app: AppContext, token: str) -> ClusterAccess:
    ca = app.box.decrypt(cluster.ca_data_encrypted) if cluster.ca_data_encrypted else None
    return access_from_token(
        cluster.api_server_url, token, ca, insecure=cluster.insecure_skip_tls_verify
    ).restricted(connect_policy(app, cluster))


async def register_by_address(
    app: AppContext, session: AsyncSession, reg: AddressRegistration, owner: Principal
) -> Cluster:
    url = server_url(reg.api_server, reg.port)
    ca = check_certificates(reg.ca_certificate, "ca_certificate") if reg.ca_certificate else None
    policy = target_policy(app, owner)
    probe = access_from_token(
        url, _PROBE_TOKEN, ca, insecure=reg.insecure_skip_tls_verify
    ).restricted(None if policy.allow_loopback else policy)
    await check_server(url, policy, "api_server", app.settings.kube.connect_timeout_seconds)
    try:
        async with app.kube.client(f"probe:{url}", probe) as kube:
            await kube.version()
    except (CredentialsRejected, ClusterForbidden):
        pass  # it answered over verified TLS: reachable
    except ClusterUnreachable as e:
        reason = unreachable_reason(owner.is_admin, url, e.message)
        raise Invalid(f"api_server: cannot use {url}: {reason}") from e
    except TaichuError as e:
        raise Invalid(f"api_server: cannot use {url}: {e.message}") from e
    finally:
        await app.kube.invalidate(f"probe:{url}")
    if await name_taken(session, reg.name):
        raise Conflict(f"cluster name '{reg.name}' already exists")
    cluster = Cluster(
        name=reg.name,
        description=reg.description,
        source="runtime",
        api_server_url=url,
        ca_data_encrypted=app.box.encrypt(ca) if ca else None,
        status="unknown",
        insecure_skip_tls_verify=reg.insecure_skip_tls_verify,
        created_by=owner.username,
        owner_id=owner.user_id,
        shared=owner.is_admin,
    )
    await store_new(session, cluster)
    await events.record(
        session,
        cluster.id,
        reason="Registered",
        severity="info",
        message=f"Cluster {reg.name} registered by address ({url})",
    )
    audit.note(
        resource="cluster",
        resource_id=cluster.id,
        cluster_id=cluster.id,
        new_value={"name": reg.name, "api_server_url": url},
    )
    return cluster


def base_access(cluster: Cluster, app: AppContext, token: str) -> ClusterAccess:
    """The cluster's address and trust, with `token` as the identity."""
    if cluster.kubeconfig_encrypted:
        return access_for(cluster, app).with_token(token)
    return _runtime_access(cluster, app, token)


async def bind_account(
    app: AppContext, principal: Principal, cluster_id: str, token: str, namespace: str
) -> K8sAccountBinding:
    """Verify the token against the cluster (who does it say it is?), then store it
    encrypted. Short transactions before and after: none is held across the call."""
    async with transaction(app.sessions) as session:
        cluster = await get_cluster(session, cluster_id)
        ensure_may_bind(principal, cluster)
        access = base_access(cluster, app, token)
    identity = f"user:{principal.user_id}"
    try:
        async with app.kube.client(cluster.id, access, identity) as kube:
            subject = await kube.self_subject_review()
    except (CredentialsRejected, Unauthorized) as e:
        raise Invalid(f"token: rejected by cluster {cluster.name}: {e.message}") from e
    except TaichuError as e:
        raise Invalid(f"token: cannot verify against cluster {cluster.name}: {e.message}") from e
    async with transaction(app.sessions) as session:
        binding = await _binding_row(session, principal.user_id, cluster.id)
        binding.token_encrypted = app.box.encrypt(token)
        binding.namespace, binding.subject = namespace, subject
        await session.flush()
        audit.note(
            resource="account",
            resource_id=binding.id,
            cluster_id=cluster.id,
            new_value={"cluster_id": cluster.id, "namespace": namespace, "subject": subject},
        )
        await recording.write_current(session)  # committed with the binding
    return binding


async def _binding_row(session: AsyncSession, user_id: str, cluster_id: str) -> K8sAccountBinding:
    """The user's binding to the cluster, inserted if missing. A concurrent first bind of
    the same pair may insert it between our read and our insert: the savepoint keeps our
    transaction usable and we take that row (the later token wins, as for any re-bind)."""
    query = select(K8sAccountBinding).where(
        K8sAccountBinding.user_id == user_id, K8sAccountBinding.cluster_id == cluster_id
    )
    binding = await session.scalar(query)
    if binding is not None:
        return binding
    binding = K8sAccountBinding(user_id=user_id, cluster_id=cluster_id, token_encrypted="")
    try:
        async with session.begin_nested():
            session.add(binding)
            await session.flush()
    except IntegrityError:
        binding = await session.scalar(query)
        if binding is None:
            raise
    return binding


@dataclass(frozen=True)
class RuntimeIdentity:
    """Whom a runtime read runs as."""

    access: ClusterAccess
    key: str  # the connection manager's identity key
    subject: str  # who the cluster knows it as (for messages)


async def identity_for(
    app: AppContext, session: AsyncSession, principal: Principal, cluster: Cluster
) -> RuntimeIdentity:
    """Whom runtime reads run as: the user's bound account; for an admin without one,
    the platform's own credentials. Anyone else must bind an account first."""
    binding = await session.scalar(
        select(K8sAccountBinding).where(
            K8sAccountBinding.user_id == principal.user_id,
            K8sAccountBinding.cluster_id == cluster.id,
        )
    )
    if binding is not None:
        ensure_may_bind(principal, cluster)  # a binding made before the cluster was private
        token = app.box.decrypt(binding.token_encrypted)
        return RuntimeIdentity(
            base_access(cluster, app, token),
            f"user:{principal.user_id}",
            binding.subject or "your bound account",
        )
    if principal.is_admin and cluster.kubeconfig_encrypted:
        return RuntimeIdentity(
            access_for(cluster, app),
            PLATFORM_IDENTITY,
            f"the platform's account on {cluster.name}",
        )
    raise Forbidden(
        f"no Kubernetes account bound for cluster {cluster.name}: "
        "POST /api/auth/k8s/account/bind/ with a service-account token"
    )
