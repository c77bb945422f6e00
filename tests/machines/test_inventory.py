"""The machine inventory over HTTP against a real `taichu serve`, field for field with
the spec (机器管理接口): create, list (page, limit, status, role, search, label_selector),
detail, update, delete, status; admins write, signed-in users read, never a credential
in a response. Addresses are TEST-NET-1 (192.0.2.0/24): checks fail, nothing answers."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator

import pytest

from tests.machines.serving import Inventory, machine_body, serve_inventory

SPEC_FIELDS = {
    "id",
    "name",
    "ip_address",
    "internal_address",
    "user",
    "role",
    "status",
    "labels",
    "created_at",
    "updated_at",
}
SECRET_FIELDS = {"password", "private_key", "passphrase"}


@pytest.fixture(scope="module")
def inv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Inventory]:
    with serve_inventory(tmp_path_factory.mktemp("inventory"), "inventory") as served:
        yield served


@pytest.fixture(autouse=True)
def empty(inv: Inventory) -> None:
    inv.sql("DELETE FROM machines")


def create(inv: Inventory, name: str, address: str, **fields: object) -> dict[str, object]:
    response = inv.post("/api/v1/machines", machine_body(name, address, **fields))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["code"] == 0 and body["message"] == "success"
    return dict(body["data"])


def test_create_returns_the_spec_fields_and_no_credential(inv: Inventory) -> None:
    data = create(
        inv,
        "machine-1",
        "192.0.2.10",
        internal_address="10.0.0.10",
        labels={"rack": "rack1"},
        role="master",
        artifact_path="/opt/artifacts",
        image_repo="registry.local/library",
        registry_address="registry.local:5000",
    )
    assert set(data) >= SPEC_FIELDS
    assert not SECRET_FIELDS & set(data)
    assert data["name"] == "machine-1"
    assert data["ip_address"] == "192.0.2.10"
    assert data["internal_address"] == "10.0.0.10"
    assert data["user"] == "root"
    assert data["role"] == "master"
    assert data["labels"] == {"rack": "rack1"}
    assert data["created_at"].endswith("Z")
    assert data["port"] == 22
    assert data["become"] is False  # root needs no sudo
    assert data["has_password"] is True and data["has_private_key"] is False
    assert data["artifact_path"] == "/opt/artifacts"
    assert data["registry_address"] == "registry.local:5000"
    # Not checked yet: not available until a check says so.
    assert data["status"] == "unavailable" and data["status_source"] == "check"
    assert data["host_key"] is None and data["host_key_source"] is None
    detail = inv.machine(str(data["id"]))
    assert detail["id"] == data["id"] and not SECRET_FIELDS & set(detail)


def test_defaults_internal_address_and_become(inv: Inventory) -> None:
    data = create(inv, "m-ops", "192.0.2.11", user="ops", port=2222)
    assert data["internal_address"] == "192.0.2.11"
    assert data["become"] is True  # not root: privileged commands through sudo
    assert data["port"] == 2222
    explicit = create(inv, "m-ops2", "192.0.2.12", user="ops", become=False)
    assert explicit["become"] is False


def test_list_pages_filters_and_clamps(inv: Inventory) -> None:
    for i in range(23):
        create(
            inv,
            f"node-{i:02d}",
            f"192.0.2.{100 + i}",
            role="master" if i < 3 else "worker",
            labels={"rack": "r1" if i % 2 else "r2"},
        )
    first = inv.get("/api/v1/machines").json()["data"]
    assert first["total"] == 23 and first["page"] == 1 and first["limit"] == 20
    assert len(first["machines"]) == 20
    assert set(first["machines"][0]) >= SPEC_FIELDS
    assert not SECRET_FIELDS & set(first["machines"][0])
    second = inv.get("/api/v1/machines", page=2).json()["data"]
    assert [m["name"] for m in second["machines"]] == ["node-20", "node-21", "node-22"]
    assert inv.get("/api/v1/machines", limit=1000).json()["data"]["limit"] == 100
    masters = inv.get("/api/v1/machines", role="master").json()["data"]
    assert masters["total"] == 3 and {m["role"] for m in masters["machines"]} == {"master"}
    r1 = inv.get("/api/v1/machines", label_selector="rack=r1").json()["data"]
    assert r1["total"] == 11
    both = inv.get("/api/v1/machines", label_selector="rack in (r1,r2),rack!=r2", role="worker")
    assert both.json()["data"]["total"] == 10
    found = inv.get("/api/v1/machines", search="192.0.2.122").json()["data"]
    assert [m["name"] for m in found["machines"]] == ["node-22"]
    assert inv.get("/api/v1/machines", search="NODE-0").json()["data"]["total"] == 10
    assert inv.get("/api/v1/machines", status="unavailable").json()["data"]["total"] == 23
    assert inv.get("/api/v1/machines", status="available").json()["data"]["total"] == 0


def test_list_filters_by_in_use_in_both_spellings(inv: Inventory) -> None:
    used = create(inv, "used", "192.0.2.20")
    create(inv, "free", "192.0.2.21")
    inv.sql("UPDATE machines SET status = 'in_use' WHERE id = :id", id=used["id"])
    for spelling in ("in_use", "in-use"):
        data = inv.get("/api/v1/machines", status=spelling).json()["data"]
        assert [m["name"] for m in data["machines"]] == ["used"]
        assert data["machines"][0]["status"] == "in_use"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "broken"}, "status"),
        ({"role": "boss"}, "role"),
        ({"label_selector": "rack in (r1"}, "label_selector"),
        ({"limit": 0}, "limit"),
    ],
)
def test_bad_list_parameters_name_the_field(
    inv: Inventory, params: dict[str, object], field: str
) -> None:
    response = inv.get("/api/v1/machines", **params)
    assert response.status_code in (400, 422), response.text
    body = response.json()
    assert body["code"] == response.status_code and body["data"] is None
    assert field in body["message"]


def test_detail_of_an_unknown_machine_is_404(inv: Inventory) -> None:
    for machine_id in ("6f1c1a52-8d55-4f69-9d8a-4c1a3c7d0e11", "not-a-uuid"):
        response = inv.get(f"/api/v1/machines/{machine_id}")
        assert response.status_code == 404 and response.json()["code"] == 404


def test_update_replaces_fields_and_keeps_omitted_credentials(inv: Inventory) -> None:
    data = create(inv, "m-upd", "192.0.2.30", labels={"a": "b"})
    body = machine_body("m-upd2", "192.0.2.31", role="etcd", labels={"c": "d"}, password=...)
    response = inv.put(f"/api/v1/machines/{data['id']}", body)
    assert response.status_code == 200, response.text
    updated = response.json()["data"]
    assert updated["name"] == "m-upd2" and updated["ip_address"] == "192.0.2.31"
    assert updated["role"] == "etcd" and updated["labels"] == {"c": "d"}
    assert updated["has_password"] is True  # omitted: kept
    assert updated["created_at"] == data["created_at"]
    # Removing the only credential is refused, and nothing changes.
    body = machine_body("m-upd3", "192.0.2.31", password=None)
    response = inv.put(f"/api/v1/machines/{data['id']}", body)
    assert response.status_code == 422 and "password" in response.json()["message"]
    assert inv.machine(str(data["id"]))["name"] == "m-upd2"
    missing = inv.put(
        "/api/v1/machines/6f1c1a52-8d55-4f69-9d8a-4c1a3c7d0e11", machine_body("x", "192.0.2.99")
    )
    assert missing.status_code == 404


def test_duplicate_address_or_name_is_409(inv: Inventory) -> None:
    create(inv, "dup", "2001:db8::1")
    same_address = inv.post("/api/v1/machines", machine_body("other", "2001:0db8:0:0::1"))
    assert same_address.status_code == 409, same_address.text
    assert "ip_address" in same_address.json()["message"]
    same_name = inv.post("/api/v1/machines", machine_body("dup", "192.0.2.40"))
    assert same_name.status_code == 409 and "name" in same_name.json()["message"]
    other = create(inv, "other", "192.0.2.41")
    moved = inv.put(f"/api/v1/machines/{other['id']}", machine_body("other", "2001:db8::1"))
    assert moved.status_code == 409
    assert inv.count() == 2


def test_concurrent_creates_of_one_address_store_one(inv: Inventory) -> None:
    def attempt(i: int) -> int:
        body = machine_body(f"race-{i}", "192.0.2.50")
        return inv.post("/api/v1/machines", body).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(attempt, range(8)))
    assert sorted(codes) == [200] + [409] * 7, codes
    assert inv.count() == 1
    # Moving several machines to one new address at once: one moves.
    ids = [create(inv, f"mover-{i}", f"192.0.2.{51 + i}")["id"] for i in range(4)]

    def move(i: int) -> int:
        body = machine_body(f"mover-{i}", "192.0.2.59", password=...)
        return inv.put(f"/api/v1/machines/{ids[i]}", body).status_code

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(move, range(4)))
    assert sorted(codes) == [200, 409, 409, 409], codes
    found = inv.get("/api/v1/machines", search="192.0.2.59").json()["data"]
    assert found["total"] == 1


def test_delete_and_409_while_in_use_or_deploying(inv: Inventory) -> None:
    data = create(inv, "m-del", "192.0.2.60")
    for status in ("in_use", "deploying"):
        inv.sql("UPDATE machines SET status = :s WHERE id = :id", s=status, id=data["id"])
        response = inv.delete(f"/api/v1/machines/{data['id']}")
        assert response.status_code == 409 and status in response.json()["message"]
    inv.sql("UPDATE machines SET status = 'unavailable' WHERE id = :id", id=data["id"])
    response = inv.delete(f"/api/v1/machines/{data['id']}")
    assert response.status_code == 200 and response.json()["data"]["message"]
    assert inv.get(f"/api/v1/machines/{data['id']}").status_code == 404
    assert inv.delete(f"/api/v1/machines/{data['id']}").status_code == 404


def test_status_endpoint_takes_the_spec_body_and_answers_the_spec_shape(inv: Inventory) -> None:
    data = create(inv, "m-st", "192.0.2.70")
    path = f"/api/v1/machines/{data['id']}/status"
    response = inv.put(path, {"status": "maintenance", "message": "计划维护中"})
    assert response.status_code == 200, response.text
    out = response.json()["data"]
    assert set(out) == {"id", "status", "message", "updated_at"}
    assert out["id"] == data["id"] and out["status"] == "maintenance"
    assert out["message"] == "计划维护中" and out["updated_at"].endswith("Z")
    detail = inv.machine(str(data["id"]))
    assert detail["status"] == "maintenance" and detail["status_message"] == "计划维护中"
    assert detail["status_source"] == "operator"
    events = inv.get(f"/api/v1/machines/{data['id']}/events").json()["data"]["events"]
    assert any("to maintenance" in e["message"] for e in events)
    for bad in ("in-use", "in_use", "deploying", "sleeping"):
        response = inv.put(path, {"status": bad})
        assert response.status_code == 422 and "status" in response.json()["message"], bad
    assert inv.machine(str(data["id"]))["status"] == "maintenance"
    assert inv.put(path, {"message": "no status"}).status_code == 400
    inv.sql("UPDATE machines SET status = 'in_use' WHERE id = :id", id=data["id"])
    busy = inv.put(path, {"status": "maintenance"})
    assert busy.status_code == 409 and busy.json()["code"] == 409


def test_writes_are_for_admins_reads_for_any_user(inv: Inventory) -> None:
    data = create(inv, "m-auth", "192.0.2.80")
    user = inv.new_user("machine-reader")
    listed = inv.get("/api/v1/machines", headers=user)
    assert listed.status_code == 200 and listed.json()["data"]["total"] == 1
    detail = inv.get(f"/api/v1/machines/{data['id']}", headers=user)
    assert detail.status_code == 200 and not SECRET_FIELDS & set(detail.json()["data"])
    mid = data["id"]
    refused = [
        inv.post("/api/v1/machines", machine_body("m-user", "192.0.2.81"), headers=user),
        inv.put(f"/api/v1/machines/{mid}", machine_body("m-auth", "192.0.2.80"), headers=user),
        inv.delete(f"/api/v1/machines/{mid}", headers=user),
        inv.put(f"/api/v1/machines/{mid}/status", {"status": "error"}, headers=user),
        inv.post(f"/api/v1/machines/{mid}/check", {}, headers=user),
        inv.post(f"/api/v1/machines/{mid}/host-key", {"accept_current": True}, headers=user),
    ]
    assert [r.status_code for r in refused] == [403] * 6
    assert inv.count() == 1 and inv.machine(str(mid))["status"] == "unavailable"
    assert inv.get("/api/v1/machines", headers={}).status_code == 401


KEY_TOO_LONG = "x" * (16 * 1024 + 1)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"ip_address": "300.1.1.1"}, "ip_address"),
        ({"ip_address": "machine.example.com"}, "ip_address"),
        ({"ip_address": "0.0.0.0"}, "ip_address"),
        ({"internal_address": "10.0.0"}, "internal_address"),
        ({"role": "boss"}, "role"),
        ({"role": ...}, "role"),
        ({"name": ...}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "bad name!"}, "name"),
        ({"user": "root; rm -rf /"}, "user"),
        ({"user": "u" * 33}, "user"),
        ({"port": 0}, "port"),
        ({"port": 70000}, "port"),
        ({"password": ...}, "password"),
        ({"password": ""}, "password"),
        ({"password": "p" * 1025}, "password"),
        ({"private_key": KEY_TOO_LONG, "password": ...}, "private_key"),
        ({"private_key": "not a key", "password": ...}, "private_key"),
        ({"passphrase": "pp"}, "passphrase"),
        ({"labels": {"bad key!": "v"}}, "labels"),
        ({"labels": {"k": "v" * 64}}, "labels"),
        ({"labels": "rack=1"}, "labels"),
        ({"artifact_path": "a" * 501}, "artifact_path"),
        ({"host_key": "not a host key"}, "host_key"),
        ({"host_key": "ssh-ed25519 AAAA"}, "host_key"),
        ({"extra_field": 1}, "extra_field"),
        ({"port": "twenty-two"}, "port"),
    ],
)
def test_bad_input_names_the_field_and_stores_nothing(
    inv: Inventory, fields: dict[str, object], field: str
) -> None:
    response = inv.post("/api/v1/machines", machine_body("m-bad", "192.0.2.90", **fields))
    assert response.status_code in (400, 422), response.text
    body = response.json()
    assert body["code"] == response.status_code and body["data"] is None
    assert field in body["message"], body["message"]
    assert inv.count() == 0


def test_malformed_json_is_400(inv: Inventory) -> None:
    import httpx

    response = httpx.post(
        f"{inv.url}/api/v1/machines",
        content=b"{not json",
        headers={**inv.admin, "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 400 and response.json()["code"] == 400
