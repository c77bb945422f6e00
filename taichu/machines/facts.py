"""What a machine is, read over SSH in one script (plus a short clock probe).

`gather_facts` runs one shell script that prints sections (`@@taichu:<name>` lines) and
`parse_facts` turns its output into `MachineFacts` — pure, so it is unit-tested with
sample outputs. The script prints only what is needed (listening sockets, not the whole
socket table) and every section is cut to a few KiB on the machine, so its output stays
far below the adapter's output cap.
"""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass, field
from typing import Any

from taichu.ssh.client import SshSession
from taichu.ssh.errors import SshError, SshSudoRefused, printable
from taichu.ssh.target import SshTarget

KUBE_PORTS = (6443, 2379, 2380, 10250, 10257, 10259)
NODEPORT_RANGE = (30000, 32767)
MODULES = ("overlay", "br_netfilter")
SYSCTLS = (
    "net.ipv4.ip_forward",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
)
_MARK = "@@taichu:"
_CLOCK_SAMPLES = 3

# `head -c` bounds each section on the machine; awk keeps only listening sockets (state
# 0A) of /proc/net/tcp{,6}, which works where `ss` is not installed.
_SCRIPT = r"""
m() { echo "@@taichu:$1"; }
m hostname; (hostname 2>/dev/null || cat /proc/sys/kernel/hostname) | head -c 256
m os-release; head -c 8192 /etc/os-release 2>/dev/null
m kernel; uname -r | head -c 256
m arch; uname -m | head -c 64
m nproc; (nproc 2>/dev/null || getconf _NPROCESSORS_ONLN) | head -c 32
m meminfo; grep -E '^(MemTotal|SwapTotal):' /proc/meminfo
m df; df -Pk / 2>/dev/null | tail -n 1 | head -c 512
m product_uuid; head -c 128 /sys/class/dmi/id/product_uuid 2>/dev/null
m macs
for i in /sys/class/net/*; do
  n=${i##*/}; [ "$n" = lo ] && continue
  printf '%s %s\n' "$n" "$(head -c 64 "$i/address" 2>/dev/null)"
done | head -n 256
m swaps; head -n 64 /proc/swaps
m cgroup; stat -fc %T /sys/fs/cgroup 2>/dev/null
m init; head -c 64 /proc/1/comm 2>/dev/null
m runtime
for r in containerd crio docker; do
  command -v "$r" >/dev/null 2>&1 && { "$r" --version 2>&1 | head -n 1 | head -c 256; break; }
done
m kubelet; command -v kubelet >/dev/null 2>&1 && kubelet --version 2>&1 | head -n 1 | head -c 256
m listen; awk '$4 == "0A" { print $2 }' /proc/net/tcp /proc/net/tcp6 2>/dev/null | head -n 20000
m modules
for mod in overlay br_netfilter; do
  if [ -d "/sys/module/$mod" ]; then echo "$mod loaded"
  elif modinfo "$mod" >/dev/null 2>&1; then echo "$mod loadable"
  else echo "$mod missing"; fi
done
m sysctls
for k in net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables
do
  f=/proc/sys/$(echo "$k" | tr . /)
  if [ -r "$f" ]; then printf '%s=%s\n' "$k" "$(head -c 64 "$f")"; else echo "$k"; fi
done
m end
"""


@dataclass(frozen=True)
class MachineFacts:
    hostname: str
    os_name: str
    os_version: str
    kernel: str
    arch: str
    cpu_cores: int
    memory_bytes: int
    disk_root_bytes: int
    disk_root_free_bytes: int
    product_uuid: str | None
    mac_addresses: list[str]
    clock_offset_ms: float  # machine clock minus platform clock
    swap_on: bool
    cgroup_version: int | None
    init_system: str
    container_runtime: str | None  # version text or None
    kubelet: str | None
    ports_in_use: list[int]  # among KUBE_PORTS and NODEPORT_RANGE
    kernel_modules: dict[str, bool]  # loaded or loadable
    sysctls: dict[str, str | None]
    # Not in the contract's list, but known anyway: loaded now (not only loadable).
    kernel_modules_loaded: dict[str, bool] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MachineFacts:
        """From `to_json` output; fields missing in older records get empty values."""
        empty: dict[str, Any] = {
            "product_uuid": None,
            "mac_addresses": [],
            "clock_offset_ms": 0.0,
            "swap_on": False,
            "cgroup_version": None,
            "container_runtime": None,
            "kubelet": None,
            "ports_in_use": [],
            "kernel_modules": {},
            "sysctls": {},
            "kernel_modules_loaded": {},
        }
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name in data:
                values[f.name] = data[f.name]
            elif f.name in empty:
                values[f.name] = empty[f.name]
            elif f.type in ("int", "float"):
                values[f.name] = 0
            else:
                values[f.name] = ""
        values["mac_addresses"] = list(values["mac_addresses"])
        values["ports_in_use"] = [int(p) for p in values["ports_in_use"]]
        values["kernel_modules"] = dict(values["kernel_modules"])
        values["sysctls"] = dict(values["sysctls"])
        values["kernel_modules_loaded"] = dict(values["kernel_modules_loaded"])
        return cls(**values)


# --- parsing (pure) ----------------------------------------------------------------------


class FactsError(ValueError):
    """The script's output is not what it prints (a section missing, a number not one)."""


def split_sections(text: str) -> dict[str, str]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith(_MARK):
            current = sections.setdefault(line[len(_MARK) :].strip(), [])
        elif current is not None:
            current.append(line)
    return {name: "\n".join(lines).strip() for name, lines in sections.items()}


def _os_release(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and re.fullmatch(r"[A-Z_][A-Z0-9_]*", key.strip()):
            out[key.strip()] = value.strip().strip("\"'")
    return out


def _int(text: str, what: str) -> int:
    try:
        value = int(text.split()[0])
    except (ValueError, IndexError):
        raise FactsError(f"{what}: not a number") from None
    if value < 1:
        raise FactsError(f"{what}: not a positive number")
    return value


def _meminfo_bytes(text: str, key: str) -> int:
    match = re.search(rf"^{key}:\s+(\d+)\s*kB", text, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else 0


def _df(text: str) -> tuple[int, int]:
    # "Filesystem 1024-blocks Used Available Capacity Mounted-on" (POSIX format; -k also
    # in busybox, unlike -B1)
    parts = text.split()
    if len(parts) < 6:
        return 0, 0
    try:
        total, free = int(parts[-5]), int(parts[-3])
    except ValueError:
        return 0, 0
    return (total * 1024, free * 1024) if total >= 0 and free >= 0 else (0, 0)


_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def _macs(text: str) -> list[str]:
    macs: list[str] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 2:
            continue
        mac = parts[1].lower()
        if _MAC.match(mac) and mac != "00:00:00:00:00:00" and mac not in macs:
            macs.append(mac)
    return macs


def _ports(text: str) -> list[int]:
    ports: set[int] = set()
    for line in text.splitlines():
        _, sep, hex_port = line.strip().rpartition(":")
        try:
            port = int(hex_port, 16) if sep else -1
        except ValueError:
            continue
        if port in KUBE_PORTS or NODEPORT_RANGE[0] <= port <= NODEPORT_RANGE[1]:
            ports.add(port)
    return sorted(ports)


def _swap_on(text: str) -> bool:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return len(lines) > 1  # the first line is the header


def _cgroup(text: str) -> int | None:
    return {"cgroup2fs": 2, "tmpfs": 1}.get(text.strip())


def _modules(text: str) -> tuple[dict[str, bool], dict[str, bool]]:
    usable: dict[str, bool] = {m: False for m in MODULES}
    loaded: dict[str, bool] = {m: False for m in MODULES}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in usable:
            usable[parts[0]] = parts[1] in ("loaded", "loadable")
            loaded[parts[0]] = parts[1] == "loaded"
    return usable, loaded


def _sysctls(text: str) -> dict[str, str | None]:
    values: dict[str, str | None] = dict.fromkeys(SYSCTLS)
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if key in values and sep:
            values[key] = value.strip()
    return values


def _text_or_none(text: str) -> str | None:
    return text.strip()[:256] or None


def parse_facts(text: str, clock_offset_ms: float) -> MachineFacts:
    # What the machine printed is stored and shown: no NUL or other control characters.
    s = split_sections(printable(text))
    if "end" not in s:
        raise FactsError("the facts script did not run to its end")
    osr = _os_release(s.get("os-release", ""))
    total, free = _df(s.get("df", ""))
    meminfo = s.get("meminfo", "")
    usable, loaded = _modules(s.get("modules", ""))
    uuid = s.get("product_uuid", "").strip().lower()
    return MachineFacts(
        hostname=s.get("hostname", "").strip()[:253],
        os_name=osr.get("NAME", "")[:128],
        os_version=osr.get("VERSION_ID", osr.get("VERSION", ""))[:64],
        kernel=s.get("kernel", "").strip()[:256],
        arch=s.get("arch", "").strip()[:64],
        cpu_cores=_int(s.get("nproc", ""), "nproc"),
        memory_bytes=_meminfo_bytes(meminfo, "MemTotal"),
        disk_root_bytes=total,
        disk_root_free_bytes=free,
        product_uuid=uuid if re.fullmatch(r"[0-9a-f-]{32,36}", uuid) else None,
        mac_addresses=_macs(s.get("macs", "")),
        clock_offset_ms=round(clock_offset_ms, 1),
        swap_on=_swap_on(s.get("swaps", "")),
        cgroup_version=_cgroup(s.get("cgroup", "")),
        init_system=s.get("init", "").strip()[:64] or "unknown",
        container_runtime=_text_or_none(s.get("runtime", "")),
        kubelet=_text_or_none(s.get("kubelet", "")),
        ports_in_use=_ports(s.get("listen", "")),
        kernel_modules=usable,
        sysctls=_sysctls(s.get("sysctls", "")),
        kernel_modules_loaded=loaded,
    )


def clock_offset(samples: list[tuple[int, int, int]]) -> float:
    """Offset in ms of the machine's clock from ours: (sent ns, remote ns, received ns)
    per probe; the probe with the shortest round trip is the most exact."""
    sent, remote, received = min(samples, key=lambda s: s[2] - s[0])
    return (remote - (sent + received) / 2) / 1e6


# --- over SSH ------------------------------------------------------------------------------


def _privileged(target: SshTarget) -> bool:
    return target.username == "root" or target.become


async def _clock_samples(session: SshSession) -> list[tuple[int, int, int]]:
    samples = []
    for _ in range(_CLOCK_SAMPLES):
        sent = time.time_ns()
        result = await session.run("date +%s%N", timeout=10)
        received = time.time_ns()
        try:
            remote = int(result.stdout.strip())
        except ValueError:
            raise SshError(
                session.address, f"{session.address}: `date +%s%N` gave no time"
            ) from None
        samples.append((sent, remote, received))
    return samples


async def gather_facts(session: SshSession) -> MachineFacts:
    """Facts of the machine behind `session`: one script (privileged where the target
    allows it, for product_uuid) and three clock probes."""
    samples = await _clock_samples(session)
    result = await session.run(_SCRIPT, privileged=_privileged(session.target), timeout=60)
    if result.truncated:
        raise SshError(session.address, f"{session.address}: facts output was too large")
    try:
        return parse_facts(result.stdout, clock_offset(samples))
    except FactsError as e:
        raise SshError(session.address, f"{session.address}: could not read facts: {e}") from e


async def check_access(session: SshSession, target: SshTarget) -> None:
    """The login works and gives root (directly or through sudo), else SshSudoRefused."""
    if target.username != "root" and not target.become:
        raise SshSudoRefused(
            target.address,
            f"{target.address}: user {target.username!r} is not root and privilege "
            "escalation (become) is off: the platform needs root on its machines",
        )
    uid = (await session.run("id -u", privileged=True, timeout=30)).stdout.strip()
    if uid != "0":
        raise SshSudoRefused(
            target.address,
            f"{target.address}: privileged commands of user {target.username!r} do not run "
            f"as root (uid {uid[:16] or 'unknown'})",
        )
