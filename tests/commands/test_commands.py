"""kubectl through the platform against a real lab cluster: real output, manifests on
stdin, the caller's own RBAC, refusals that never reach a shell, history and audit."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
import yaml

from tests.clusters.helpers import pod_manifest
from tests.commands.conftest import Platform

pytestmark = pytest.mark.lab


def _pod(platform: Platform, namespace: str, name: str) -> None:
    node = platform.lab.nodes("worker")[0]["metadata"]["name"]
    manifest = json.dumps(pod_manifest(namespace, name, node))
    platform.lab.kubectl("apply", "-f", "-", input=manifest)


def test_admin_reads_real_output_get_json_and_describe(platform: Platform, namespace: str) -> None:
    _pod(platform, namespace, "web-1")
    answer = platform.run(platform.admin, "kubectl get pods -A")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["status"], body["returncode"], body["truncated"]) == ("done", 0, False)
    assert body["stdout"].splitlines()[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert any(line.split()[:2] == [namespace, "web-1"] for line in body["stdout"].splitlines())
    assert body["identity"] == "platform" and body["kind"] == "read"
    assert body["command"] == "kubectl get pods -A" and body["stdout_bytes"] > 0

    as_json = platform.run(platform.admin, f"kubectl get pods -n {namespace} -o json")
    items = json.loads(as_json.json()["stdout"])["items"]
    assert [p["metadata"]["name"] for p in items] == ["web-1"]

    described = platform.run(platform.admin, f"kubectl describe pod web-1 -n '{namespace}'")
    assert described.json()["status"] == "done"
    out = described.json()["stdout"]
    assert re.search(r"^Name:\s+web-1$", out, re.M), out
    assert re.search(rf"^Namespace:\s+{namespace}$", out, re.M), out


def test_apply_from_the_manifest_field_creates_the_object(
    platform: Platform, namespace: str
) -> None:
    manifest = yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "from-manifest", "namespace": namespace},
            "data": {"greeting": "你好"},
        }
    )
    answer = platform.run(platform.admin, "kubectl apply -f -", manifest=manifest)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "done", body
    assert "configmap/from-manifest created" in body["stdout"]
    assert body["kind"] == "change" and body["has_manifest"] is True
    got = platform.lab.kubectl("get", "configmap", "from-manifest", "-n", namespace, "-o", "json")
    assert json.loads(got.stdout)["data"] == {"greeting": "你好"}
    # -f with a manifest means stdin only: a path is refused (nothing read from the server).
    path = platform.run(platform.admin, "kubectl apply -f /etc/passwd", manifest=manifest)
    assert path.status_code in (400, 422) and "-f" in path.json()["detail"]
    without = platform.run(platform.admin, "kubectl apply -f -")
    assert without.status_code in (400, 422)


INJECTIONS = [
    ("kubectl get pods; touch {marker}", ";"),
    ("kubectl get pods && touch {marker}", "&&"),
    ("kubectl get pods | touch {marker}", "|"),
    ("kubectl get pods $(touch {marker})", "$("),
    ("kubectl get pods `touch {marker}`", "`"),
    ("kubectl get pods > {marker}", ">"),
    ("touch {marker}", "kubectl"),
    ("sh -c 'touch {marker}'", "kubectl"),
]


def test_injected_commands_never_run(platform: Platform, tmp_path: Path) -> None:
    marker = tmp_path / "injected-marker"
    user, headers = platform.new_user("injector")
    for template, named in INJECTIONS:
        answer = platform.run(platform.admin, template.format(marker=marker))
        assert answer.status_code in (400, 422), (template, answer.text)
        assert named in answer.json()["detail"], (template, answer.json())
    assert not marker.exists()
    refused = platform.history(platform.admin, status="refused", user="admin")
    assert refused["total"] >= len(INJECTIONS)
    assert all(r["status"] == "refused" and r["reason"] for r in refused["results"])
    # A user without a binding is refused for the command too, and it is recorded as theirs.
    mine = platform.run(headers, f"kubectl get pods; touch {marker}")
    assert mine.status_code in (400, 422)
    assert [r["user"] for r in platform.history(headers)["results"]] == [user]
    assert not marker.exists()


REFUSALS = [
    "kubectl config view",
    "kubectl exec -it web-1 -- sh",
    "kubectl proxy",
    "kubectl port-forward pod/web-1 8080:80",
    "kubectl cp web-1:/etc/passwd /tmp/x",
    "kubectl edit pod web-1",
    "kubectl debug web-1",
    "kubectl attach web-1",
    "kubectl get pods --kubeconfig=/etc/kubernetes/admin.conf",
    "kubectl get pods --server=https://attacker.example:6443",
    "kubectl get pods -s https://attacker.example",
    "kubectl get pods --token=abcdef",
    "kubectl get pods --as=system:admin",
    "kubectl get pods --context=other",
    "kubectl get pods --insecure-skip-tls-verify",
    "kubectl get pods --watch",
    "kubectl logs web-1 -f",
    "kubectl apply -k ./overlay",
    "kubectl not-a-subcommand",
]


def test_refusals_are_422_recorded_and_audited(platform: Platform) -> None:
    for command in REFUSALS:
        answer = platform.run(platform.admin, command)
        assert answer.status_code in (400, 422), (command, answer.text)
        assert answer.json()["detail"].startswith("command: "), answer.json()
    history = platform.history(platform.admin, status="refused", limit=100)
    commands = [r["command"] for r in history["results"]]
    assert "kubectl get pods --token=abcdef" not in commands  # redacted
    assert "abcdef" not in json.dumps(history)
    with platform.client() as client:
        audit = client.get(
            "/api/v1/audit", headers=platform.admin, params={"event_type": "command", "limit": 100}
        ).json()["data"]["events"]
    refused = [e for e in audit if (e["new_value"] or {}).get("status") == "refused"]
    assert len(refused) >= len(REFUSALS) and all(e["result"] == "failure" for e in refused)
    assert "abcdef" not in json.dumps(audit)


def test_a_bound_user_runs_as_their_service_account(platform: Platform, namespace: str) -> None:
    _pod(platform, namespace, "mine-1")
    token = platform.lab.mint_token(
        namespace,
        "reader",
        rules=[{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
    )
    _user, headers = platform.new_user("bound")
    unbound = platform.run(headers, "kubectl get pods")
    assert unbound.status_code == 403 and "bind" in unbound.json()["detail"]
    with platform.client() as client:
        bound = client.post(
            "/api/auth/k8s/account/bind/",
            headers=headers,
            json={"cluster_id": platform.cluster_id, "token": token, "namespace": namespace},
        )
    assert bound.status_code == 200, bound.text

    own = platform.run(headers, "kubectl get pods")  # the binding's namespace by default
    assert own.status_code == 200 and own.json()["status"] == "done", own.text
    assert "mine-1" in own.json()["stdout"]
    subject = f"system:serviceaccount:{namespace}:reader"
    assert own.json()["identity"] == subject

    elsewhere = platform.run(headers, "kubectl get pods -n default")
    assert elsewhere.status_code == 200, elsewhere.text
    body = elsewhere.json()
    assert body["status"] == "failed" and body["returncode"] != 0
    assert "forbidden" in body["stderr"].lower() and subject in body["stderr"]
    nodes = platform.run(headers, "kubectl get nodes")
    assert nodes.json()["status"] == "failed" and "cannot list resource" in nodes.json()["stderr"]
    # What the platform itself may do is not theirs: their token is the only identity.
    secrets = platform.run(headers, f"kubectl get secrets -n {namespace}")
    assert secrets.json()["status"] == "failed"


def test_each_user_sees_only_their_own_history(platform: Platform, namespace: str) -> None:
    token = platform.lab.mint_token(namespace, "hist", role="view")
    users = {}
    for prefix in ("alice", "bob"):
        name, headers = platform.new_user(prefix)
        with platform.client() as client:
            bound = client.post(
                "/api/auth/k8s/account/bind/",
                headers=headers,
                json={"cluster_id": platform.cluster_id, "token": token, "namespace": namespace},
            )
        assert bound.status_code == 200, bound.text
        users[prefix] = (name, headers)
    alice, bob = users["alice"], users["bob"]
    first = platform.run(alice[1], "kubectl get configmaps").json()
    second = platform.run(alice[1], "kubectl get pods -n kube-system").json()
    theirs = platform.run(bob[1], "kubectl get pods").json()

    mine = platform.history(alice[1])
    assert [r["id"] for r in mine["results"]] == [second["id"], first["id"]]  # newest first
    assert mine["total"] == 2 and {r["user"] for r in mine["results"]} == {alice[0]}
    assert "stdout" not in mine["results"][0]
    assert platform.history(alice[1], status="failed")["total"] == 1
    assert platform.history(alice[1], limit=1, page=2)["results"][0]["id"] == first["id"]
    assert platform.history(alice[1], since="2999-01-01T00:00:00Z")["total"] == 0
    assert platform.history(alice[1], cluster_id=platform.cluster_id)["total"] == 2
    with platform.client() as client:
        nosy = client.get("/api/state/history/", headers=alice[1], params={"user": bob[0]})
        assert nosy.status_code == 403
        other = client.get(f"/api/state/history/{theirs['id']}/", headers=alice[1])
        assert other.status_code == 404
        own = client.get(f"/api/state/history/{first['id']}/", headers=alice[1])
        assert own.status_code == 200 and own.json()["stdout"] == first["stdout"]
        by_admin = client.get(f"/api/state/history/{theirs['id']}/", headers=platform.admin)
        assert by_admin.status_code == 200 and by_admin.json()["user"] == bob[0]
        missing = client.get(f"/api/state/history/{uuid.uuid4()}/", headers=platform.admin)
        assert missing.status_code == 404
    everyone = platform.history(platform.admin, user=bob[0])
    assert [r["id"] for r in everyone["results"]] == [theirs["id"]]
