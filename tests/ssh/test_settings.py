"""SshSettings from the environment."""

from __future__ import annotations

import pytest

from taichu.config import Settings


def test_ssh_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "CONNECT_TIMEOUT": "3.5",
        "COMMAND_TIMEOUT": "90",
        "MAX_OUTPUT_BYTES": "65536",
        "MAX_CONNECTIONS": "64",
        "MAX_PER_HOST": "2",
        "IDLE_SECONDS": "15",
    }.items():
        monkeypatch.setenv(f"TAICHU_SSH__{name}", value)
    ssh = Settings().ssh
    assert (ssh.connect_timeout, ssh.command_timeout, ssh.max_output_bytes) == (3.5, 90, 65536)
    assert (ssh.max_connections, ssh.max_per_host, ssh.idle_seconds) == (64, 2, 15)


def test_ssh_settings_defaults() -> None:
    ssh = Settings().ssh
    assert ssh.connect_timeout == 10 and ssh.max_per_host == 4 and ssh.max_output_bytes == 2**20
