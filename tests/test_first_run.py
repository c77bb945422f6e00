"""A new operator's first run, as the README tells it: clone, `make serve`, log in as admin,
create a user, log in as that user, change the password — over HTTP against the process."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support.server import free_port

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_readme_first_run(tmp_path: Path) -> None:
    if os.environ.get("TAICHU_TEST_DB", "sqlite") != "sqlite":
        pytest.skip("the README's serve command runs on the embedded SQLite default")
    clone = tmp_path / "taichu"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True, timeout=120)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAICHU_", "VIRTUAL_ENV"))}
    env["TAICHU_PORT"] = str(port)
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        ["make", "serve"],
        cwd=clone,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600  # includes creating .venv and installing
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(1)
        assert (clone / "data" / "taichu.db").exists()  # the embedded default
        with httpx.Client(base_url=base, timeout=30) as http:
            login = http.post("/api/v1/auth/login", json={"username": "admin", "password": "admin"})
            assert login.status_code == 200
            admin = {"Authorization": f"Bearer {login.json()['data']['token']}"}
            profile = http.get("/api/v1/auth/profile", headers=admin).json()["data"]
            assert profile["password_change_required"] is True
            # Until the bootstrap password is changed, the admin can do nothing else.
            operator = {
                "username": "operator",
                "email": "op@example.com",
                "password": "First-Pass-1",
            }
            refused = http.post("/api/v1/auth/register", headers=admin, json=operator)
            assert refused.status_code == 403
            change = f"PUT /api/v1/users/{profile['id']}/password"
            assert refused.json()["message"] == f"change the bootstrap password first: {change}"
            assert http.get("/api/v1/clusters", headers=admin).status_code == 403
            bootstrap_changed = http.put(
                f"/api/v1/users/{profile['id']}/password",
                headers=admin,
                json={"old_password": "admin", "new_password": "Admin-Chosen-9"},
            )
            assert bootstrap_changed.status_code == 200, bootstrap_changed.text
            assert http.get("/api/v1/clusters", headers=admin).status_code == 200
            created = http.post(
                "/api/v1/auth/register",
                headers=admin,
                json=operator,
            )
            assert created.status_code == 200
            user_id = created.json()["data"]["id"]
            token = http.post(
                "/api/v1/auth/login", json={"username": "operator", "password": "First-Pass-1"}
            ).json()["data"]["token"]
            changed = http.put(
                f"/api/v1/users/{user_id}/password",
                headers={"Authorization": f"Bearer {token}"},
                json={"old_password": "First-Pass-1", "new_password": "Second-Pass-2"},
            )
            assert changed.status_code == 200
            relogin = http.post(
                "/api/v1/auth/login", json={"username": "operator", "password": "Second-Pass-2"}
            )
            assert relogin.status_code == 200
            old = http.post(
                "/api/v1/auth/login", json={"username": "operator", "password": "First-Pass-1"}
            )
            assert old.status_code == 401
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        shutil.rmtree(clone / ".venv", ignore_errors=True)
    # SIGTERM is a graceful shutdown.
    assert "Application shutdown complete" in (tmp_path / "serve.log").read_text()
