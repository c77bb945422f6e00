"""The machines area of the console in a real Chromium against a real `taichu serve` and
real lab SSH hosts: the inventory (add with SSH credentials, facts, preflight, status
history, a bad credential and a bad field showing the API's message), the create-cluster
wizard by keyboard, the create task's live timeline with cancel and retry (the test
pipeline: real commands over real SSH), and — marked real_nodes — a real cluster built by
the wizard on real-node hosts, then expanded by one machine."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from taichu.artifacts.build import Sources
from taichu.lab.binaries import default_root
from taichu.lab.ssh_hosts import SshHost
from tests.clusters.serving import ADMIN_PASSWORD
from tests.provision.serving import Provision, reset_hosts, serve_platform, serve_provision
from tests.support.waiting import wait_until
from tests.web.conftest import Console, open_context

pytestmark = [pytest.mark.web, pytest.mark.lab]
T = TypeVar("T")
LONG = 60_000  # ms: a check or a step on a loaded machine


def sign_in(page: Page, provision: Provision, path: str) -> None:
    """Signed in as admin with the server's token (the sign-in screen has its own tests)."""
    page.goto(f"{provision.url}/signin")
    token = provision.admin["Authorization"].removeprefix("Bearer ")
    page.evaluate("t => localStorage.setItem('taichu.token', t)", token)
    page.goto(f"{provision.url}{path}")


@contextmanager
def outside_the_browser_loop(manager: AbstractContextManager[T]) -> Iterator[T]:
    """Enter and leave `manager` in a thread of its own: Playwright's sync API runs an
    event loop in this one, and the servers' database set-up uses asyncio.run."""
    with ThreadPoolExecutor(1) as pool:
        value = pool.submit(manager.__enter__).result()
        try:
            yield value
        finally:
            pool.submit(manager.__exit__, None, None, None).result()


def tab_to(page: Page, target: Locator, limit: int = 60) -> None:
    """Press Tab until `target` has the focus (keyboard navigation, not .focus())."""
    handle = target.element_handle()
    for _ in range(limit):
        if page.evaluate("(el) => document.activeElement === el", handle):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{target} not reached by Tab")


def machine_row(page: Page, name: str) -> Locator:
    return page.get_by_role("row").filter(has=page.get_by_role("link", name=name, exact=True))


# --- the inventory, the wizard and the timeline (test pipeline) --------------------------


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, ssh_hosts: list[SshHost], console_build: None
) -> Iterator[Provision]:
    """The platform with the test pipeline (real commands over SSH on the lab hosts) and
    a stand-in bundle, serving the built console."""
    reset_hosts(ssh_hosts)
    platform = serve_provision(tmp_path_factory.mktemp("web-machines"), "webmx")
    with outside_the_browser_loop(platform) as provision:
        yield provision
    for host in ssh_hosts:
        host.exec("rm -f /root/hold; touch /root/needed")


@pytest.fixture(scope="module")
def console(served: Provision) -> Console:
    """The conftest's `page` on this module's server (no second server is started)."""
    assert served.server is not None
    return Console(served.server, ADMIN_PASSWORD)


def test_inventory_add_facts_preflight_and_the_apis_messages(
    served: Provision, ssh_hosts: list[SshHost], page: Page, axe_check: Any, screenshot: Any
) -> None:
    host = ssh_hosts[0]
    sign_in(page, served, "/machines")
    expect(page.get_by_role("heading", name="Machine inventory")).to_be_visible()
    page.get_by_role("button", name="Add machine").click()
    form = page.locator("form", has=page.get_by_role("heading", name="Add machine"))

    # A bad field: the API's message on that field, nothing stored.
    form.get_by_label("Name").fill("web-one")
    form.get_by_label("Address", exact=True).fill("300.1.2.3")
    form.get_by_label("Password", exact=True).fill("not-the-password")
    form.get_by_role("button", name="Add the machine").click()
    address = form.get_by_label("Address", exact=True)
    expect(address).to_have_attribute("aria-invalid", "true")
    message = form.locator(".field-error")
    expect(message).to_contain_text("ip_address: must be an IPv4 or IPv6 address")
    assert served.count() == 0
    axe_check(page)
    screenshot(page, "machines-add-invalid")

    # A bad SSH credential: stored (write-only), its check fails with the API's message.
    address.fill(host.address)
    form.get_by_label("SSH port").fill(str(host.port))
    form.get_by_role("button", name="Add the machine").click()
    expect(page).to_have_url(re.compile(r"/machines/[0-9a-f-]{36}$"))
    bad_id = page.url.rsplit("/", 1)[1]
    failed = wait_until(lambda: served.machine(bad_id), lambda d: bool(d["check_error"]), 120)
    expect(page.locator(".mx-check-message")).to_have_text(failed["check_error"], timeout=LONG)
    expect(page.get_by_text("Password: stored (write-only)")).to_be_visible()
    assert "not-the-password" not in page.content()
    # Deleted through the page (its name typed to confirm).
    page.get_by_label(re.compile("Type its name to confirm")).fill("web-one")
    page.get_by_role("button", name="Delete machine").click()
    expect(page).to_have_url(re.compile(r"/machines$"))
    assert served.count() == 0

    # The right credential: available, its facts, a preflight, the status history.
    page.get_by_role("button", name="Add machine").click()
    form.get_by_label("Name").fill("web-one")
    form.get_by_label("Address", exact=True).fill(host.address)
    form.get_by_label("SSH port").fill(str(host.port))
    form.get_by_label("Password", exact=True).fill(host.password)
    form.get_by_label("Role").select_option("master")
    form.get_by_role("button", name="Add the machine").click()
    expect(page).to_have_url(re.compile(r"/machines/[0-9a-f-]{36}$"))
    machine_id = page.url.rsplit("/", 1)[1]
    expect(page.locator(".page-header").get_by_text("Available", exact=True)).to_be_visible(
        timeout=LONG
    )
    facts = served.machine(machine_id)["facts"]
    listed = page.locator("dl.mx-facts")
    expect(listed).to_contain_text(facts["hostname"])
    expect(listed).to_contain_text(facts["kernel"])
    assert host.password not in page.content()
    page.get_by_role("button", name="Run preflight").click()
    report = page.locator(".mx-preflight")
    expect(report.get_by_role("status")).to_contain_text(
        re.compile(r"Preflight (passed|failed) \d+ passed, \d+ warnings, \d+ failed"), timeout=LONG
    )
    # The same checks the API reports for the machine, each a row with its result.
    asked = served.post(f"/api/v1/machines/{machine_id}/preflight", {"role": "master"})
    checks = asked.json()["data"]["machines"][0]["checks"]
    assert checks
    for check in checks:
        row = report.get_by_role("row").filter(
            has=page.get_by_role("cell", name=check["name"], exact=True)
        )
        expect(row).to_contain_text(check["status"])
    history = page.get_by_role("table", name="Status changes and events")
    expect(history).to_contain_text("Available")
    axe_check(page)
    screenshot(page, "machine-detail")

    # The inventory lists it, available; then in Chinese.
    page.goto(f"{served.url}/machines")
    expect(machine_row(page, "web-one")).to_contain_text("Available")
    axe_check(page)
    screenshot(page, "machines")
    page.evaluate("() => localStorage.setItem('taichu.lang', 'zh')")
    page.reload()
    expect(page.get_by_role("heading", name="机器清单")).to_be_visible()
    expect(page.get_by_role("button", name="添加机器")).to_be_visible()
    screenshot(page, "machines-zh")


def test_wizard_by_keyboard_then_timeline_cancel_and_retry(
    served: Provision, ssh_hosts: list[SshHost], page: Page, axe_check: Any, screenshot: Any
) -> None:
    # Two more machines through the API (adding by the form is the test above); the
    # second is stored as a worker and made the master in the wizard.
    master_host, worker_host = ssh_hosts[1], ssh_hosts[2]
    m_id = served.add_machine(master_host, "web-cp", "worker")
    w_id = served.add_machine(worker_host, "web-w", "worker")
    for host in (master_host, worker_host):
        host.exec("touch /root/hold")  # the `hold` step waits: time to cancel
    sign_in(page, served, "/provision/new")
    expect(page.get_by_role("heading", name="Step 1 of 4: Machines and roles")).to_be_visible()
    axe_check(page)
    screenshot(page, "wizard-machines")

    keys = page.keyboard
    tab_to(page, page.get_by_label("Use web-cp"))
    keys.press("Space")
    tab_to(page, page.get_by_label("Role web-cp"))
    keys.press("m")  # master
    tab_to(page, page.get_by_label("Use web-w"))
    keys.press("Space")
    expect(page.get_by_text("2 machines chosen")).to_be_visible()
    next_button = page.get_by_role("button", name="Next")
    tab_to(page, next_button)
    keys.press("Enter")
    expect(page.get_by_role("heading", name="Step 2 of 4: Versions")).to_be_focused()
    expect(page.get_by_label("Kubernetes version")).to_have_value("v1.36.3")
    tab_to(page, next_button)
    keys.press("Enter")
    expect(page.get_by_role("heading", name="Step 3 of 4: Network")).to_be_focused()
    tab_to(page, page.get_by_label("Pod network (CIDR)"))
    keys.type("10.0.0.0/33")
    keys.press("Enter")  # submits the step
    expect(page.get_by_role("heading", name="Step 4 of 4: Name and review")).to_be_focused()
    tab_to(page, page.get_by_label("Cluster name"))
    keys.type("web-made")
    axe_check(page)
    screenshot(page, "wizard-review")
    keys.press("Enter")  # create: the API refuses the pod network, the wizard goes back
    pods = page.get_by_label("Pod network (CIDR)")
    expect(pods).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".field-error")).to_contain_text(
        "network.pods_cidr: '10.0.0.0/33' is not an IPv4 network"
    )
    assert served.get("/api/v1/create-tasks").json()["data"]["total"] == 0
    assert served.machine(m_id)["role"] == "master"  # the wizard's role, saved first
    tab_to(page, pods)
    keys.press("Control+a")
    keys.type("10.80.0.0/16")
    keys.press("Enter")
    expect(page.get_by_role("heading", name="Step 4 of 4: Name and review")).to_be_focused()
    tab_to(page, page.get_by_role("button", name="Create the cluster"))
    keys.press("Enter")

    # The live timeline: step i/n of the planned steps, per-machine counts, logs.
    expect(page).to_have_url(re.compile(r"/provision/tasks/[0-9a-f-]{36}$"), timeout=LONG)
    task_id = page.url.rsplit("/", 1)[1]
    now = page.locator(".mx-now")
    expect(now).to_contain_text("step 3/7 · Waiting on the machines", timeout=LONG)
    hold = page.locator('li[data-step="hold"]')
    expect(hold).to_have_attribute("data-state", "running")
    expect(page.locator('li[data-step="prepare"]')).to_contain_text("done · 2/2 machines")
    axe_check(page)
    screenshot(page, "task-running")
    page.get_by_role("button", name="Cancel the task").click()
    expect(page.get_by_text("Cancel asked")).to_be_visible()
    for host in (master_host, worker_host):
        host.exec("rm -f /root/hold")
    expect(page.locator(".page-header")).to_contain_text("Cancelled", timeout=LONG)
    assert served.task(task_id)["status"] == "cancelled"

    page.get_by_role("button", name="Retry").click()
    expect(page.locator(".page-header")).to_contain_text("Completed", timeout=LONG)
    expect(now).to_contain_text("step 7/7")
    expect(now).to_contain_text("100%")
    for step in ("prepare", "needs", "hold", "upload", "finish", "cluster", "register"):
        expect(page.locator(f'li[data-step="{step}"]')).to_have_attribute("data-state", "done")
    # Per-machine logs: one machine's lines only.
    page.get_by_label("Logs of").select_option("web-w")
    log = page.locator("pre.mx-log")
    expect(log).to_contain_text("[web-w]")
    assert "[web-cp]" not in log.inner_text()
    screenshot(page, "task-completed")
    task = served.task(task_id)
    assert task["status"] == "completed" and task["progress"] == 100
    cluster = served.get(f"/api/v1/clusters/{task['cluster_id']}").json()["data"]
    assert cluster["name"] == "web-made"
    assert served.statuses([m_id, w_id]) == ["in_use", "in_use"]
    page.get_by_role("link", name="Open the cluster").click()
    expect(page).to_have_url(f"{served.url}/clusters/{task['cluster_id']}")
    # The inventory's create tasks list it, completed, with its progress.
    page.goto(f"{served.url}/machines")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="web-made"))
    expect(row).to_contain_text("Completed")
    expect(row.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")


# --- a real cluster by the wizard, then expanded (minutes) --------------------------------

MISSING = Sources(lab_bin=default_root() / "bin").missing()


@pytest.mark.real_nodes
@pytest.mark.skipif(bool(MISSING), reason=f"the bundle's inputs are missing: {MISSING}")
def test_a_real_cluster_by_the_wizard_then_expanded(
    tmp_path: Path,
    real_node_hosts: Any,
    console_build: None,
    browser: Browser,
    axe_check: Any,
    screenshot: Any,
) -> None:
    bundles = tmp_path / "bundles"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAICHU_")}
    built = subprocess.run(
        [sys.executable, "-m", "taichu.cli", "artifact", "build", "--dest", str(bundles)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert built.returncode == 0, built.stderr
    hosts: list[SshHost] = real_node_hosts(3)
    platform = serve_platform(tmp_path, "webreal", bundles, TAICHU_HEALTH_INTERVAL="2")
    with outside_the_browser_loop(platform) as p:
        ids = []
        for host, name, role in zip(
            hosts, ("real-cp", "real-w1", "real-w2"), ("master", "worker", "worker"), strict=True
        ):
            body = {
                "name": name,
                "ip_address": host.lan_address,
                "port": host.port,
                "user": "root",
                "password": host.password,
                "role": role,
            }
            response = p.post("/api/v1/machines", body)
            assert response.status_code == 200, response.text
            ids.append(response.json()["data"]["id"])
        for machine_id in ids:
            wait_until(lambda i=machine_id: p.machine(i)["status"], lambda s: s == "available", 120)

        page = open_context(browser, p.url, locale="en-US").new_page()
        sign_in(page, p, "/provision/new")
        page.get_by_label("Use real-cp").check()
        page.get_by_label("Use real-w1").check()
        for _ in range(3):
            page.get_by_role("button", name="Next").click()
        page.get_by_label("Cluster name").fill("web-real")
        page.get_by_role("button", name="Check these machines (preflight)").click()
        # The inventory's preflight (the strict policy: no systemd on lab hosts fails
        # it); the create request runs its own, which supervises services without one.
        expect(page.locator(".mx-preflight").get_by_role("status")).to_contain_text(
            re.compile(r"\d+ passed, \d+ warnings, \d+ failed"), timeout=LONG
        )
        page.get_by_role("button", name="Create the cluster").click()
        expect(page).to_have_url(re.compile(r"/provision/tasks/[0-9a-f-]{36}$"), timeout=LONG)
        task_id = page.url.rsplit("/", 1)[1]
        steps = len(p.task(task_id)["planned_steps"])
        now = page.locator(".mx-now")
        expect(now).to_contain_text(re.compile(rf"step \d+/{steps}"))
        expect(page.locator(".page-header")).to_contain_text("Completed", timeout=900_000)
        expect(now).to_contain_text(f"step {steps}/{steps}")
        screenshot(page, "task-real-completed")
        task = p.task(task_id)
        assert task["status"] == "completed", (task["error_msg"], task["logs"][-2000:])
        cluster_id = task["cluster_id"]
        wait_until(
            lambda: p.get(f"/api/v1/clusters/{cluster_id}").json()["data"],
            lambda c: c["status"] == "healthy" and c["node_count"] == 2,
            120,
        )

        # Expansion: the third machine joins as a node, with its own live timeline.
        page.goto(f"{p.url}/clusters/{cluster_id}/expand")
        expect(page.get_by_text("Nodes now: 2")).to_be_visible(timeout=LONG)
        axe_check(page)
        page.get_by_label(re.compile("real-w2")).check()
        expect(page.get_by_text("Nodes after: 3")).to_be_visible()
        page.get_by_role("button", name="Expand", exact=True).click()
        expect(page).to_have_url(re.compile(r"expansion=[0-9a-f-]{36}"), timeout=LONG)
        run = page.locator(".mx-run")
        expect(run.locator(".mx-now")).to_contain_text(re.compile(r"step \d+/\d+"), timeout=LONG)
        screenshot(page, "expansion-running")
        expect(run.locator(".mx-head")).to_contain_text("Completed", timeout=600_000)
        expect(run.locator(".mx-now")).to_contain_text("100%")
        axe_check(page)
        screenshot(page, "expansion-completed")
        nodes = p.get(f"/api/v1/clusters/{cluster_id}/nodes").json()["data"]["nodes"]
        assert sorted(n["name"] for n in nodes) == ["real-cp", "real-w1", "real-w2"]
        assert [p.machine(i)["status"] for i in ids] == ["in_use"] * 3
        history = page.get_by_role("table", name="Expansions of this cluster")
        expect(history).to_contain_text("2 → 3")
