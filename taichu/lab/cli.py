"""`taichu lab up|down|status`: a local environment of lab clusters and SSH hosts.

`up` starts a daemon (taichu.lab.daemon) that owns everything, waits until it is ready
and prints how to reach it; `down` asks the daemon to remove it all.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console

from taichu.lab.daemon import env_dir
from taichu.lab.janitor import sweep
from taichu.lab.procs import tail
from taichu.lab.state import OWNER_ENV, owner_alive

lab_app = typer.Typer(help="Local Kubernetes clusters (kwok nodes) and SSH hosts for testing.")
console = Console()

NameOpt = Annotated[str, typer.Option(help="Environment name; several can run side by side.")]


def _daemon_pid(name: str) -> int | None:
    try:
        record = json.loads((env_dir(name) / "daemon.json").read_text())
    except (FileNotFoundError, ValueError):
        return None
    pid = int(record["pid"])
    return pid if owner_alive(pid, record.get("start")) else None


def _env(name: str) -> dict[str, Any] | None:
    try:
        return dict(json.loads((env_dir(name) / "env.json").read_text()))
    except (FileNotFoundError, ValueError):
        return None


def _api_state(server: str) -> str:
    try:
        resp = httpx.get(f"{server}/livez", verify=False, timeout=2)  # noqa: S501
    except httpx.HTTPError:
        return "[red]down[/red]"
    # Anonymous /livez is allowed, or refused by RBAC: either way the server answers.
    return "[green]up[/green]" if resp.status_code in (200, 401, 403) else str(resp.status_code)


def _sshd_state(address: str, port: int) -> str:
    try:
        socket.create_connection((address, port), timeout=1).close()
    except OSError:
        return "[red]down[/red]"
    return "[green]up[/green]"


def _show(env: dict[str, Any], live: bool = False) -> None:
    # Plain lines rather than tables: paths and passwords must never be truncated.
    for c in env["clusters"]:
        state = f"  API {_api_state(c['server'])}" if live else ""
        console.print(
            f"[bold]cluster {c['name']}[/bold]  {c['version']}  {c['nodes']} nodes  "
            f"{c['server']}{state}",
            soft_wrap=True,
        )
        console.print(f"  export KUBECONFIG={c['kubeconfig']}", soft_wrap=True, highlight=False)
    for h in env["hosts"]:
        state = f"  sshd {_sshd_state(h['address'], h['port'])}" if live else ""
        console.print(
            f"[bold]host {h['hostname']}[/bold]  ssh -p {h['port']} {h['username']}@{h['address']}"
            f"  password: {h['password']}  key: {h['private_key_path']}{state}",
            soft_wrap=True,
            highlight=False,
        )


@lab_app.command()
def up(
    clusters: Annotated[int, typer.Option(min=0, help="Clusters to start.")] = 1,
    nodes: Annotated[
        int, typer.Option(min=0, help="kwok nodes per cluster (the first is a control-plane node).")
    ] = 3,
    hosts: Annotated[int, typer.Option(min=0, help="SSH hosts to start.")] = 3,
    name: NameOpt = "default",
    timeout: Annotated[float, typer.Option(help="Seconds to wait for readiness.")] = 300,
    as_json: Annotated[bool, typer.Option("--json", help="Print the state as JSON.")] = False,
) -> None:
    """Start an environment in the background and print how to reach it."""
    if _daemon_pid(name):
        console.print(f"environment {name!r} is already up; see `taichu lab status`.")
        raise typer.Exit(1)
    directory = env_dir(name)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "env.json").unlink(missing_ok=True)
    log = directory / "daemon.log"
    # The daemon is its own owner: it must not carry ours, or a janitor would reap it
    # once this command has exited.
    env = {k: v for k, v in os.environ.items() if k != OWNER_ENV}
    with log.open("ab") as out:
        daemon = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "taichu.lab.daemon",
                "--name",
                name,
                "--clusters",
                str(clusters),
                "--nodes",
                str(nodes),
                "--hosts",
                str(hosts),
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    deadline = time.monotonic() + timeout
    with console.status(f"starting {clusters} cluster(s), {hosts} host(s)..."):
        while (state := _env(name)) is None or state["status"] == "starting":
            if daemon.poll() is not None or time.monotonic() > deadline:
                daemon.kill()
                console.print(f"[red]lab daemon failed[/red]; last lines of {log}:\n{tail(log)}")
                raise typer.Exit(1)
            time.sleep(0.3)
    if state["status"] != "ready":
        console.print(f"[red]failed:[/red] {state.get('error')}")
        down(name)
        raise typer.Exit(1)
    if as_json:
        print(json.dumps(state, indent=2))
    else:
        _show(state)
        console.print(f"state: {directory}; stop with `taichu lab down --name {name}`")


@lab_app.command()
def down(name: NameOpt = "default") -> None:
    """Stop the environment and remove everything it started."""
    pid = _daemon_pid(name)
    if pid:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while _daemon_pid(name) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _daemon_pid(name):
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
    removed = sweep()  # whatever a daemon that died or was killed left behind
    shutil.rmtree(env_dir(name), ignore_errors=True)
    what = ", ".join(f"{v} {k}" for k, v in removed.items() if v)
    console.print(f"environment {name!r} is down" + (f" (swept {what})" if what else ""))


@lab_app.command()
def status(
    name: NameOpt = "default",
    as_json: Annotated[bool, typer.Option("--json", help="Print the state as JSON.")] = False,
) -> None:
    """Show the environment and whether its API servers and hosts answer."""
    pid, state = _daemon_pid(name), _env(name)
    if not pid or state is None:
        console.print(f"environment {name!r} is not up")
        raise typer.Exit(1)
    if as_json:
        print(json.dumps({**state, "daemon_pid": pid}, indent=2))
        return
    console.print(f"environment {name!r}: {state['status']} (daemon pid {pid})")
    if state["status"] == "ready":
        _show(state, live=True)
    else:
        console.print(state.get("error", ""))
