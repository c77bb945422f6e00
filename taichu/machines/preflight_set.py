"""The checks across a set of machines: what must differ from one machine to the next
(hostname, product_uuid, MACs: clones of one image share them, and Kubernetes tells its
nodes apart by them) and how far apart their clocks are."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from taichu.machines.preflight_checks import LISTED, listed
from taichu.machines.preflight_report import CheckResult, MachineRef, PreflightPolicy

if TYPE_CHECKING:
    from taichu.machines.facts import MachineFacts

# MACs every machine may show (loopback, unset): never evidence of a cloned machine.
_IGNORED_MACS = frozenset({"00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff"})


def set_checks(
    facts: Mapping[str, MachineFacts], refs: Mapping[str, MachineRef], policy: PreflightPolicy
) -> list[CheckResult]:
    """Checks across the machines that were reached (each ref is named by name and address)."""
    hostnames = {m: [f.hostname.strip().lower()] for m, f in facts.items() if f.hostname.strip()}
    uuids = {m: [f.product_uuid.strip().lower()] for m, f in facts.items() if f.product_uuid}
    macs = {m: [x for x in map(normalize_mac, f.mac_addresses) if x] for m, f in facts.items()}
    results = [
        _unique(
            "unique_hostnames",
            "hostname",
            hostnames,
            refs,
            "give each machine its own hostname (hostnamectl set-hostname NAME): nodes are "
            "named after them",
        ),
        _unique(
            "unique_product_uuids",
            "product_uuid",
            uuids,
            refs,
            "these look like clones of one VM image: give each VM its own SMBIOS UUID",
            unknown=[m for m in facts if m not in uuids],
        ),
        _unique(
            "unique_macs",
            "MAC address",
            macs,
            refs,
            "give each machine's network interfaces their own MAC addresses",
        ),
    ]
    if len(facts) > 1:
        results.append(_clock_spread(facts, refs, policy))
    return results


def _unique(
    name: str,
    what: str,
    values: Mapping[str, list[str]],
    refs: Mapping[str, MachineRef],
    hint: str,
    unknown: list[str] | None = None,
) -> CheckResult:
    clashes = duplicates(values)
    if clashes:
        parts = [
            f"{what} {value!r} is shared by {_names(ids, refs)}"
            for value, ids in list(clashes.items())[:LISTED]
        ]
        more = f"; and {len(clashes) - LISTED} more" if len(clashes) > LISTED else ""
        involved = list(dict.fromkeys(mid for ids in clashes.values() for mid in ids))
        return CheckResult(name, "fail", "; ".join(parts) + more, hint, involved)
    if unknown:
        return CheckResult(
            name,
            "warn",
            f"{what} of {_names(unknown, refs)} could not be read, so uniqueness is unproven",
            "make /sys/class/dmi/id/product_uuid readable (it needs root)",
            list(unknown),
        )
    return CheckResult(name, "pass", f"every {what} is unique across {len(values)} machines")


def _clock_spread(
    facts: Mapping[str, MachineFacts], refs: Mapping[str, MachineRef], policy: PreflightPolicy
) -> CheckResult:
    """Each clock may be within the limit of the platform's yet two of them twice as far
    apart: etcd members compare their clocks with each other."""
    early = min(facts, key=lambda m: facts[m].clock_offset_ms)
    late = max(facts, key=lambda m: facts[m].clock_offset_ms)
    spread = facts[late].clock_offset_ms - facts[early].clock_offset_ms
    said = f"clocks of {_names([early, late], refs)} are {spread:.0f} ms apart"
    hint = "synchronise every machine with the same NTP source"
    if spread >= policy.clock_fail_ms:
        return CheckResult("clock_spread", "fail", said, hint, [early, late])
    if spread >= policy.clock_warn_ms:
        return CheckResult("clock_spread", "warn", said, hint, [early, late])
    return CheckResult("clock_spread", "pass", f"clocks agree within {spread:.0f} ms")


def _names(ids: Iterable[str], refs: Mapping[str, MachineRef]) -> str:
    labels = [refs[m].label for m in ids]
    return listed(labels) if len(labels) > 2 else " and ".join(labels)


def duplicates(values: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """value -> the ids (in order) of every machine showing it, for values shown by 2+."""
    seen: dict[str, list[str]] = defaultdict(list)
    for mid, items in values.items():
        for item in dict.fromkeys(items):  # one machine showing a value twice is no clash
            seen[item].append(mid)
    return {value: ids for value, ids in seen.items() if len(ids) > 1}


def normalize_mac(mac: str) -> str | None:
    value = mac.strip().lower().replace("-", ":")
    return None if not value or value in _IGNORED_MACS else value
