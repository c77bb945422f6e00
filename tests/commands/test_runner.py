"""The runner's mechanics with a real process standing in for kubectl (a script that
reports what it was given): environment, kubeconfig, working dir, caps, time limit."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

from taichu.commands import runner
from taichu.commands.gate import CommandGate
from taichu.errors import TooManyRequests, Unavailable

KUBECONFIG = "apiVersion: v1\nkind: Config\n# secret-token-for-this-run-only\n"


def _script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "fake-kubectl"
    path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return str(path)


def _invocation(binary: str, *args: str, **kw: object) -> runner.Invocation:
    values: dict[str, object] = {
        "binary": binary,
        "argv": ["kubectl", *args],
        "kubeconfig": KUBECONFIG,
        "stdin": None,
        "timeout": 20.0,
        "max_output": 1024 * 1024,
    }
    values.update(kw)
    return runner.Invocation(**values)  # type: ignore[arg-type]


REPORT = """
import json, os, sys
path = os.environ["KUBECONFIG"]
info = {
    "argv": sys.argv[1:],
    "env": dict(os.environ),
    "cwd": os.getcwd(),
    "cwd_entries": os.listdir("."),
    "kubeconfig": open(path).read(),
    "kubeconfig_on_disk": not path.startswith("/proc/self/fd/"),
    "stdin": sys.stdin.read(),
}
print(json.dumps(info))
"""


async def test_scrubbed_environment_private_cwd_and_in_memory_kubeconfig(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTPS_PROXY", "http_proxy", "NO_PROXY", "KUBECONFIG", "AWS_SECRET"):
        monkeypatch.setenv(name, "from-the-server")
    outcome = await runner.run(
        _invocation(_script(tmp_path, REPORT), "get", "pods", "a b", stdin=b"kind: List\n")
    )
    assert outcome.status == runner.DONE and outcome.returncode == 0, outcome.stderr
    info = json.loads(outcome.stdout)
    assert info["argv"] == ["get", "pods", "a b"]  # words passed as they are, no shell
    assert set(info["env"]) == {"PATH", "HOME", "KUBECONFIG", "KUBECACHEDIR", "KUBERC", "LANG"}
    assert info["env"]["HOME"] == info["cwd"] != os.environ.get("HOME")
    assert info["cwd_entries"] == []  # empty: nothing of the server's files
    assert info["kubeconfig"] == KUBECONFIG and not info["kubeconfig_on_disk"]
    assert info["stdin"] == "kind: List\n"
    assert not _exists(info["cwd"])  # removed at once


async def test_nonzero_exit_is_failed_with_its_stderr(tmp_path: Path) -> None:
    binary = _script(tmp_path, "import sys\nsys.stderr.write('forbidden\\n')\nsys.exit(1)\n")
    outcome = await runner.run(_invocation(binary, "get", "pods"))
    assert (outcome.status, outcome.returncode, outcome.stderr) == ("failed", 1, b"forbidden\n")


async def test_output_is_capped_and_counted(tmp_path: Path) -> None:
    binary = _script(
        tmp_path,
        "import sys\nsys.stdout.write('x' * (5 * 1024 * 1024))\nsys.stderr.write('e' * 10)\n",
    )
    outcome = await runner.run(_invocation(binary, max_output=1024 * 1024))
    assert outcome.status == "done" and outcome.truncated
    assert outcome.stdout == b"x" * (1024 * 1024) and outcome.stdout_bytes == 5 * 1024 * 1024
    assert outcome.stderr == b"e" * 10 and outcome.stderr_bytes == 10


async def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    # kubectl's stand-in starts a child that would outlive it, then hangs.
    binary = _script(
        tmp_path,
        f"""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        open({str(pid_file)!r}, "w").write(str(child.pid))
        print("started", flush=True)
        time.sleep(600)
        """,
    )
    outcome = await runner.run(_invocation(binary, timeout=2.0))
    assert outcome.status == "timeout" and outcome.returncode is None
    assert outcome.stdout == b"started\n" and 2000 <= outcome.duration_ms < 15000
    child = int(pid_file.read_text())
    assert not _exists(f"/proc/{child}") or _state(child) == "Z"


def _exists(path: str) -> bool:
    return Path(path).exists()


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


async def test_a_missing_binary_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(Unavailable, match="cannot be started"):
        await runner.run(_invocation(str(tmp_path / "no-kubectl")))


async def test_fallback_kubeconfig_file_is_private_and_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Where there is no memfd: a 0600 file in a private directory, gone after the run.
    monkeypatch.delattr(os, "memfd_create")
    binary = _script(
        tmp_path,
        "import os, json\np = os.environ['KUBECONFIG']\n"
        "print(json.dumps([p, oct(os.stat(p).st_mode & 0o777),"
        " oct(os.stat(os.path.dirname(p)).st_mode & 0o777)]))\n",
    )
    outcome = await runner.run(_invocation(binary))
    path, mode, dir_mode = json.loads(outcome.stdout)
    assert (mode, dir_mode) == (oct(0o600), oct(0o700)) and not _exists(path)


def test_gate_limits_per_user_and_in_all() -> None:
    gate = CommandGate(per_user=2, total=3)
    with gate.slot("a"), gate.slot("a"):
        with pytest.raises(TooManyRequests, match="at most 2"), gate.slot("a"):
            pass
        with gate.slot("b"):
            with pytest.raises(TooManyRequests, match="at most 3"), gate.slot("c"):
                pass
            assert gate.running == 3
    assert gate.running == 0
    with gate.slot("a"), gate.slot("a"):  # slots are given back
        pass


async def test_the_clusters_discovery_cache_outlives_the_run_home_does_not(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "data" / "kubectl-cache" / "cluster-1"
    binary = _script(
        tmp_path,
        "import os, pathlib\nc = pathlib.Path(os.environ['KUBECACHEDIR'])\n"
        "(c / 'discovery').write_text('cached')\nprint(os.environ['HOME'])\n",
    )
    outcome = await runner.run(_invocation(binary, cache_dir=cache))
    assert outcome.status == "done", outcome.stderr
    assert (cache / "discovery").read_text() == "cached"
    assert oct(cache.stat().st_mode & 0o777) == oct(0o700)
    assert not _exists(outcome.stdout.decode().strip())
