"""The hosts file of `taichu machines import`: KubeKey's shapes, every problem named."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from taichu.errors import Invalid
from taichu.machines import inventory_file
from taichu.machines.inventory_file import read_hosts_file

KEY = (
    Ed25519PrivateKey.generate()
    .private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption())
    .decode()
)


def write(tmp_path: Path, text: str, name: str = "hosts.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def refused(path: Path) -> str:
    with pytest.raises(Invalid) as e:
        read_hosts_file(path)
    return e.value.message


def test_plain_hosts_list_with_password_and_key_path(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "id").write_text(KEY)
    path = write(
        tmp_path,
        "hosts:\n"
        "- {name: node1, address: 10.0.0.1, internalAddress: 192.168.0.1, user: ubuntu,"
        " password: 'p@ss', port: '2222'}\n"
        "- {name: node2, address: 10.0.0.2, privateKeyPath: keys/id, role: master,"
        " labels: {rack: r1}}\n",
    )
    one, two = read_hosts_file(path)
    assert one.to_request() == {
        "name": "node1",
        "ip_address": "10.0.0.1",
        "internal_address": "192.168.0.1",
        "port": 2222,
        "user": "ubuntu",
        "role": "worker",
        "labels": {},
        "password": "p@ss",
    }
    assert two.user == "root" and two.role == "master" and two.private_key == KEY
    assert two.to_request()["internal_address"] == "10.0.0.2"
    assert two.to_request()["labels"] == {"rack": "r1"}
    assert "p@ss" not in repr(one) and "PRIVATE" not in repr(two)


def test_kubekey_cluster_config_roles_from_role_groups(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
apiVersion: kubekey.kubesphere.io/v1alpha2
kind: Cluster
metadata: {name: sample}
spec:
  hosts:
  - {name: node1, address: 10.0.0.1, internalAddress: 10.0.0.1, user: root, password: "x"}
  - {name: node2, address: 10.0.0.2, internalAddress: 10.0.0.2, user: root, password: "x"}
  - {name: node3, address: 10.0.0.3, internalAddress: 10.0.0.3, user: root, password: "x"}
  - {name: node4, address: 10.0.0.4, internalAddress: 10.0.0.4, user: root, password: "x"}
  roleGroups:
    etcd: [node1, node4]
    control-plane: [node1]
    worker: [node1, "node[2:10]"]
  controlPlaneEndpoint: {domain: lb.kubesphere.local, address: "", port: 6443}
  kubernetes: {version: v1.23.10}
""",
    )
    roles = {e.name: e.role for e in read_hosts_file(path)}
    assert roles == {"node1": "master", "node2": "worker", "node3": "worker", "node4": "etcd"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "hosts:\n- {name: a, address: 10.0.0.1, password: x, pasword: y}\n",
            "hosts[0] (a): unknown field 'pasword'",
        ),
        ("hosts:\n- {name: a, address: 10.0.0.1}\n", "hosts[0] (a): credentials missing"),
        (
            "hosts:\n- {name: a, address: 10.0.0.999, password: x}\n",
            "hosts[0] (a): field 'address': must be an IPv4 or IPv6 address",
        ),
        ("hosts:\n- {name: a, password: x}\n", "field 'address' is required"),
        ("hosts:\n- {address: 10.0.0.1, password: x}\n", "hosts[0]: field 'name' is required"),
        ("hosts:\n- {name: a, address: 10.0.0.1, password: x, port: 70000}\n", "field 'port'"),
        ("hosts:\n- {name: a, address: 10.0.0.1, password: x, role: boss}\n", "field 'role'"),
        (
            "hosts:\n- {name: a, address: 10.0.0.1, privateKeyPath: /nonexistent/id}\n",
            "field 'privateKeyPath': cannot read /nonexistent/id",
        ),
        (
            "hosts:\n- {name: a, address: 10.0.0.1, password: x}\n"
            "- {name: b, address: 10.0.0.1, password: x}\n",
            "hosts[1] (b): address '10.0.0.1' repeats hosts[0]",
        ),
        (
            "hosts:\n- {name: a, address: 10.0.0.1, password: x}\nroleGroups: {master: [b]}\n",
            "roleGroups.master: no host named 'b'",
        ),
        (
            "hosts:\n- {name: a, address: 10.0.0.1, password: x}\nroleGroups: {boss: [a]}\n",
            "roleGroups.boss: unknown group",
        ),
        ("hosts: []\n", "hosts: must be a non-empty list"),
        ("nodes: []\n", "unknown top-level field 'nodes'"),
        ("- a\n", "must be a mapping"),
        ("hosts:\n- &a {name: a, address: 10.0.0.1, password: x}\n- *a\n", "anchors and aliases"),
        ("hosts: [\n", "not valid YAML"),
    ],
)
def test_bad_files_name_entry_and_field(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in refused(write(tmp_path, text))


def test_a_key_the_server_would_refuse_stops_the_import(tmp_path: Path) -> None:
    (tmp_path / "id").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nnope\n")
    path = write(tmp_path, "hosts:\n- {name: a, address: 10.0.0.1, privateKeyPath: id}\n")
    assert "hosts[0] (a): private_key: not a private key" in refused(path)


def test_every_problem_is_listed_not_only_the_first(tmp_path: Path) -> None:
    message = refused(
        write(
            tmp_path,
            "hosts:\n- {name: a, address: 10.0.0.1, password: x}\n"
            "- {name: b, address: nope, password: x}\n- {name: c, address: 10.0.0.3}\n",
        )
    )
    assert "2 problem(s), nothing imported" in message
    assert "hosts[1] (b)" in message and "hosts[2] (c)" in message and "(a)" not in message


def test_alias_bomb_is_refused_before_expanding(tmp_path: Path) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(9)
    )
    assert "anchors and aliases" in refused(write(tmp_path, bomb))


def test_limits_of_size_and_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = write(tmp_path, "hosts: []\n" + "#" * (inventory_file.MAX_FILE_BYTES + 1))
    assert "the limit is 1024 KiB" in refused(big)
    many = "hosts:\n" + "".join(
        f"- {{name: n{i}, address: 10.0.{i // 250}.{i % 250 + 1}, password: x}}\n"
        for i in range(inventory_file.MAX_HOSTS + 1)
    )
    message = refused(write(tmp_path, many, "many.yaml"))
    assert f"at most {inventory_file.MAX_HOSTS}" in message
    long_password = "hosts:\n- {name: a, address: 10.0.0.1, password: " + "x" * 1025 + "}\n"
    assert "hosts[0] (a): field 'password': String should have at most 1024" in refused(
        write(tmp_path, long_password, "p.yaml")
    )
