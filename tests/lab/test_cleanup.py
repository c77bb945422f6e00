"""Nothing of the lab survives its owner: Ctrl-C of a test run, or SIGKILL plus the janitor."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from taichu.lab.janitor import sweep
from taichu.lab.state import OWNER_ENV
from tests.lab.leftovers import NOTHING, leftovers

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != OWNER_ENV}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _wait_for(predicate: object, timeout: float, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            pytest.fail(f"child exited early ({proc.returncode}):\n{out[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("child did not get ready in time")
        time.sleep(0.2)


CLEANUP_BOUND = 180


def _interruptible() -> None:
    """SIGINT at its default in the child, as in a terminal. A suite started in the
    background (`cmd &`, CI runners) inherits SIGINT ignored, and a Python started with it
    ignored never turns it into KeyboardInterrupt: the child would sleep through it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_test_run_leaves_nothing(tmp_path: Path, signum: signal.Signals) -> None:
    ready = tmp_path / "ready"
    stacks = tmp_path / "stacks.txt"
    (tmp_path / "test_hold.py").write_text(
        textwrap.dedent(f"""
        import faulthandler
        import signal
        import time
        from pathlib import Path

        # Where a hang waits; to a file, as pytest captures stderr while it tears down.
        faulthandler.register(signal.SIGUSR1, file=open({str(stacks)!r}, "w"), all_threads=True)

        def test_hold(lab_cluster, ssh_hosts):
            Path({str(ready)!r}).write_text("up")
            time.sleep(300)
    """)
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "taichu.lab.pytest_fixtures",
            "test_hold.py",
        ],
        cwd=tmp_path,
        env=_child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=_interruptible,
    )
    _wait_for(ready.exists, 180, proc)
    before = leftovers(proc.pid)
    assert len(before["processes"]) >= 8  # 5 control-plane processes + 3 sshd at least
    assert len(before["netns"]) == 3 and len(before["links"]) == 3

    proc.send_signal(signum)
    try:
        # Teardown's own bounds add up to about 70 s in the worst case (a control plane's
        # grace, then each SSH host's processes, sshd and namespace); a loaded CI machine
        # has twice that before this counts as hanging.
        out, _ = proc.communicate(timeout=CLEANUP_BOUND)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)  # the child's stacks, then it goes
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.communicate(timeout=5)
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError(
            f"no clean exit within {CLEANUP_BOUND}s; still there: {leftovers(proc.pid)}\n"
            f"{out[-8000:]}\n{stacks.read_text() if stacks.exists() else 'no stacks'}"
        ) from None
    if signum == signal.SIGINT:
        assert "KeyboardInterrupt" in out  # pytest tore the fixtures down
    else:
        assert proc.returncode == -signal.SIGTERM  # cleaned up, then died of the signal
    assert leftovers(proc.pid) == NOTHING


def test_janitor_removes_what_a_killed_owner_left(tmp_path: Path) -> None:
    # Started from a thread, the processes get no parent-death signal: after SIGKILL of
    # the owner they all survive, and only the janitor can remove them.
    script = textwrap.dedent("""
        import threading, time
        from taichu.lab.cluster import LabCluster
        from taichu.lab.ssh_hosts import SshHost

        def start():
            LabCluster("orphan").start()
            SshHost().start()

        t = threading.Thread(target=start)
        t.start()
        t.join()
        print("READY", flush=True)
        time.sleep(300)
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        env=_child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "READY", line + proc.stdout.read()[-3000:]
    left = leftovers(proc.pid)
    assert len(left["processes"]) >= 6 and left["netns"] and left["dirs"]
    proc.kill()
    proc.wait()
    # (Other sweeps, e.g. of a parallel worker's session start, may get there first.)
    sweep()
    assert leftovers(proc.pid) == NOTHING
