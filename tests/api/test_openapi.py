"""Finding 19: the OpenAPI declared only 200 and FastAPI's own 422 array (never sent),
and operation ids like `get_backup_api_v_1_clusters_id_backups_backup_id_get`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx

from tests.support.server import ServerProcess

CLEAN_ID = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")
METHODS = {"get", "post", "put", "patch", "delete"}


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if method in METHODS
    ]


def _is_runtime(path: str) -> bool:
    return path.startswith("/api/") and not path.startswith("/api/v1")


def test_openapi_ids_and_error_responses(edge_server: Callable[..., ServerProcess]) -> None:
    server = edge_server()
    schema = httpx.get(f"{server.url}/api/openapi.json", timeout=30).json()
    operations = _operations(schema)
    assert len(operations) > 40

    ids = [operation["operationId"] for _, _, operation in operations]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    for (method, path, _), op_id in zip(operations, ids, strict=True):
        assert CLEAN_ID.match(op_id), (method, path, op_id)
        assert "api" not in op_id.split("_") and "__" not in op_id, (method, path, op_id)
    by_route = {(m, p): o["operationId"] for m, p, o in operations}
    assert by_route["get", "/api/v1/clusters"] == "clusters_list"
    assert by_route["post", "/api/v1/clusters/{id}/backups/{backupId}/restore"] == "backups_restore"
    assert by_route["get", "/api/v1/clusters/{id}/backups/{backupId}"] == "backups_get"
    assert by_route["post", "/api/v1/auth/login"] == "auth_login"
    assert by_route["post", "/api/runtime/clusters/register/"] == "runtime_clusters_register"

    text = json.dumps(schema)
    assert "HTTPValidationError" not in text and "ValidationError" not in schema["components"].get(
        "schemas", {}
    )
    components = schema["components"]["schemas"]
    assert components["ErrorEnvelope"]["required"] == ["code", "message", "data"]
    assert components["ErrorDetail"]["required"] == ["detail"]

    for method, path, operation in operations:
        responses = operation["responses"]
        errors = {int(s): r for s, r in responses.items() if s[0] in "45"}
        shape = "ErrorDetail" if _is_runtime(path) else "ErrorEnvelope"
        for status, response in errors.items():
            ref = response["content"]["application/json"]["schema"]["$ref"]
            assert ref == f"#/components/schemas/{shape}", (method, path, status, ref)
        expected = {403}  # a blocked address is refused on every path
        if operation.get("security"):
            expected.add(401)
            if method != "get":
                expected.add(503)  # the audit record could not be written
        if "requestBody" in operation:
            expected |= {400, 413, 422}
        if any(p["in"] == "path" for p in operation.get("parameters", [])):
            expected.add(404)
        assert expected <= set(errors), (method, path, sorted(errors))
    for login in (("post", "/api/v1/auth/login"), ("post", "/api/auth/login/")):
        assert {"401", "429"} <= set(schema["paths"][login[1]][login[0]]["responses"])
    paths = schema["paths"]
    assert "429" in paths["/api/state/command/"]["post"]["responses"]
    assert "503" in paths["/readyz"]["get"]["responses"]
    # What reaches a cluster or a machine answers its failures as 502/503.
    for method, path in [
        ("get", "/api/v1/clusters/{id}/nodes"),
        ("post", "/api/v1/clusters"),
        ("get", "/api/runtime/pods/"),
        ("post", "/api/state/command/"),
        ("post", "/api/v1/machines/{id}/check"),
    ]:
        assert {"502", "503"} <= set(paths[path][method]["responses"]), (method, path)
    assert "502" not in paths["/api/v1/users"]["get"]["responses"]


def test_declared_error_shapes_are_what_the_server_sends(
    edge_server: Callable[..., ServerProcess],
) -> None:
    server = edge_server(TAICHU_HTTP__MAX_BODY_BYTES="2048")
    answers = [
        httpx.get(f"{server.url}/api/v1/clusters", timeout=30),  # 401
        httpx.post(f"{server.url}/api/v1/auth/login", content=b"{", timeout=30),  # 400
        httpx.post(f"{server.url}/api/v1/auth/login", json={"pad": "x" * 4096}, timeout=30),
        httpx.get(f"{server.url}/api/runtime/clusters/", timeout=30),  # 401
        httpx.post(f"{server.url}/api/auth/login/", json={"pad": "x" * 4096}, timeout=30),
    ]
    assert [a.status_code for a in answers] == [401, 400, 413, 401, 413]
    for answer in answers:
        body = answer.json()
        if _is_runtime(answer.request.url.path):
            assert set(body) == {"detail"} and isinstance(body["detail"], str)
        else:
            assert set(body) == {"code", "message", "data"}
            assert body["code"] == answer.status_code and body["data"] is None
