"""The pure helpers of bench/backup_restore.py's raw baselines and Velero run (the bench
itself is never part of the suite)."""

from __future__ import annotations

import json
import os
from urllib.parse import parse_qs, urlsplit

from bench import raw_api, velero_lab


def test_page_url_carries_limit_and_escaped_continue_token() -> None:
    assert raw_api.page_url("https://h:6443", "/api/v1/secrets", 500, None) == (
        "https://h:6443/api/v1/secrets?limit=500"
    )
    url = raw_api.page_url("https://h:6443", "/api/v1/secrets", 500, "eyJ2Ijoi+/=")
    assert parse_qs(urlsplit(url).query) == {"limit": ["500"], "continue": ["eyJ2Ijoi+/="]}


def test_read_page_counts_items_and_ends_on_empty_token() -> None:
    page = {"kind": "List", "metadata": {"continue": "abc"}, "items": [{}, {}, {}]}
    assert raw_api.read_page(json.dumps(page).encode()) == (3, "abc")
    last = {"metadata": {"continue": "", "resourceVersion": "7"}, "items": [{}]}
    assert raw_api.read_page(json.dumps(last).encode()) == (1, None)
    assert raw_api.read_page(b'{"metadata": {}, "items": null}') == (0, None)


def test_rate_per_second() -> None:
    assert raw_api.Rate(1000, 2.0).per_second == 500.0
    assert raw_api.Rate(5, 0.0).per_second == 0.0


def test_velero_credentials_file_and_storage_location() -> None:
    assert velero_lab.credentials_file("AK", "SK") == (
        "[default]\naws_access_key_id=AK\naws_secret_access_key=SK\n"
    )
    bsl = velero_lab.storage_location("velero", "http://127.0.0.1:9000")
    assert bsl["metadata"] == {"name": "default", "namespace": "velero"}
    assert bsl["spec"]["provider"] == "aws"
    assert bsl["spec"]["default"] is True
    assert bsl["spec"]["objectStorage"] == {"bucket": "velero"}
    # S3-compatible stores need path-style URLs; config values are strings in Velero's CRD.
    assert bsl["spec"]["config"] == {
        "region": "us-east-1",
        "s3ForcePathStyle": "true",
        "s3Url": "http://127.0.0.1:9000",
    }


def test_velero_outcome_waits_for_a_final_phase() -> None:
    assert velero_lab.outcome({}) == (None, 0, 0)
    running = {"status": {"phase": "InProgress", "progress": {"itemsBackedUp": 4, "totalItems": 9}}}
    assert velero_lab.outcome(running) == (None, 4, 9)
    assert velero_lab.outcome({"status": {"phase": "Finalizing"}})[0] is None
    restored = {"status": {"phase": "Completed", "progress": {"itemsRestored": 9, "totalItems": 9}}}
    assert velero_lab.outcome(restored) == ("Completed", 9, 9)
    assert velero_lab.outcome({"status": {"phase": "PartiallyFailed"}})[0] == "PartiallyFailed"


def test_cpu_and_memory_of_a_process_group() -> None:
    pgid = os.getpgid(0)
    mine = velero_lab.group_cpu_seconds(pgid)
    assert mine > 0
    assert velero_lab.group_cpu_seconds(2**22 + 12345) == 0.0  # no such group
    assert velero_lab.peak_rss_mb(os.getpid()) > 10  # MB: an interpreter with pytest loaded


def test_velero_server_deployment_stand_in_runs_nothing() -> None:
    dep = velero_lab.server_deployment()
    assert dep["metadata"] == {
        "name": "velero",
        "namespace": "velero",
        "labels": {"component": "velero", "deploy": "velero"},
    }
    assert dep["spec"]["replicas"] == 0
    assert dep["spec"]["selector"]["matchLabels"] == dep["spec"]["template"]["metadata"]["labels"]
    assert dep["spec"]["template"]["spec"]["containers"] == [
        {"name": "velero", "image": "velero/velero:v1.18.3"}
    ]
