"""`backup_type: etcd` of a cluster the platform created: `etcdctl snapshot save` on a
healthy member (with the member's own etcd client certificate), checked there with
`etcdutl snapshot status`, fetched over SFTP (bounded), and stored as every backup is: an
encrypted, checksummed archive (taichu.backups.archive) in local or S3 storage, whose one
part holds the snapshot's bytes and whose manifest says what etcdutl said of it.

The snapshot part is JSON lines `{"b": "<base64>"}` of SNAPSHOT_PIECE bytes each: the
archive's reader and verifier (every chunk authenticated, the part's hash and count, the
HMAC over the file) check it like any other part, with no second format."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from taichu.backups.writer import ArchiveWriter
from taichu.clusters.models import Cluster
from taichu.errors import Invalid, TaichuError
from taichu.jobs.registry import PermanentJobError
from taichu.provision import members
from taichu.provision.plan import NodePlan, StepFailed
from taichu.provision.runtime import EngineContext, Run

SNAPSHOT_RESOURCE = "etcd-snapshot"
SNAPSHOT_PIECE = 192 << 10  # raw bytes per line: 256 KiB of base64, one default chunk
TAKING = "Taking the etcd snapshot"
STORING = "Storing the etcd snapshot"
ETCD_UNAVAILABLE = (
    "backup_type: etcd snapshots are not available for this cluster: they need SSH access "
    "to its control-plane machines, which the platform does not have for it"
)
# mktemp -d makes a fresh private directory under it (not a predictable path).
SAVE_PREFIX = "/var/tmp/taichu-etcd."  # noqa: S108
_SHA = re.compile(r"^[0-9a-f]{64}$")
_ONLY_RESOURCE_OPTIONS = ("included_namespaces", "excluded_namespaces", "label_selector")


def check_etcd_request(cluster: Cluster | None, options: dict[str, Any]) -> None:
    """422 unless the cluster is one the platform created (it reaches its etcd members),
    and no option of a resource backup is given (a snapshot is all of etcd)."""
    if cluster is None or not members.is_created(cluster):
        raise Invalid(ETCD_UNAVAILABLE)
    for name in _ONLY_RESOURCE_OPTIONS:
        if options.get(name):
            raise Invalid(f"{name}: an etcd snapshot holds the whole cluster; it takes no {name}")


@dataclass(frozen=True)
class Snapshot:
    member: str  # node name of the member it was taken on
    path: Path  # the local copy
    size: int
    sha256: str
    status: dict[str, Any]  # etcdutl snapshot status -w json

    def manifest(self) -> dict[str, Any]:
        return {
            "member": self.member,
            "size": self.size,
            "sha256": self.sha256,
            "revision": self.status.get("revision"),
            "total_keys": self.status.get("totalKey"),
            "total_size": self.status.get("totalSize"),
            "hash": self.status.get("hash"),
            "version": self.status.get("version"),
        }


def parse_status(text: str) -> dict[str, Any]:
    """etcdutl's JSON status line (bounded: the command's output is capped)."""
    for line in reversed(text.strip().splitlines()[-20:]):
        line = line.strip()
        if line.startswith("{"):
            try:
                doc = json.loads(line)
            except ValueError:
                break
            if isinstance(doc, dict) and isinstance(doc.get("revision"), int):
                return doc
    raise ValueError("etcdutl snapshot status printed no status")


async def healthy_member(ctx: EngineContext, nodes: tuple[NodePlan, ...]) -> NodePlan:
    """The first member whose etcd answers its health check (each asked with its own
    certificates, on its own loopback)."""
    problems = []
    for node in nodes:
        try:
            result = await ctx.run(
                node,
                f"{members.ETCDCTL} {members.etcd_tls()} --command-timeout=5s endpoint health",
                timeout=30,
                check=False,
            )
        except StepFailed as e:
            problems.append(f"{node.name}: {e.message}")
            continue
        if result.exit_status == 0:
            return node
        problems.append(f"{node.name}: not healthy")
    raise StepFailed(None, TAKING, f"no etcd member is healthy ({'; '.join(problems)[:800]})")


def _save_script(node: NodePlan) -> str:
    """Save into a private directory of the machine, check it, and print what the platform
    compares: its status, its sha256 and size; the login user may read it (SFTP). A
    failure removes the directory."""
    owner = shlex.quote(node.target.username)
    chown = f'chown -R {owner} "$d" || fail; ' if node.target.needs_sudo else ""
    snapshot = '"$d/snapshot.db"'
    return (
        f"test -x {members.ETCDUTL} || "
        f"{{ echo '{members.ETCDUTL} is missing: the cluster was created from a bundle "
        "without etcdutl' >&2; exit 3; }; "
        f"d=$(mktemp -d {SAVE_PREFIX}XXXXXX) || exit 1; "
        'fail() { rm -rf "$d"; exit 1; }; chmod 700 "$d" || fail; '
        f"{members.ETCDCTL} {members.etcd_tls()} snapshot save {snapshot} >/dev/null || fail; "
        f"{members.ETCDUTL} snapshot status {snapshot} -w json || fail; "
        f'echo "sha256=$(sha256sum {snapshot} | cut -d" " -f1)"; '
        f'echo "size=$(stat -c %s {snapshot})"; '
        f'{chown}echo "dir=$d"'
    )


def _field(output: str, name: str) -> str:
    for line in output.splitlines():
        if line.startswith(f"{name}="):
            return line[len(name) + 1 :].strip()
    return ""


async def take_snapshot(run: Run, spool: Path, *, max_bytes: int, seconds: float) -> Snapshot:
    ctx = members.context(run, "etcd-snapshot", TAKING)
    node = await healthy_member(ctx, run.plan.etcd_members())
    await ctx.log(node, "saving an etcd snapshot")
    result = await ctx.run(node, _save_script(node), timeout=seconds)
    directory, sha = _field(result.stdout, "dir"), _field(result.stdout, "sha256")
    try:
        status = parse_status(result.stdout)
        size = int(_field(result.stdout, "size"))
    except ValueError as e:
        raise StepFailed(node, TAKING, str(e), result.stdout + result.stderr) from e
    if not directory.startswith(SAVE_PREFIX) or not _SHA.match(sha):
        raise StepFailed(node, TAKING, "the snapshot command said no file", result.stdout)
    remote = f"{directory}/snapshot.db"
    try:
        async with run.app.ssh.session(node.target) as ssh:
            got = await ssh.download(remote, spool, max_bytes=max_bytes, timeout=seconds)
    except TaichuError as e:
        raise StepFailed(node, TAKING, f"fetching the snapshot: {e.message}") from e
    finally:
        await ctx.run(node, f"rm -rf -- {shlex.quote(directory)}", timeout=30, check=False)
    if got.sha256 != sha or got.size != size:
        raise StepFailed(
            node, TAKING, "the fetched snapshot differs from the member's (checksum or size)"
        )
    await ctx.log(
        node,
        f"snapshot at revision {status.get('revision')}: {status.get('totalKey')} keys, "
        f"{size} bytes",
    )
    return Snapshot(node.name, spool, size, sha, status)


def _line(piece: bytes) -> bytes:
    return b'{"b":"' + base64.b64encode(piece) + b'"}'


async def write_snapshot(writer: ArchiveWriter, snapshot: Snapshot) -> None:
    """The snapshot as the archive's one part (read and encoded off the event loop)."""
    await writer.start()
    part = writer.part({"resource": SNAPSHOT_RESOURCE, "namespace": None})
    handle = await asyncio.to_thread(snapshot.path.open, "rb")
    try:
        while True:
            piece = await asyncio.to_thread(handle.read, SNAPSHOT_PIECE)
            if not piece:
                break
            await part.add(await asyncio.to_thread(_line, piece))
    finally:
        await asyncio.to_thread(handle.close)
    await part.close()


def extract_snapshot(verified: Any, archive: BinaryIO, out: Path) -> tuple[int, str]:
    """Write the snapshot part of a verified archive to `out`; (size, sha256). Blocking:
    run it in a thread."""
    parts = [p for p in verified.parts if p.get("resource") == SNAPSHOT_RESOURCE]
    if len(parts) != 1:
        raise PermanentJobError("the backup archive holds no etcd snapshot")
    digest, size = hashlib.sha256(), 0
    with out.open("wb") as handle:
        for line in verified.objects(archive, int(parts[0]["index"])):
            piece = base64.b64decode(line["b"], validate=True)
            digest.update(piece)
            size += len(piece)
            handle.write(piece)
    return size, digest.hexdigest()


def snapshot_path(settings: Any, name: str) -> Path:
    path = Path(settings.data_dir) / "tmp" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


__all__ = ["Snapshot", "check_etcd_request", "take_snapshot", "write_snapshot"]
