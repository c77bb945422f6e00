"""What history and audit records show of a command (secrets redacted), and whether a
command counts as reading or changing."""

from __future__ import annotations

import pytest

from taichu.commands.policy import CommandRefused, is_change, parse_command, redact_command


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        (["kubectl", "create", "secret", "generic", "db", "--from-literal=password=hunter2"],
         "kubectl create secret generic db --from-literal=password=***"),
        (["kubectl", "create", "configmap", "c", "--from-literal", "a=1"],
         "kubectl create configmap c --from-literal a=***"),
        (["kubectl", "create", "secret", "docker-registry", "r", "--docker-username=u",
          "--docker-password=p4ss"],
         "kubectl create secret docker-registry r --docker-username=u --docker-password=***"),
        (["kubectl", "create", "secret", "docker-registry", "r", "--docker-password", "p4ss"],
         "kubectl create secret docker-registry r --docker-password ***"),
        (["kubectl", "get", "pods", "--token=abc"], "kubectl get pods --token=***"),
        (["kubectl", "get", "pods", "--token", "abc"], "kubectl get pods --token ***"),
        (["kubectl", "--password", "pw", "get", "pods"], "kubectl --password *** get pods"),
        (["kubectl", "set", "env", "deploy/web", "DB_PASSWORD=x", "LOG=debug"],
         "kubectl set env deploy/web DB_PASSWORD=*** LOG=debug"),
        (["kubectl", "set", "env", "deploy/web", "-e", "API_TOKEN=x"],
         "kubectl set env deploy/web -e API_TOKEN=***"),
        (["kubectl", "set", "env", "deploy/web", "--env=my_secret=x"],
         "kubectl set env deploy/web --env=my_secret=***"),
        (["kubectl", "patch", "secret", "s", "-p", '{"data":{"x":"eA=="}}'],
         "kubectl patch secret s -p ***"),
        (["kubectl", "patch", "-p", '{"data":{"x":"eA=="}}', "secrets/s"],
         "kubectl patch -p *** secrets/s"),
        (["kubectl", "patch", "deploy", "w", "-p", '{"spec":{"token":"abc","replicas":2}}'],
         """kubectl patch deploy w -p '{"spec":{"token":"***","replicas":2}}'"""),
        (["kubectl", "annotate", "pod", "p", "auth=Bearer abc.def"],
         "kubectl annotate pod p 'auth=Bearer ***'"),
        (["kubectl", "label", "pod", "p", "x=eyJhbGciOi.eyJzdWIiOi.sig"],
         "kubectl label pod p x=***"),
        (["kubectl", "create", "job", "j", "--image=b", "--", "curl", "https://u:pw@h/x"],
         "kubectl create job j --image=b -- curl https://u:***@h/x"),
        (["kubectl", "get", "pods", "-l", "app=a;b"], "kubectl get pods -l 'app=a;b'"),
    ],
)  # fmt: skip
def test_redaction_for_history(argv: list[str], shown: str) -> None:
    assert redact_command(argv) == shown


def test_redaction_of_commands_that_cannot_be_split() -> None:
    for command in (
        "kubectl get pods --token=abc | sh",
        "kubectl get pods --token 'abc' $(x)",
        "kubectl create secret generic s --from-literal=k=abc; x",
        "kubectl create secret generic s --from-literal k=abc 'unclosed",
        "kubectl get pods -H 'Authorization: Bearer abc' &",
    ):
        with pytest.raises(CommandRefused) as e:
            parse_command(command, manifest=False)
        assert "abc" not in e.value.command, command
        assert "***" in e.value.command


@pytest.mark.parametrize(
    ("command", "change"),
    [
        ("kubectl get pods", False),
        ("kubectl -n x describe pod p", False),
        ("kubectl logs p", False),
        ("kubectl top pod", False),
        ("kubectl auth can-i get pods", False),
        ("kubectl rollout status deploy/w", False),
        ("kubectl rollout history deploy/w", False),
        ("kubectl cluster-info dump", False),
        ("kubectl create ns x", True),
        ("kubectl create ns x --dry-run=client", False),
        ("kubectl apply -f - --dry-run=server", False),
        ("kubectl apply -f -", True),
        ("kubectl -n x delete pod p", True),
        ("kubectl rollout restart deploy/w", True),
        ("kubectl set image deploy/w a=b", True),
        ("kubectl set image -f - a=b --local -o yaml", False),
        ("kubectl cordon n", True),
        ("kubectl label pod p --list", False),
        ("kubectl label pod p a=b --list=false", True),
        ("kubectl set env deploy/w --list", False),
        ("kubectl create token default", True),
    ],
)
def test_is_change(command: str, change: bool) -> None:
    argv = parse_command(command, manifest="-f -" in command)
    assert is_change(argv) is change


def test_is_change_counts_what_it_cannot_place_as_a_change() -> None:
    assert is_change(["kubectl", "exec", "p"]) is True
    assert is_change(["kubectl"]) is True


def test_the_display_quotes_what_a_shell_would_need_quoted() -> None:
    argv = parse_command("kubectl create role r --verb='*' -o 'jsonpath={.a}'", manifest=False)
    assert redact_command(argv) == "kubectl create role r '--verb=*' -o 'jsonpath={.a}'"
