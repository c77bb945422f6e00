"""Limits of kubectl through the platform against a real lab cluster: the time limit
kills the process group, output caps, concurrency (429), secrets kept out of the history
and audit, output encrypted at rest."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.commands.conftest import Platform

pytestmark = pytest.mark.lab


def _kubectl_pids(word: str) -> list[int]:
    """Processes whose command line holds `word` (a unique object name)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"kubectl") and word.encode() in argv:
            found.append(int(proc.name))
    return found


def _wait(predicate: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.1)


def _held_configmap(platform: Platform, namespace: str) -> str:
    """A ConfigMap whose deletion waits on a finalizer nobody removes: `kubectl delete`
    of it waits (its default --wait) until killed."""
    name = f"held-{uuid.uuid4().hex[:8]}"
    manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "finalizers": ["taichu.dev/hold"]},
    }
    platform.lab.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    return name


def _release(platform: Platform, namespace: str, name: str) -> None:
    platform.lab.kubectl(
        "patch", "configmap", name, "-n", namespace, "--type=merge",
        "-p", '{"metadata":{"finalizers":null}}', check=False,
    )  # fmt: skip


def _in_thread(call: Any) -> tuple[threading.Thread, list[Any]]:
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()
    return thread, result


def test_timeout_kills_kubectl_and_says_timeout(platform: Platform, namespace: str) -> None:
    name = _held_configmap(platform, namespace)
    try:
        thread, result = _in_thread(
            lambda: platform.run(
                platform.admin, f"kubectl delete configmap {name} -n {namespace}", timeout_seconds=3
            )
        )
        _wait(lambda: _kubectl_pids(name))  # it runs, waiting on the finalizer
        thread.join(120)
        answer = result[0]
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["status"] == "timeout" and body["returncode"] is None
        assert body["timeout_seconds"] == 3 and 3000 <= body["duration_ms"] < 30000
        assert _kubectl_pids(name) == []  # the whole group was killed, nothing left
        entry = platform.history(platform.admin, status="timeout")["results"][0]
        assert entry["id"] == body["id"]
    finally:
        _release(platform, namespace, name)


def test_output_beyond_the_cap_is_truncated_with_the_flag(
    platform: Platform, namespace: str
) -> None:
    # One object holds at most ~1 MiB (etcd's limit): six make 5+ MiB of YAML.
    for index in range(6):
        manifest = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"big-{index}", "namespace": namespace},
            "data": {"blob": "x" * (900 * 1024)},
        }
        platform.lab.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(manifest))
    answer = platform.run(platform.admin, f"kubectl get configmaps -n {namespace} -o yaml")
    assert answer.status_code == 200, answer.text[:500]
    body = answer.json()
    assert body["status"] == "done" and body["truncated"] is True
    assert len(body["stdout"].encode()) == 1024 * 1024
    assert body["stdout_bytes"] > 5 * 1024 * 1024
    with platform.client() as client:
        stored = client.get(f"/api/state/history/{body['id']}/", headers=platform.admin).json()
    assert stored["truncated"] is True and stored["stdout"] == body["stdout"]


def test_concurrency_beyond_the_limits_is_429(platform: Platform, namespace: str) -> None:
    # The module's server allows 2 commands per user at once.
    held = [_held_configmap(platform, namespace) for _ in range(2)]
    token = platform.lab.mint_token(namespace, "other", role="view")
    _user, other = platform.new_user("other")
    with platform.client() as client:
        bound = client.post(
            "/api/auth/k8s/account/bind/",
            headers=other,
            json={"cluster_id": platform.cluster_id, "token": token, "namespace": namespace},
        )
    assert bound.status_code == 200, bound.text

    def delete(name: str) -> httpx.Response:
        command = f"kubectl delete configmap {name} -n {namespace}"
        return platform.run(platform.admin, command, timeout_seconds=20)

    threads: list[tuple[threading.Thread, list[Any]]] = []
    try:
        threads += [_in_thread(lambda n=n: delete(n)) for n in held]
        _wait(lambda: all(_kubectl_pids(n) for n in held))
        third = platform.run(platform.admin, "kubectl get pods -A")
        assert third.status_code == 429 and "at most 2" in third.json()["detail"]
        assert third.headers["Retry-After"]
        # Another user's commands are not held up by the admin's.
        theirs = platform.run(other, "kubectl get configmaps")
        assert theirs.status_code == 200 and theirs.json()["status"] == "done", theirs.text
    finally:
        for name in held:
            _release(platform, namespace, name)
        for thread, _ in threads:
            thread.join(120)
    assert [r[0].json()["status"] for _, r in threads] == ["done", "done"]
    after = platform.run(platform.admin, "kubectl version")
    assert after.status_code == 200  # slots were given back


def test_bad_limits_are_422_and_store_nothing(platform: Platform) -> None:
    before = platform.history(platform.admin)["total"]
    too_long = platform.run(platform.admin, "kubectl get pods", timeout_seconds=301)
    assert too_long.status_code == 422 and "timeout_seconds" in too_long.json()["detail"]
    zero = platform.run(platform.admin, "kubectl get pods", timeout_seconds=0)
    assert zero.status_code in (400, 422) and "timeout_seconds" in zero.json()["detail"]
    with platform.client() as client:
        typo = client.post(
            "/api/state/command/",
            headers=platform.admin,
            json={"cluster_id": platform.cluster_id, "comand": "kubectl get pods"},
        )
        assert typo.status_code in (400, 422)
        unknown = client.post(
            "/api/state/command/",
            headers=platform.admin,
            json={"cluster_id": str(uuid.uuid4()), "command": "kubectl get pods"},
        )
        assert unknown.status_code == 404
        anonymous = client.post(
            "/api/state/command/",
            json={"cluster_id": platform.cluster_id, "command": "kubectl get pods"},
        )
        assert anonymous.status_code == 401
    assert platform.history(platform.admin)["total"] == before


async def _stored(database_url: str, run_id: str) -> dict[str, Any]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            row = await conn.execute(
                text("SELECT * FROM command_runs WHERE id = :id"), {"id": run_id}
            )
            return dict(row.mappings().one())
    finally:
        await engine.dispose()


def test_secrets_are_redacted_from_history_and_audit_and_output_encrypted(
    platform: Platform, namespace: str
) -> None:
    answer = platform.run(
        platform.admin,
        f"kubectl create secret generic s1 -n {namespace} --from-literal=password=TopSecret42",
    )
    assert answer.status_code == 200 and answer.json()["status"] == "done", answer.text
    created = answer.json()
    assert "TopSecret42" not in answer.text and "password=***" in created["command"]
    shown = platform.run(platform.admin, f"kubectl get secret s1 -n {namespace} -o yaml")
    out = shown.json()
    assert "VG9wU2VjcmV0NDI=" in out["stdout"]  # the caller asked for it: they see it
    with platform.client() as client:
        events = client.get(
            "/api/v1/audit", headers=platform.admin, params={"event_type": "command", "limit": 100}
        ).json()["data"]["events"]
    record = next(e for e in events if e["resource_id"] == created["id"])
    assert record["new_value"]["command"] == created["command"]
    assert record["new_value"]["returncode"] == 0 and record["new_value"]["status"] == "done"
    assert record["new_value"]["stdout_bytes"] == created["stdout_bytes"] > 0
    assert record["new_value"]["duration_ms"] == created["duration_ms"]
    assert record["result"] == "success"
    assert "TopSecret42" not in json.dumps(events) and "VG9wU2VjcmV0NDI=" not in json.dumps(events)
    row = asyncio.run(_stored(platform.database_url, out["id"]))
    assert row["stdout_encrypted"] and "VG9wU2VjcmV0NDI=" not in row["stdout_encrypted"]
    # Encrypted, not merely redacted: none of the output's plain text is there (strings long
    # enough not to occur in a ciphertext's base64 by chance, as "s1" once did).
    assert "kind: Secret" in out["stdout"] and f"namespace: {namespace}" in out["stdout"]
    assert "kind: Secret" not in row["stdout_encrypted"]
    assert f"namespace: {namespace}" not in row["stdout_encrypted"]
    assert "TopSecret42" not in json.dumps(
        asyncio.run(_stored(platform.database_url, created["id"])), default=str
    )
