"""Where clusters may be registered, against a real `taichu serve` and a real HTTPS server
posing as an API server on loopback (issue 8, finding 11): link-local and cloud metadata
addresses for nobody, loopback for admins only unless the operator allows it, and runtime
clusters a user added are that user's own."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from taichu.clusters.service import UNREACHABLE_FOR_USERS
from tests.clusters.serving import (
    USER_PASSWORD,
    FakeApiServer,
    Served,
    fake_apiserver,
    kubeconfig,
    serve,
    serve_database,
)
from tests.support.server import drop_prepared_database, free_port, login_token, prepare_database


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeApiServer]:
    with fake_apiserver() as server:
        yield server


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Default settings: no allowance for users."""
    with serve(tmp_path_factory.mktemp("targets"), "targets") as served:
        yield served


@pytest.fixture(scope="module")
def allowing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The operator lets users register clusters on loopback."""
    tmp = tmp_path_factory.mktemp("targets-allowing")
    with serve(tmp, "targets_allowing", TAICHU_KUBE__ALLOWED_NETWORKS="127.0.0.0/8") as served:
        yield served


def by_kubeconfig(served: Served, headers: dict[str, str], name: str, text: str) -> httpx.Response:
    return httpx.post(
        f"{served.url}/api/v1/clusters",
        headers=headers,
        json={"name": name, "kubeconfig": text},
        timeout=60,
    )


def by_import(served: Served, headers: dict[str, str], name: str, text: str) -> httpx.Response:
    return httpx.post(
        f"{served.url}/api/v1/clusters/import",
        headers=headers,
        json={"name": name, "kubeconfig": text, "import_source": "kubeconfig"},
        timeout=60,
    )


def by_address(
    served: Served, headers: dict[str, str], name: str, host: str, port: int, **extra: Any
) -> httpx.Response:
    return httpx.post(
        f"{served.url}/api/runtime/clusters/register/",
        headers=headers,
        json={"name": name, "api_server": host, "port": port, **extra},
        timeout=60,
    )


def cluster_names(served: Served) -> list[str]:
    listed = httpx.get(f"{served.url}/api/v1/clusters", headers=served.admin, timeout=30)
    return [c["name"] for c in listed.json()["data"]["clusters"]]


def test_default_refuses_loopback_for_a_user(served: Served, fake: FakeApiServer) -> None:
    user = served.new_user("loopy")
    before = fake.requests
    for server in (fake.server, f"https://localhost:{fake.port}", f"https://[::1]:{fake.port}"):
        text = kubeconfig(server, fake.ca_pem)
        for send in (by_kubeconfig, by_import):
            response = send(served, user, "mine", text)
            assert response.status_code == 422, response.text
            assert "loopback" in response.json()["message"], response.text
    response = by_address(served, user, "mine", "127.0.0.1", fake.port)
    assert response.status_code == 422 and "loopback" in response.json()["detail"]
    response = by_address(served, user, "mine", "localhost", fake.port)
    assert response.status_code == 422 and "loopback" in response.json()["detail"]
    assert fake.requests == before  # refused before any connection
    assert "mine" not in cluster_names(served)


@pytest.mark.parametrize(
    "host", ["169.254.169.254", "[::ffff:169.254.169.254]", "[fd00:ec2::254]", "[fe80::1]"]
)
def test_metadata_and_link_local_are_refused_even_for_an_admin(served: Served, host: str) -> None:
    text = kubeconfig(f"https://{host}:443")
    for send in (by_kubeconfig, by_import):
        response = send(served, served.admin, "metadata", text)
        assert response.status_code == 422, response.text
        assert "link-local or cloud metadata" in response.json()["message"]
    response = by_address(served, served.admin, "metadata", host.strip("[]"), 80)
    assert response.status_code == 422, response.text
    assert "link-local or cloud metadata" in response.json()["detail"]
    assert "metadata" not in cluster_names(served)


def test_admin_may_register_on_loopback(served: Served, fake: FakeApiServer) -> None:
    ca = fake.ca_pem.decode()
    response = by_address(
        served, served.admin, "admins-own", "127.0.0.1", fake.port, ca_certificate=ca
    )
    assert response.status_code == 200, response.text
    # By kubeconfig the address is accepted too; this server then refuses the credentials.
    before = fake.requests
    response = by_kubeconfig(
        served, served.admin, "admins-kc", kubeconfig(fake.server, fake.ca_pem)
    )
    assert response.status_code == 422 and "loopback" not in response.json()["message"]
    assert fake.requests > before


def test_the_operator_may_allow_loopback_for_users(allowing: Served, fake: FakeApiServer) -> None:
    user = allowing.new_user("allowed")
    ca = fake.ca_pem.decode()
    response = by_address(allowing, user, "users-own", "127.0.0.1", fake.port, ca_certificate=ca)
    assert response.status_code == 200, response.text
    # Metadata addresses stay refused whatever the allowance.
    response = by_address(allowing, allowing.admin, "md", "169.254.169.254", 443)
    assert response.status_code == 422


def users_and_admins(
    served: Served, user: dict[str, str], fake: FakeApiServer
) -> tuple[httpx.Response, httpx.Response]:
    """The user's and an admin's registration of the same loopback server, by address."""
    ca = fake.ca_pem.decode()
    mine = by_address(served, user, "users-fake", "127.0.0.1", fake.port, ca_certificate=ca)
    assert mine.status_code == 200, mine.text
    shared = by_address(
        served, served.admin, "admins-shared", "127.0.0.1", fake.port, ca_certificate=ca
    )
    assert shared.status_code == 200, shared.text
    return mine, shared


def test_a_users_runtime_cluster_is_theirs_alone(allowing: Served, fake: FakeApiServer) -> None:
    """Bob binding his token to Alice's cluster would send it to the server Alice chose."""
    alice, bob = allowing.new_user("alice"), allowing.new_user("bob")
    mine, shared = users_and_admins(allowing, alice, fake)

    refused = bind(allowing, bob, mine.json()["id"], "bobs-secret-token")
    assert refused.status_code == 403, refused.text
    assert "another user" in refused.json()["detail"]
    assert "bobs-secret-token" not in fake.seen_tokens  # never sent to Alice's server
    reads = httpx.get(
        f"{allowing.url}/api/runtime/pods/?cluster_id={mine.json()['id']}",
        headers=bob,
        timeout=30,
    )
    assert reads.status_code == 403

    # Alice may bind to her own; anyone to an admin's (this server then rejects the token).
    own = bind(allowing, alice, mine.json()["id"], "alices-token")
    assert own.status_code == 422 and "rejected" in own.json()["detail"]
    assert "alices-token" in fake.seen_tokens
    open_to_all = bind(allowing, bob, shared.json()["id"], "bobs-other-token")
    assert open_to_all.status_code == 422 and "rejected" in open_to_all.json()["detail"]
    assert "bobs-other-token" in fake.seen_tokens


def bind(served: Served, headers: dict[str, str], cluster_id: str, token: str) -> httpx.Response:
    return httpx.post(
        f"{served.url}/api/auth/k8s/account/bind/",
        headers=headers,
        json={"cluster_id": cluster_id, "token": token},
        timeout=60,
    )


def test_a_users_address_is_checked_again_at_every_connect(
    tmp_path: Path, fake: FakeApiServer
) -> None:
    """What DNS rebinding would do (a name a user registered resolving to loopback later),
    with the allowance the address was registered under withdrawn instead: a connection to
    the user's cluster is refused before it is opened, an admin's is not."""
    url = prepare_database(tmp_path, "rebind")
    try:
        allowing = {"TAICHU_KUBE__ALLOWED_NETWORKS": "127.0.0.0/8"}
        with serve_database(url, tmp_path, "rebind", "before", **allowing) as served:
            alice = served.new_user("alice")
            mine, shared = users_and_admins(served, alice, fake)
            first = bind(served, alice, mine.json()["id"], "alices-first-token")
            assert "rejected" in first.json()["detail"], first.text  # it was reached
        with serve_database(url, tmp_path, "rebind", "after") as served:
            alice = {"Authorization": f"Bearer {login_token(served.url, 'alice', USER_PASSWORD)}"}
            before = fake.requests
            refused = bind(served, alice, mine.json()["id"], "alices-second-token")
            assert refused.status_code == 422, refused.text
            assert "loopback" in refused.json()["detail"], refused.text
            assert fake.requests == before and "alices-second-token" not in fake.seen_tokens
            # An admin's registration on the same address is still reached.
            opened = bind(served, alice, shared.json()["id"], "alices-token-for-admins")
            assert "rejected" in opened.json()["detail"], opened.text
            assert "alices-token-for-admins" in fake.seen_tokens
    finally:
        drop_prepared_database(url)


def test_errors_do_not_echo_long_hosts(served: Served, tmp_path: Path) -> None:
    host = "h" * 60 + ".invalid"
    response = by_kubeconfig(served, served.admin, "long", kubeconfig(f"https://{host}:6443"))
    assert response.status_code == 422
    assert host not in response.text and len(response.content) < 500


def test_a_user_cannot_tell_closed_open_and_tls_ports_apart(allowing: Served) -> None:
    """Registration must not be a port scanner: to a user, a closed port, a plain-HTTP
    port and a silent one fail alike; an admin still sees which it was."""
    user = allowing.new_user("scanner")
    closed = free_port()
    plain_http = int(allowing.url.rsplit(":", 1)[1])  # taichu serve itself: not TLS
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # accepts into the backlog, never answers
        quiet = silent.getsockname()[1]
        seen: dict[str, set[str]] = {"user": set(), "admin": set()}
        for who, headers in (("user", user), ("admin", allowing.admin)):
            for port in (closed, plain_http, quiet):
                text = kubeconfig(f"https://127.0.0.1:{port}")
                answer = by_kubeconfig(allowing, headers, f"scan-{who}-{port}", text)
                assert answer.status_code == 422, answer.text
                seen[who].add(answer.json()["message"].split(": ", 2)[-1])
                runtime = by_address(allowing, headers, f"scan-rt-{who}-{port}", "127.0.0.1", port)
                assert runtime.status_code == 422, runtime.text
                seen[who].add(runtime.json()["detail"].split(": ", 2)[-1])
    assert seen["user"] == {UNREACHABLE_FOR_USERS}, seen["user"]
    assert len(seen["admin"]) >= 3, seen["admin"]  # refused, not TLS, timed out
