"""API-wide rules: error shapes for unknown paths and methods, and that every route
except the public ones refuses a request without a token."""

from __future__ import annotations

import re

import httpx

PUBLIC = {
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/register"),
    ("POST", "/api/v1/auth/refresh"),
    ("GET", "/api/v1/auth/token"),  # 404 unless TAICHU_ENV=development
    ("POST", "/api/auth/register/"),
    ("POST", "/api/auth/login/"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
}
SAMPLE_ID = "00000000-0000-4000-8000-000000000000"


async def test_every_non_public_route_requires_a_token(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/api/openapi.json")).json()
    checked = 0
    for path, operations in schema["paths"].items():
        for method in operations:
            if method.upper() not in {"GET", "POST", "PUT", "PATCH", "DELETE"}:
                continue
            if (method.upper(), path) in PUBLIC:
                continue
            url = re.sub(r"\{[^}]+\}", SAMPLE_ID, path)
            response = await client.request(method.upper(), url, json={})
            assert response.status_code == 401, f"{method.upper()} {path}: {response.status_code}"
            body = response.json()
            if path.startswith("/api/") and not path.startswith("/api/v1"):
                assert "detail" in body
            else:
                assert body["code"] == 401 and body["data"] is None
            checked += 1
    assert checked >= 8


async def test_unknown_path_and_wrong_method(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/no-such-thing")
    assert missing.status_code == 404
    assert missing.json() == {
        "code": 404,
        "message": "Not found: GET /api/v1/no-such-thing",
        "data": None,
    }
    wrong = await client.patch("/api/v1/auth/login")
    assert wrong.status_code == 405
    assert wrong.json()["code"] == 405 and wrong.json()["data"] is None
    runtime_missing = await client.get("/api/runtime/nothing/")
    assert runtime_missing.status_code == 404 and "detail" in runtime_missing.json()


async def test_docs_and_schema_are_served(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/docs")).status_code == 200
    assert (await client.get("/api/redoc")).status_code == 200
    schema = (await client.get("/api/openapi.json")).json()
    login = schema["paths"]["/api/v1/auth/login"]["post"]
    assert "requestBody" in login and "200" in login["responses"]


async def test_health_ready_and_metrics(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ok"}
    await client.get("/api/v1/users", headers=admin_headers)
    metrics = await client.get("/metrics", headers=admin_headers)
    assert metrics.status_code == 200
    text = metrics.text
    assert 'taichu_http_requests_total{method="GET",route="/api/v1/users",status="200"}' in text
    assert "taichu_http_request_duration_seconds_bucket" in text
    assert 'taichu_jobs{state="queued"}' in text
    assert (await client.get("/metrics")).status_code == 401


async def test_metrics_token(start_app: object, make_settings: object) -> None:
    client = await start_app(make_settings(metrics_token="scrape-me-0123456789"))  # type: ignore[operator]
    scraper = {"Authorization": "Bearer scrape-me-0123456789"}
    response = await client.get("/metrics", headers=scraper)
    assert response.status_code == 200
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer scrape-me-wrong"})
    assert wrong.status_code == 401


async def test_every_route_documents_request_and_response_schemas(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/api/openapi.json")).json()
    text_routes = {("GET", "/metrics")}
    bodyless_actions = {
        ("POST", "/api/v1/auth/logout"),
        ("POST", "/api/v1/users/{id}/unlock"),
        ("POST", "/api/v1/machines/{id}/check"),
        ("POST", "/api/v1/create-tasks/{taskId}/retry"),
        ("POST", "/api/v1/create-tasks/{taskId}/cancel"),
        ("POST", "/api/v1/clusters/{id}/expansion/{expansionId}/cancel"),
        ("POST", "/api/v1/audit/verification"),
    }
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            route = (method.upper(), path)
            if route not in text_routes:
                success = operation["responses"].get("200", {})
                body = success.get("content", {}).get("application/json", {}).get("schema")
                assert body, f"{method.upper()} {path} has no 200 response schema"
            if method.upper() in {"POST", "PUT", "PATCH"} and route not in bodyless_actions:
                assert "requestBody" in operation, f"{method.upper()} {path} has no request body"
