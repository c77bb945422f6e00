"""`taichu lab up|status|down` through the Typer app."""

from __future__ import annotations

import json
import os
import socket
import subprocess

import pytest
import typer
from typer.testing import CliRunner

from taichu.lab.binaries import LabBinaries
from taichu.lab.cli import lab_app
from tests.lab.leftovers import NOTHING, leftovers

pytestmark = pytest.mark.lab

app = typer.Typer()
app.add_typer(lab_app, name="lab")


def test_up_status_down(lab_binaries: LabBinaries) -> None:
    runner = CliRunner()
    name = f"cli{os.getpid()}"
    result = runner.invoke(
        app,
        ["lab", "up", "--name", name, "--clusters", "1", "--nodes", "2", "--hosts", "1", "--json"],
    )
    try:
        assert result.exit_code == 0, result.output
        env = json.loads(result.output[result.output.index("{") :])
        (cluster,) = env["clusters"]
        (host,) = env["hosts"]
        nodes = subprocess.run(
            [
                lab_binaries.bin("kubectl"),
                f"--kubeconfig={cluster['kubeconfig']}",
                "get",
                "nodes",
                "--no-headers",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        assert len(nodes) == 2 and all(" Ready " in n for n in nodes)
        with socket.create_connection((host["address"], host["port"]), timeout=5) as s:
            assert s.recv(4) == b"SSH-"

        status = runner.invoke(app, ["lab", "status", "--name", name, "--json"])
        assert status.exit_code == 0, status.output
        daemon = json.loads(status.output)["daemon_pid"]
    finally:
        down = runner.invoke(app, ["lab", "down", "--name", name])
    assert down.exit_code == 0, down.output
    assert runner.invoke(app, ["lab", "status", "--name", name]).exit_code == 1
    assert leftovers(daemon) == NOTHING
