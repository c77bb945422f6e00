"""What the binaries of a bundle say about themselves: their versions (asked, bounded in
time and output, rather than written into the code) and their ELF architecture."""

from __future__ import annotations

import os
import re
import selectors
import shutil
import signal
import subprocess
import time
from pathlib import Path

MAX_OUTPUT = 64 * 1024
ASK_SECONDS = 15.0
# x.y.z with an optional pre-release; build metadata ("+ds1", "+unknown") is dropped.
_SEMVER = re.compile(r"(?<![\w.])v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z]+(?:\.[0-9A-Za-z]+)*)?)")
# "CNI bridge plugin v1.1.1"; Debian's says "version unknown" and then lists the CNI
# protocol versions, which are not the plugins' version.
CNI_VERSION = re.compile(r"plugin (?:version )?v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?)")
_ELF_MACHINES = {62: "amd64", 183: "arm64", 3: "386", 40: "arm", 243: "riscv64", 21: "ppc64le"}
PT_INTERP = 3


class VersionError(Exception):
    """A binary did not say its version; the message names it and what it answered."""


def run_bounded(argv: list[str], *, timeout: float = ASK_SECONDS) -> str:
    """stdout+stderr of `argv` (at most MAX_OUTPUT bytes kept; killed after `timeout`)."""
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "LC_ALL": "C"}
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    except OSError as e:
        raise VersionError(f"{argv[0]}: cannot run ({e.strerror})") from None
    assert proc.stdout is not None
    kept = bytearray()
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if not selector.select(left):
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            kept += chunk[: MAX_OUTPUT - len(kept)]  # the rest is read and dropped
    proc.stdout.close()
    if proc.poll() is None:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: children go too
            proc.wait()
            raise VersionError(f"{argv[0]}: no answer within {timeout:.0f} s") from None
    return kept.decode(errors="replace")


def semver(text: str) -> str | None:
    match = _SEMVER.search(text)
    return match.group(1) if match else None


def go_module_version(binary: Path) -> str | None:
    """The main module's version from a Go binary's build info (`go version -m`), for
    binaries built without a version stamp (`go install module@version` records it)."""
    go = shutil.which("go", path=f"{os.environ.get('PATH', '')}:/usr/local/go/bin")
    if go is None:
        return None
    try:
        text = run_bounded([go, "version", "-m", str(binary)])
    except VersionError:
        return None
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[0] == "mod":
            return semver(fields[2])
    return None


def ask(
    binary: Path, *args: str, go_fallback: bool = False, pattern: re.Pattern[str] = _SEMVER
) -> str:
    """The version `binary args...` prints (`1.2.3`, no leading v; the first match of
    `pattern`), else from Go build info when allowed, else VersionError quoting the start
    of the answer."""
    text = run_bounded([str(binary), *args])
    match = pattern.search(text)
    found = match.group(1) if match else None
    if found is None and go_fallback:
        found = go_module_version(binary)
    if found is None:
        shown = " ".join(text.split())[:160] or "nothing"
        raise VersionError(
            f"{binary}: `{' '.join([binary.name, *args])}` said no version ({shown})"
        )
    return found


def debian_version(package: str) -> str | None:
    dpkg = shutil.which("dpkg-query")
    if dpkg is None:
        return None
    try:
        text = run_bounded([dpkg, "-W", "-f", "${Version}", package])
    except VersionError:
        return None
    # "1:1.35.0-4+b3" -> the upstream part, without epoch or Debian revision.
    upstream = text.strip().split(":", 1)[-1].rsplit("-", 1)[0]
    return semver(upstream)


def elf_header(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(64)


def elf_arch(path: Path) -> str | None:
    """The Go/OCI architecture name of an ELF binary, None for anything else (a script)."""
    head = elf_header(path)
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    order = "little" if head[5] == 1 else "big"
    machine = int.from_bytes(head[18:20], order)
    return _ELF_MACHINES.get(machine, f"elf-{machine}")


def is_dynamic(path: Path) -> bool:
    """Whether an ELF binary needs a program interpreter (ld.so): such a binary cannot
    run alone in an image without libc."""
    with path.open("rb") as f:
        head = f.read(64)
        if len(head) < 64 or head[:4] != b"\x7fELF":
            return False
        order = "little" if head[5] == 1 else "big"
        wide = head[4] == 2

        def num(data: bytes) -> int:
            return int.from_bytes(data, order)

        phoff = num(head[32:40]) if wide else num(head[28:32])
        phentsize = num(head[54:56]) if wide else num(head[42:44])
        phnum = num(head[56:58]) if wide else num(head[44:46])
        for i in range(min(phnum, 256)):
            f.seek(phoff + i * phentsize)
            if num(f.read(4)) == PT_INTERP:
                return True
    return False
