"""A refused request's audit record is committed before its answer starts: a caller who
has the 4xx and asks the audit log at once finds it (under load, a record written after
the answer was missing from the log the caller read next)."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import func, select
from starlette.types import Message

from taichu.app import create_app
from taichu.audit.models import AuditRecord
from taichu.config import Settings
from tests.conftest import ADMIN_PASSWORD, login

PATH = "/api/anomaly/blacklist/"


async def _records(app: Any) -> int:
    async with app.state.ctx.read_sessions() as session:
        query = select(func.count()).select_from(AuditRecord).where(AuditRecord.path == PATH)
        return int((await session.execute(query)).scalar_one())


async def test_the_record_of_a_refusal_is_in_the_log_before_the_answer_starts(
    settings: Settings, clean_db: None
) -> None:
    app = create_app(settings)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    try:
        transport = httpx.ASGITransport(app=app, client=("10.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            token = await login(client, "admin", ADMIN_PASSWORD)
        body = json.dumps({"ip": "10.0.0.1", "action": "block"}).encode()  # the caller's own
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": PATH,
            "raw_path": PATH.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [
                (b"host", b"t"),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"authorization", f"Bearer {token}".encode()),
            ],
            "client": ("10.0.0.1", 40000),
            "server": ("t", 80),
            "app": app,
            "state": {},
        }
        sent: list[tuple[int, int]] = []  # (status, records in the log at that moment)

        async def receive() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                sent.append((message["status"], await _records(app)))

        assert await _records(app) == 0
        await app(scope, receive, send)
        assert len(sent) == 1
        status, records_when_answered = sent[0]
        assert 400 <= status < 500, status
        assert records_when_answered == 1
        assert await _records(app) == 1  # and not written twice
    finally:
        await lifespan.__aexit__(None, None, None)
