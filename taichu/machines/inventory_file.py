"""A KubeKey-style hosts file -> machines to create, every entry validated before any is.

Accepted shapes (YAML, no anchors or aliases, bounded in size and nodes):
  hosts: [{name, address, internalAddress?, port?, user?, password | privateKey |
           privateKeyPath, passphrase?, role?, labels?, hostKey?}]   (+ optional roleGroups)
  a whole KubeKey Cluster config: spec.hosts and spec.roleGroups (its other sections are
  KubeKey's and ignored).
roleGroups (etcd, control-plane or master, worker, registry; `node[2:10]` ranges) give each
host its role; a host in several groups takes the first of master, etcd, worker, registry,
as one machine has one role. Without a group or `role` a host is a worker.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from taichu.errors import Invalid
from taichu.kube.kubeconfig import load_strict_yaml
from taichu.machines.credentials import check_private_key
from taichu.machines.schemas import MAX_PRIVATE_KEY, MachineIn

MAX_FILE_BYTES = 1024 * 1024
MAX_HOSTS = 500
MAX_KEY_BYTES = MAX_PRIVATE_KEY
ROLES = ("master", "etcd", "worker", "registry")  # also the precedence of roleGroups
GROUP_ROLES = {
    "control-plane": "master",
    "master": "master",
    "etcd": "etcd",
    "worker": "worker",
    "registry": "registry",
}
HOST_FIELDS = frozenset(
    {
        "name",
        "address",
        "internalAddress",
        "port",
        "user",
        "password",
        "privateKey",
        "privateKeyPath",
        "passphrase",
        "role",
        "labels",
        "hostKey",
        # KubeKey's own, accepted and not used: the platform measures arch, has its timeouts.
        "arch",
        "timeout",
    }
)
_RANGE = re.compile(r"^(?P<prefix>[^\[\]]*)\[(?P<first>\d{1,4}):(?P<last>\d{1,4})\]$")
# The request's field -> the hosts file's, in messages.
_FIELD_NAMES = {
    "ip_address": "address",
    "internal_address": "internalAddress",
    "private_key": "privateKey",
    "host_key": "hostKey",
}


@dataclass(frozen=True)
class HostEntry:
    name: str
    address: str
    user: str
    role: str
    port: int = 22
    internal_address: str | None = None
    password: str | None = field(default=None, repr=False)
    private_key: str | None = field(default=None, repr=False)
    passphrase: str | None = field(default=None, repr=False)
    host_key: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    def to_request(self) -> dict[str, Any]:
        """The body of `POST /api/v1/machines`."""
        body: dict[str, Any] = {
            "name": self.name,
            "ip_address": self.address,
            "internal_address": self.internal_address or self.address,
            "port": self.port,
            "user": self.user,
            "role": self.role,
            "labels": self.labels,
        }
        for key, value in (
            ("password", self.password),
            ("private_key", self.private_key),
            ("passphrase", self.passphrase),
            ("host_key", self.host_key),
        ):
            if value is not None:
                body[key] = value
        return body


def read_hosts_file(path: Path) -> list[HostEntry]:
    """Every entry, or Invalid listing every problem (entry and field named)."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise Invalid(f"{path} is {size} bytes; the limit is {MAX_FILE_BYTES // 1024} KiB")
        with path.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise Invalid(f"cannot read {path}: {e.strerror or e}") from e
    if len(raw) > MAX_FILE_BYTES:  # grew since stat, or not a regular file
        raise Invalid(f"{path} is larger than {MAX_FILE_BYTES // 1024} KiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Invalid(f"{path} is not UTF-8 text (byte {e.start})") from e
    doc = load_strict_yaml(text, str(path), f"a hosts file holds at most {MAX_HOSTS} hosts")
    entries = parse_hosts(doc, base_dir=path.parent)
    problems = asyncio.run(_unloadable_keys(entries))
    if problems:
        raise Invalid(_problems(problems))
    return entries


async def _unloadable_keys(entries: list[HostEntry]) -> list[str]:
    """The server's key check, here, so a key it would refuse stops the whole import."""
    problems = []
    for i, entry in enumerate(entries):
        if entry.private_key is None:
            continue
        try:
            await check_private_key(entry.private_key, entry.passphrase)
        except Invalid as e:
            problems.append(f"hosts[{i}] ({entry.name}): {e.message}")
    return problems


def _problems(problems: list[str]) -> str:
    shown = "\n  ".join(problems[:50])
    more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
    return f"{len(problems)} problem(s), nothing imported:\n  {shown}{more}"


def parse_hosts(doc: Any, *, base_dir: Path) -> list[HostEntry]:
    if not isinstance(doc, dict):
        raise Invalid("the file must be a mapping with `hosts` (or a KubeKey Cluster config)")
    if doc.get("kind") == "Cluster" or "spec" in doc:
        spec = doc.get("spec")
        if not isinstance(spec, dict):
            raise Invalid("spec: must be a mapping with `hosts`")
        hosts, groups, where = spec.get("hosts"), spec.get("roleGroups"), "spec."
    else:
        extra = sorted(set(doc) - {"hosts", "roleGroups"})
        if extra:
            raise Invalid(f"unknown top-level field {extra[0]!r}: expected hosts and roleGroups")
        hosts, groups, where = doc.get("hosts"), doc.get("roleGroups"), ""
    if not isinstance(hosts, list) or not hosts:
        raise Invalid(f"{where}hosts: must be a non-empty list of hosts")
    if len(hosts) > MAX_HOSTS:
        raise Invalid(f"{where}hosts: {len(hosts)} entries; at most {MAX_HOSTS} per file")
    problems: list[str] = []
    names = [h.get("name") if isinstance(h, dict) else None for h in hosts]
    group_roles = _role_groups(groups, [n for n in names if isinstance(n, str)], where, problems)
    entries: list[HostEntry] = []
    seen: dict[str, dict[str, int]] = {"name": {}, "address": {}}
    for i, host in enumerate(hosts):
        label = f"{where}hosts[{i}]" + (f" ({names[i]})" if isinstance(names[i], str) else "")
        entry = _entry(host, label, group_roles, base_dir, problems)
        if entry is None:
            continue
        for key, value in (("name", entry.name), ("address", entry.address)):
            if value in seen[key]:
                problems.append(f"{label}: {key} {value!r} repeats hosts[{seen[key][value]}]")
            seen[key].setdefault(value, i)
        entries.append(entry)
    if problems:
        raise Invalid(_problems(problems))
    return entries


def _role_groups(groups: Any, names: list[str], where: str, problems: list[str]) -> dict[str, str]:
    if groups is None:
        return {}
    if not isinstance(groups, dict):
        problems.append(f"{where}roleGroups: must be a mapping of group -> host names")
        return {}
    known = set(names)
    found: dict[str, set[str]] = {}
    for group, members in groups.items():
        role = GROUP_ROLES.get(str(group))
        if role is None:
            problems.append(
                f"{where}roleGroups.{group}: unknown group; one of {', '.join(GROUP_ROLES)}"
            )
            continue
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            problems.append(f"{where}roleGroups.{group}: must be a list of host names")
            continue
        for member in members:
            expanded = _expand(member)
            if expanded is None:
                problems.append(f"{where}roleGroups.{group}: bad range {member[:40]!r}")
                continue
            absent = [n for n in expanded if n not in known]
            if absent and not (_RANGE.match(member) and len(absent) < len(expanded)):
                problems.append(f"{where}roleGroups.{group}: no host named {absent[0]!r}")
            for name in expanded:
                if name in known:
                    found.setdefault(name, set()).add(role)
    # One machine, one role: the most demanding group wins.
    return {name: next(r for r in ROLES if r in roles) for name, roles in found.items()}


def _expand(member: str) -> list[str] | None:
    match = _RANGE.match(member)
    if not match:
        return [member]
    first, last = int(match["first"]), int(match["last"])
    if first > last or last - first >= MAX_HOSTS:
        return None
    return [f"{match['prefix']}{n}" for n in range(first, last + 1)]


def _entry(
    host: Any, label: str, group_roles: dict[str, str], base_dir: Path, problems: list[str]
) -> HostEntry | None:
    if not isinstance(host, dict):
        problems.append(f"{label}: must be a mapping (name, address, user, password, ...)")
        return None
    before = len(problems)
    for key in host:
        if key not in HOST_FIELDS:
            problems.append(f"{label}: unknown field {str(key)[:40]!r}")
    for key in ("name", "address"):
        if key not in host:
            problems.append(f"{label}: field {key!r} is required")
    if not any(k in host for k in ("password", "privateKey", "privateKeyPath")):
        problems.append(
            f"{label}: credentials missing: give 'password', 'privateKey' or 'privateKeyPath'"
        )
    values: dict[str, Any] = {}
    for key in ("privateKey", "privateKeyPath", "role"):
        value = host.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            problems.append(f"{label}: field {key!r} must be a non-empty string")
        elif value is not None:
            values[key] = value
    port = host.get("port", 22)
    if isinstance(port, str) and port.isdigit():
        port = int(port)  # KubeKey's samples quote it
    private_key = _private_key(values, label, base_dir, problems)
    name = host.get("name")
    role = values.get("role") or group_roles.get(name if isinstance(name, str) else "", "worker")
    if len(problems) > before:
        return None
    request = {
        "name": name,
        "ip_address": host.get("address"),
        "internal_address": host.get("internalAddress"),
        "port": port,
        "user": host.get("user", "root"),  # KubeKey's default user
        "password": host.get("password"),
        "private_key": private_key,
        "passphrase": host.get("passphrase"),
        "host_key": host.get("hostKey"),
        "role": role,
        "labels": host.get("labels") or {},
    }
    # The server's own request model: every rule it would refuse is found before any create.
    try:
        body = MachineIn.model_validate({k: v for k, v in request.items() if v is not None})
    except ValidationError as e:
        for error in e.errors()[:10]:
            field_name = str(error["loc"][0]) if error["loc"] else "entry"
            if field_name == "private_key" and "privateKeyPath" in values:
                field_name = "privateKeyPath"
            where = _FIELD_NAMES.get(field_name, field_name)
            problems.append(f"{label}: field {where!r}: {_reason(error)}")
        return None
    return HostEntry(
        name=body.name,
        address=body.ip_address,
        user=body.user,
        role=body.role,
        port=body.port,
        internal_address=body.internal_address,
        password=body.password,
        private_key=body.private_key,
        passphrase=body.passphrase,
        host_key=body.host_key,
        labels=dict(body.labels),
    )


def _reason(error: Any) -> str:
    # pydantic's words, never the value (it may be a password).
    message = str(error.get("msg", "is invalid"))
    return message.removeprefix("Value error, ")[:200]


def _private_key(
    values: dict[str, Any], label: str, base_dir: Path, problems: list[str]
) -> str | None:
    if "privateKey" in values and "privateKeyPath" in values:
        problems.append(f"{label}: give 'privateKey' or 'privateKeyPath', not both")
        return None
    if "privateKey" in values:
        text = str(values["privateKey"])
        if len(text) > MAX_KEY_BYTES:
            problems.append(f"{label}: field 'privateKey' is larger than {MAX_KEY_BYTES} bytes")
            return None
        return text
    if "privateKeyPath" not in values:
        return None
    # ~ is the operator's home; a relative path is relative to the hosts file.
    path = Path(values["privateKeyPath"]).expanduser()
    path = path if path.is_absolute() else base_dir / path
    try:
        with path.open("rb") as f:
            data = f.read(MAX_KEY_BYTES + 1)
    except OSError as e:
        problems.append(f"{label}: field 'privateKeyPath': cannot read {path}: {e.strerror or e}")
        return None
    if len(data) > MAX_KEY_BYTES:
        problems.append(f"{label}: field 'privateKeyPath': {path} is larger than {MAX_KEY_BYTES} B")
        return None
    text = data.decode("utf-8", errors="replace")
    if "PRIVATE KEY" not in text:
        problems.append(f"{label}: field 'privateKeyPath': {path} is not a private key")
        return None
    return text
