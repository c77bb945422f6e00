"""The clusters area of the console in a real Chromium against a real `taichu serve` and
the lab's cluster: register by pasted kubeconfig with its checks, the list (healthy, with
filters and search), a cluster's tabs, nodes and a node's detail; a bad kubeconfig shows
the API's own message; axe and keyboard use on every screen; screenshots of each."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from taichu.lab.cluster import LabCluster

pytestmark = pytest.mark.web

PREFIX = f"w1{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def seeded(console: Any, lab_cluster: LabCluster) -> Iterator[dict[str, str]]:
    """Three clusters for the filters and the tabs: two registered by kubeconfig (healthy,
    labelled) and one by address (status unknown: the platform has no credentials)."""
    ids: dict[str, str] = {}
    with console.api() as api:
        for name, labels, env in (
            (f"{PREFIX}-prod-web", {"env": "prod", "tier": "web"}, "production"),
            (f"{PREFIX}-dev", {"env": "dev"}, "development"),
        ):
            body = {
                "name": name,
                "kubeconfig": lab_cluster.kubeconfig,
                "labels": labels,
                "environment_type": env,
            }
            response = api.post("/api/v1/clusters", json=body)
            assert response.status_code == 200, response.text
            ids[name] = response.json()["data"]["id"]
        host, port = re.match(r"https://([^:/]+):(\d+)", lab_cluster.server).groups()  # type: ignore[union-attr]
        response = api.post(
            "/api/runtime/clusters/register/",
            json={
                "name": f"{PREFIX}-addr",
                "api_server": host,
                "port": int(port),
                "ca_certificate": lab_cluster.ca_pem.decode(),
            },
        )
        assert response.status_code == 200, response.text
        ids[f"{PREFIX}-addr"] = response.json()["id"]
    yield ids


def _rows(page: Page) -> Any:
    return page.get_by_role("grid", name="Clusters").get_by_role("rowgroup").get_by_role("row")


def _count(page: Page, expected: int) -> None:
    expect(page.get_by_test_id("cluster-count")).to_have_attribute("data-count", str(expected))


def test_register_by_pasted_kubeconfig_then_nodes(
    signed_in_page: Page, lab_cluster: LabCluster, axe_check: Any, screenshot: Any
) -> None:
    page = signed_in_page
    name = f"{PREFIX}-journey"
    page.goto("/clusters/new")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Labels").fill("team=web, journey=yes")
    page.get_by_label("Kubeconfig", exact=True).fill(lab_cluster.kubeconfig)
    axe_check(page)
    screenshot(page, "clusters-register")
    page.get_by_role("button", name="Import").focus()
    page.keyboard.press("Enter")  # the main action, by keyboard
    checks = page.get_by_test_id("import-checks")
    expect(page.get_by_test_id("import-done")).to_be_visible(timeout=120_000)
    for check in (
        "kubeconfig_valid",
        "api_server_reachable",
        "authenticated",
        "perm:list nodes",
        "perm:list apps/deployments",
        "version_supported",
        "resources",
    ):
        expect(checks.locator(f'[data-check="{check}"]')).to_have_attribute("data-state", "passed")
    expect(page.get_by_test_id("import-done")).to_contain_text("4 nodes")
    expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    screenshot(page, "clusters-register-checks")
    axe_check(page)

    page.goto(f"/clusters?search={name}")
    _count(page, 1)
    row = _rows(page).filter(has_text=name)
    expect(row).to_contain_text("Healthy")
    expect(row).to_contain_text("v1.")
    expect(row).to_contain_text("journey=yes")
    screenshot(page, "clusters-list")
    axe_check(page)
    _rows(page).first.wait_for()
    page.get_by_role("grid", name="Clusters").focus()
    page.keyboard.press("Enter")  # the table is one tab stop; Enter opens the active row
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)
    expect(page.get_by_text("4 of 4 nodes ready")).to_be_visible()
    screenshot(page, "cluster-overview")
    axe_check(page)

    page.get_by_role("tab", name="Nodes").click()
    expect(page.get_by_test_id("node-count")).to_have_attribute("data-count", "4")
    nodes = page.get_by_role("grid", name="Nodes")
    expect(nodes.get_by_role("row").filter(has_text="control-plane-1")).to_contain_text("Ready")
    screenshot(page, "cluster-nodes")
    axe_check(page)
    nodes.focus()
    page.keyboard.press("End")
    page.keyboard.press("Enter")
    detail = page.get_by_test_id("node-detail")
    expect(detail).to_be_visible()
    expect(detail.get_by_role("cell", name="Ready", exact=True)).to_be_visible()
    expect(detail.get_by_role("cell", name="InternalIP")).to_be_visible()
    expect(detail).to_contain_text("KubeletReady")
    screenshot(page, "cluster-node-detail")
    axe_check(page)
    page.keyboard.press("Escape")
    expect(detail).to_be_hidden()


def test_bad_kubeconfig_shows_the_api_message(
    signed_in_page: Page, console: Any, axe_check: Any, screenshot: Any
) -> None:
    page = signed_in_page
    bad = "apiVersion: v1\nkind: Config\nclusters: []\n"
    with console.api() as api:
        answer = api.post(
            "/api/v1/clusters/import", json={"name": f"{PREFIX}-bad", "kubeconfig": bad}
        )
    assert answer.status_code == 422, answer.text
    message = answer.json()["message"]
    page.goto("/clusters/new")
    page.get_by_label("Name", exact=True).fill(f"{PREFIX}-bad")
    page.get_by_label("Kubeconfig", exact=True).fill(bad)
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("alert")).to_contain_text(message)
    screenshot(page, "clusters-register-error")
    axe_check(page)


def test_filters_and_search_narrow_the_list(
    signed_in_page: Page, seeded: dict[str, str], axe_check: Any, screenshot: Any
) -> None:
    page = signed_in_page
    page.goto("/clusters")
    page.get_by_role("searchbox", name="Search").fill(PREFIX)
    expect(_rows(page).filter(has_text=f"{PREFIX}-addr")).to_be_visible()
    page.get_by_label("Label selector").fill("env=prod")
    _count(page, 1)
    expect(_rows(page).filter(has_text=f"{PREFIX}-prod-web")).to_contain_text("Production")
    page.get_by_label("Label selector").fill("env in (prod,dev),tier!=web")
    _count(page, 1)
    expect(_rows(page).filter(has_text=f"{PREFIX}-dev")).to_be_visible()
    page.get_by_label("Label selector").fill("")
    page.get_by_label("Status").select_option("unknown")
    expect(page).to_have_url(re.compile(r"status=unknown"))
    _count(page, 1)
    expect(_rows(page).filter(has_text=f"{PREFIX}-addr")).to_contain_text("Unknown")
    screenshot(page, "clusters-list-filtered")
    axe_check(page)
    page.get_by_label("Label selector").fill("a b")  # the API's refusal, shown as it is
    expect(page.get_by_role("alert")).to_contain_text("label_selector: invalid label key 'a b'")


def test_topology_and_cluster_tabs(
    signed_in_page: Page, seeded: dict[str, str], axe_check: Any, screenshot: Any
) -> None:
    page = signed_in_page
    page.goto("/clusters/topology")
    production = page.get_by_role("region", name="Production")
    expect(production.get_by_role("link", name=f"{PREFIX}-prod-web")).to_be_visible()
    screenshot(page, "clusters-topology")
    axe_check(page)

    cluster_id = seeded[f"{PREFIX}-prod-web"]
    page.goto(f"/clusters/{cluster_id}?tab=events")
    expect(page.get_by_role("button", name=re.compile(r"^Info: \d+"))).to_be_visible()
    expect(page.get_by_role("grid", name="Events")).to_contain_text("Registered")
    page.get_by_role("button", name=re.compile(r"^Warning: ")).click()
    expect(page.get_by_role("grid", name="Events")).not_to_contain_text("Registered")
    screenshot(page, "cluster-events")
    axe_check(page)

    page.get_by_role("tab", name="Security").click()
    expect(page.get_by_test_id("security-summary")).to_contain_text("Pod Security standard")
    screenshot(page, "cluster-security")
    axe_check(page)

    page.get_by_role("tab", name="Autoscaling").click()
    page.get_by_label("Scale up above (%)").fill("20")
    page.get_by_label("Scale down below (%)").fill("40")
    page.get_by_role("button", name="Save thresholds").click()
    expect(page.get_by_role("alert")).to_contain_text("scale")  # the API's message
    page.get_by_label("Scale up above (%)").fill("80")
    page.get_by_label("Scale down below (%)").fill("25")
    page.get_by_label("Scale down below (%)").press("Enter")  # submit by keyboard
    expect(page.get_by_role("status").filter(has_text="Saved")).to_be_visible()
    expect(page.get_by_text("Settings: stored by the platform")).to_be_visible()
    screenshot(page, "cluster-autoscaling")
    axe_check(page)

    page.get_by_role("tab", name="Audit").click()
    table = page.get_by_role("grid", name="Audit of this cluster")
    expect(table).to_contain_text("autoscaling_policy")
    screenshot(page, "cluster-audit")
    axe_check(page)

    page.get_by_role("tab", name="Backups").click()
    screenshot(page, "cluster-backups")
