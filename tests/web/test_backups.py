"""The backups screens in Debian's Chromium against a real `taichu serve` (local archive
storage, its job runner on) and the lab's real cluster: back a namespace up, lose a
ConfigMap, restore it and find it in the cluster again; the API's validation message on
its field; a schedule created and disabled; keyboard, axe, screenshots, Chinese."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from taichu.lab.cluster import LabCluster
from tests.web.conftest import (
    AxeCheck,
    Console,
    Screenshot,
    open_context,
    sign_in_with_token,
    watch,
)

pytestmark = [pytest.mark.lab]

# Backups and restores run in the server's job runner on a loaded machine.
RUN_MS = 180_000
# Records every number a progress bar showed (the runs may be quicker than a poll).
RECORD_PROGRESS = """() => {
  window.__progress = [];
  const seen = () => document.querySelectorAll('[role=progressbar]').forEach(
    (el) => window.__progress.push(el.getAttribute('aria-label') + ' = '
      + el.getAttribute('aria-valuetext')));
  seen();
  new MutationObserver(seen).observe(document.body,
    {subtree: true, childList: true, attributes: true, attributeFilter: ['aria-valuetext']});
}"""


@dataclass
class Workload:
    cluster_id: str
    namespace: str
    lab: LabCluster


@pytest.fixture(scope="module")
def workload(console: Console, lab_cluster: LabCluster) -> Iterator[Workload]:
    """The lab cluster registered on the module's console, and a namespace of its own
    holding the ConfigMap `settings`."""
    namespace = f"web-bk-{uuid.uuid4().hex[:8]}"
    lab_cluster.kubectl("create", "namespace", namespace)
    lab_cluster.kubectl(
        "create", "configmap", "settings", "-n", namespace, "--from-literal=color=blue"
    )
    with console.api() as http:
        response = http.post(
            "/api/v1/clusters", json={"name": "web-backups", "kubeconfig": lab_cluster.kubeconfig}
        )
        assert response.status_code == 200, response.text
        cluster_id = response.json()["data"]["id"]
    yield Workload(cluster_id, namespace, lab_cluster)
    lab_cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def _open(page: Page, console: Console, workload: Workload) -> None:
    # W1's cluster page mounts the same component as its backups tab; this area's own
    # route keeps the test independent of it.
    sign_in_with_token(page, console, f"/backups/{workload.cluster_id}")
    expect(page.get_by_role("heading", name="Backups", exact=True)).to_be_visible()


def _progress_seen(page: Page, label: str) -> list[str]:
    return [v for v in page.evaluate("() => window.__progress") if v.startswith(label)]


def _configmap(lab: LabCluster, namespace: str) -> dict[str, object] | None:
    done = lab.kubectl("get", "configmap", "settings", "-n", namespace, "-o", "json", check=False)
    return json.loads(done.stdout) if done.returncode == 0 else None


def test_back_up_lose_restore_a_configmap(
    page: Page,
    console: Console,
    workload: Workload,
    axe_check: AxeCheck,
    screenshot: Screenshot,
) -> None:
    _open(page, console, workload)
    expect(page.get_by_text("No backups of this cluster yet.")).to_be_visible()
    axe_check(page)
    screenshot(page, "backups-empty")

    # Create, by keyboard: the button, the dialog's fields, Enter submits.
    create = page.get_by_role("button", name="Create backup")
    create.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Create a backup")
    expect(dialog).to_be_visible()
    name = dialog.get_by_label("Name", exact=True)
    expect(name).to_be_focused()
    page.keyboard.press("Control+A")
    page.keyboard.type("web-b1")
    dialog.get_by_label("Type").select_option("namespaces")
    dialog.get_by_label("Included namespaces").fill(workload.namespace)
    retention = dialog.get_by_label("Retention (days)")
    retention.fill("-1")
    retention.press("Enter")
    # The API's message, under the field it names.
    error = dialog.locator(".field-invalid .field-error")
    expect(error).to_contain_text("retention_days: Input should be greater than or equal to 0")
    expect(retention).to_have_attribute("aria-invalid", "true")
    axe_check(page)
    screenshot(page, "backups-create-invalid")
    with console.api() as http:  # nothing stored on failure
        listed = http.get(f"/api/v1/clusters/{workload.cluster_id}/backups").json()["data"]
        assert listed["total"] == 0
    retention.fill("7")
    page.evaluate(RECORD_PROGRESS)
    retention.press("Enter")
    expect(dialog).to_be_hidden()

    row = page.locator('tr[data-backup="web-b1"]')
    expect(row).to_be_visible()
    expect(row).to_have_attribute("data-status", "completed", timeout=RUN_MS)
    seen = _progress_seen(page, "Progress of backup web-b1 = ")
    assert seen and all(v.split(" = ")[1][0].isdigit() for v in seen), seen
    expect(row.get_by_role("cell").nth(2)).not_to_have_text("—")  # its size
    expect(row).to_contain_text("namespaces")
    screenshot(page, "backups-completed")

    # Lose the ConfigMap in the cluster itself, then restore it from the console.
    workload.lab.kubectl("delete", "configmap", "settings", "-n", workload.namespace)
    assert _configmap(workload.lab, workload.namespace) is None
    row.get_by_role("button", name="Restore", exact=True).click()
    restore = page.get_by_role("dialog", name="Restore web-b1")
    expect(restore).to_contain_text(workload.namespace)  # what the backup holds
    restore.get_by_label("Restore name").fill("web-r1")
    restore.get_by_label("Objects that exist already").select_option("skip")
    axe_check(page)
    screenshot(page, "backups-restore-dialog")
    restore.get_by_role("button", name="Start restore").click()
    expect(restore).to_be_hidden()

    card = page.locator(".restore-card").filter(has_text="web-r1")
    expect(page.get_by_role("heading", name="Restores of web-b1")).to_be_visible()
    expect(card).to_have_attribute("data-status", "completed", timeout=RUN_MS)
    expect(card.get_by_role("progressbar", name="Progress of restore web-r1")).to_have_attribute(
        "aria-valuetext", re.compile(r"^100%")
    )
    seen = _progress_seen(page, "Progress of restore web-r1 = ")
    assert seen and all(v.split(" = ")[1][0].isdigit() for v in seen), seen
    card.get_by_text("Per kind").click()
    expect(card.locator("tr").filter(has_text="ConfigMap")).to_be_visible()
    restored = _configmap(workload.lab, workload.namespace)
    assert restored is not None and restored["data"] == {"color": "blue"}
    axe_check(page)
    screenshot(page, "backups-restored")

    # Delete: confirmed in a dialog, then the row says so.
    row.get_by_role("button", name="Delete").click()
    confirm = page.get_by_role("dialog", name="Delete backup web-b1?")
    confirm.get_by_role("button", name="Delete backup").click()
    expect(row).to_have_attribute("data-status", "deleted")
    expect(row.get_by_role("button", name="Restore", exact=True)).to_have_count(0)


def _schedule_row(page: Page, name: str) -> Locator:
    return page.locator(f'tr[data-schedule="{name}"]')


def test_a_schedule_created_then_disabled(
    page: Page,
    console: Console,
    workload: Workload,
    axe_check: AxeCheck,
    screenshot: Screenshot,
) -> None:
    _open(page, console, workload)
    expect(page.get_by_text("No schedules")).to_be_visible()
    page.get_by_role("button", name="New schedule").click()
    dialog = page.get_by_role("dialog", name="New backup schedule")
    dialog.get_by_label("Schedule name").fill("nightly")
    cron = dialog.get_by_label("Cron expression")
    cron.fill("every night")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.locator(".field-invalid .field-error")).to_contain_text(
        "cron_expression: 'every night' is not a five-field cron expression"
    )
    cron.fill("0 3 * * *")
    dialog.get_by_label("Type").select_option("namespaces")
    dialog.get_by_label("Included namespaces").fill(workload.namespace)
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()

    row = _schedule_row(page, "nightly")
    expect(row).to_have_attribute("data-enabled", "true")
    expect(row).to_contain_text("0 3 * * *")
    expect(row.get_by_role("cell").nth(5)).not_to_have_text("—")  # its next run
    row.get_by_role("button", name="Disable").click()
    expect(row).to_have_attribute("data-enabled", "false")
    expect(row).to_contain_text("Disabled")
    with console.api() as http:
        listed = http.get(f"/api/v1/clusters/{workload.cluster_id}/backup-schedules").json()
        (schedule,) = listed["data"]["schedules"]
        assert schedule["name"] == "nightly" and schedule["enabled"] is False
        assert schedule["options"]["included_namespaces"] == [workload.namespace]
    axe_check(page)
    screenshot(page, "backups-schedules")

    # Edit keeps what it does not change; delete asks first.
    row.get_by_role("button", name="Edit").click()
    edit = page.get_by_role("dialog", name="Edit schedule nightly")
    expect(edit.get_by_label("Included namespaces")).to_have_value(workload.namespace)
    edit.get_by_label("Retention (days)").fill("3")
    edit.get_by_role("button", name="Save").click()
    expect(row).to_contain_text("3 d")
    expect(row).to_have_attribute("data-enabled", "false")
    row.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog", name="Delete schedule nightly?").get_by_role(
        "button", name="Delete schedule"
    ).click()
    expect(row).to_have_count(0)


def test_the_screens_speak_chinese(browser: Browser, console: Console, workload: Workload) -> None:
    context = open_context(browser, console.url, locale="zh-CN")
    page = context.new_page()
    problems = watch(page)
    try:
        sign_in_with_token(page, console, "/backups")
        expect(page.get_by_role("heading", name="备份", exact=True)).to_be_visible()
        page.get_by_label("集群").select_option(workload.cluster_id)
        expect(page.get_by_role("heading", name="web-backups 的备份")).to_be_visible()
        expect(page.get_by_role("button", name="创建备份")).to_be_visible()
        expect(page.get_by_role("heading", name="备份计划")).to_be_visible()
    finally:
        context.close()
    assert not problems.csp and not problems.errors, (problems.csp, problems.errors)
