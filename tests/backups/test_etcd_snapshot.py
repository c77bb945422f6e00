"""etcd snapshots as archives (pure logic on the real archive code): a snapshot written
as the archive's part reads back byte for byte; a changed byte anywhere is refused before
anything could be restored; what etcdutl prints is parsed; the requests the platform
refuses for an etcd backup or restore; the commands run on the members."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from taichu.backups import etcd_snapshot as snap
from taichu.backups.archive import ArchiveError
from taichu.backups.reader import Verifier
from taichu.backups.schemas import RestoreCreate
from taichu.backups.service import check_etcd_restore
from taichu.backups.writer import ArchiveWriter
from taichu.errors import Invalid
from taichu.provision import members
from taichu.provision.plan import NodePlan
from taichu.ssh.target import SshCredentials, SshTarget

KEK = os.urandom(32)
STATUS = '{"hash":3787574961,"revision":1520,"totalKey":612,"totalSize":2539520,"version":"3.6.0"}'


class Buffer:
    def __init__(self) -> None:
        self.data = bytearray()

    async def write(self, data: bytes) -> None:
        self.data += data


async def _archive(tmp_path: Path, payload: bytes) -> bytes:
    path = tmp_path / "snapshot.db"
    path.write_bytes(payload)
    snapshot = snap.Snapshot(
        "cp-1", path, len(payload), hashlib.sha256(payload).hexdigest(), snap.parse_status(STATUS)
    )
    sink = Buffer()
    writer = ArchiveWriter(
        sink, backup_id="b-1", cluster_id="c-1", created_at="t", kek=KEK, chunk_size=256 << 10
    )
    await snap.write_snapshot(writer, snapshot)
    await writer.finish({"backup_type": "etcd", "etcd": snapshot.manifest()})
    return bytes(sink.data)


def _verify(data: bytes):  # type: ignore[no-untyped-def]
    verifier = Verifier(KEK)
    for i in range(0, len(data), 1 << 20):
        verifier.feed(data[i : i + (1 << 20)])
    return verifier.finish()


async def test_a_snapshot_reads_back_byte_for_byte(tmp_path: Path) -> None:
    payload = os.urandom(3 * snap.SNAPSHOT_PIECE + 12345)  # several pieces, a short last one
    data = await _archive(tmp_path, payload)
    verified = _verify(data)
    etcd = verified.manifest["etcd"]
    assert etcd["revision"] == 1520 and etcd["total_keys"] == 612 and etcd["member"] == "cp-1"
    out = tmp_path / "out.db"
    size, sha = snap.extract_snapshot(verified, io.BytesIO(data), out)
    assert (size, sha) == (len(payload), hashlib.sha256(payload).hexdigest())
    assert sha == etcd["sha256"] and out.read_bytes() == payload


@pytest.mark.parametrize("where", [0.02, 0.5, 0.98])
async def test_any_changed_byte_of_a_snapshot_archive_is_refused(
    tmp_path: Path, where: float
) -> None:
    data = bytearray(await _archive(tmp_path, os.urandom(600_000)))
    data[int(len(data) * where)] ^= 0x01
    with pytest.raises(ArchiveError):
        _verify(bytes(data))


async def test_an_archive_without_a_snapshot_is_not_restored(tmp_path: Path) -> None:
    sink = Buffer()
    writer = ArchiveWriter(
        sink, backup_id="b-1", cluster_id="c-1", created_at="t", kek=KEK, chunk_size=1024
    )
    await writer.start()
    await writer.finish({"backup_type": "full"})
    verified = _verify(bytes(sink.data))
    with pytest.raises(Exception, match="holds no etcd snapshot"):
        snap.extract_snapshot(verified, io.BytesIO(bytes(sink.data)), tmp_path / "x")


def test_etcdutl_status_is_parsed_and_garbage_is_refused() -> None:
    assert snap.parse_status(f"Deprecated: something\n{STATUS}\n")["totalKey"] == 612
    for text in ("", "no json here", '{"revision": "x"}', "{broken"):
        with pytest.raises(ValueError):
            snap.parse_status(text)


def _cluster(source: str) -> SimpleNamespace:
    return SimpleNamespace(id="c-1", name="c1", source=source)


def test_etcd_backups_need_a_created_cluster_and_take_no_resource_options() -> None:
    for cluster in (None, _cluster("manual"), _cluster("import")):
        with pytest.raises(Invalid, match="not available for this cluster"):
            snap.check_etcd_request(cluster, {})  # type: ignore[arg-type]
    snap.check_etcd_request(_cluster("created"), {"include_cluster_resources": None})  # type: ignore[arg-type]
    for name, value in (
        ("included_namespaces", ["a"]),
        ("excluded_namespaces", ["b"]),
        ("label_selector", "app=x"),
    ):
        with pytest.raises(Invalid, match=f"^{name}:"):
            snap.check_etcd_request(_cluster("created"), {name: value})  # type: ignore[arg-type]


def test_an_etcd_snapshot_goes_back_whole_into_its_own_cluster() -> None:
    backup = SimpleNamespace(cluster_id="c-1")
    plain = RestoreCreate(restore_name="r")
    check_etcd_restore(backup, _cluster("created"), plain)  # type: ignore[arg-type]
    other = SimpleNamespace(id="c-2", name="c2", source="created")
    with pytest.raises(Invalid, match=r"^target_cluster_id:"):
        check_etcd_restore(backup, other, plain)  # type: ignore[arg-type]
    for body, field in (
        (RestoreCreate(restore_name="r", namespace_mapping={"a": "b"}), "namespace_mapping"),
        (RestoreCreate(restore_name="r", included_namespaces=["a"]), "included_namespaces"),
    ):
        with pytest.raises(Invalid, match=f"^{field}:"):
            check_etcd_restore(backup, _cluster("created"), body)  # type: ignore[arg-type]


def _node(user: str, become: bool) -> NodePlan:
    target = SshTarget("10.0.0.1", user, SshCredentials(password="pw"), become=become)
    return NodePlan("m-1", "cp-1", "10.0.0.1", "master", True, target)


def test_the_save_script_lets_only_a_sudo_login_read_the_snapshot() -> None:
    as_root = snap._save_script(_node("root", False))
    by_sudo = snap._save_script(_node("ops", True))
    assert "chown" not in as_root and "chown -R ops" in by_sudo
    for script in (as_root, by_sudo):
        assert "snapshot save" in script and "snapshot status" in script
        assert "mktemp -d /var/tmp/taichu-etcd." in script
        assert "pw" not in script


def test_each_member_is_restored_with_its_own_name_and_peer_url() -> None:
    command = members.etcdutl_restore(
        snapshot="/s.db",
        name="cp-2",
        address="10.0.0.2",
        members=[("cp-1", "10.0.0.1"), ("cp-2", "10.0.0.2"), ("cp-3", "10.0.0.3")],
        token="cluster-id",
        data_dir="/var/lib/etcd/.taichu-new",
    )
    assert command.startswith("/opt/taichu/bin/etcdutl snapshot restore /s.db ")
    assert "--name=cp-2" in command and "--data-dir=/var/lib/etcd/.taichu-new" in command
    assert "--initial-advertise-peer-urls=https://10.0.0.2:2380" in command
    assert (
        "--initial-cluster=cp-1=https://10.0.0.1:2380,cp-2=https://10.0.0.2:2380,"
        "cp-3=https://10.0.0.3:2380" in command
    )
    assert "--initial-cluster-token=cluster-id" in command and "--mark-compacted" in command
