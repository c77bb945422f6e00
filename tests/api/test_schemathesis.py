"""Property-based run of every route in our own OpenAPI schema against the real server
process: no 500s, and every error in the shape of its API family."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import (
    drop_prepared_database,
    login_token,
    prepare_database,
    running_server,
    server_env,
)

ADMIN_PASSWORD = "Schema-Admin-2026"
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_api_never_500_and_errors_are_shaped(tmp_path: Path) -> None:
    url = prepare_database(tmp_path, "schemathesis")
    env = server_env(
        url,
        tmp_path / "data",
        TAICHU_ADMIN_PASSWORD=ADMIN_PASSWORD,
        TAICHU_SECRET_KEY="schemathesis-secret-0123456789abcdef",
    )
    try:
        with running_server(env, tmp_path / "server.log") as server:
            token = login_token(server.url, "admin", ADMIN_PASSWORD)
            run_env = {
                **os.environ,
                "SCHEMATHESIS_HOOKS": "tests.api.schemathesis_hooks",
                "PYTHONPATH": str(REPO),
            }
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "schemathesis.cli",
                    "run",
                    f"{server.url}/api/openapi.json",
                    "--checks",
                    "not_a_server_error,error_shape",
                    "--header",
                    f"Authorization: Bearer {token}",
                    # Logout would revoke the token the run uses; tests/auth covers it.
                    "--exclude-path",
                    "/api/v1/auth/logout",
                    "--max-examples",
                    "30",
                    "--seed",
                    "20261121",
                    "--request-timeout",
                    "30",
                    "--no-color",
                ],
                cwd=REPO,
                env=run_env,
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            output = result.stdout + result.stderr
            assert result.returncode == 0, output[-6000:]
            assert "Traceback" not in server.log(), server.log()[-4000:]
    finally:
        drop_prepared_database(url)
