"""The commands screen in Debian's Chromium against a real `taichu serve` with the lab
cluster registered: kubectl output shown as a terminal shows it, the history, refusals
with the API's own message, keyboard use, accessibility."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from taichu.lab.cluster import LabCluster
from tests.commands.conftest import kubectl_path
from tests.web.conftest import AxeCheck, Console, Screenshot, StartConsole, sign_in_with_token

pytestmark = pytest.mark.lab

REFUSED = "kubectl get pods; touch /tmp/w4-web-marker"


@pytest.fixture(scope="module")
def console(start_console: StartConsole, lab_cluster: LabCluster) -> Console:
    """The module's server, with kubectl and the lab cluster registered as `lab-web`."""
    started = start_console(
        TAICHU_COMMANDS__KUBECTL_PATH=kubectl_path(), TAICHU_HEALTH_INTERVAL="3600"
    )
    with started.api() as http:
        registered = http.post(
            "/api/v1/clusters", json={"name": "lab-web", "kubeconfig": lab_cluster.kubeconfig}
        )
        assert registered.status_code in (200, 201), registered.text
    return started


def _latest_run(http: httpx.Client) -> dict[str, Any]:
    history = http.get("/api/state/history/", params={"limit": 1})
    assert history.status_code == 200, history.text
    entry = history.json()["results"][0]
    full = http.get(f"/api/state/history/{entry['id']}/")
    assert full.status_code == 200, full.text
    return dict(full.json())


def test_kubectl_box_by_keyboard_output_as_a_terminal_and_history(
    page: Page, console: Console, axe_check: AxeCheck, screenshot: Screenshot
) -> None:
    sign_in_with_token(page, console, "/commands")
    expect(page.get_by_label("Cluster")).to_contain_text("lab-web")
    box = page.get_by_role("textbox", name="Command")
    # Keyboard only: focus the box, replace its text, Enter runs.
    box.focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("kubectl get ns")
    page.keyboard.press("Enter")

    terminal = page.get_by_test_id("terminal")
    expect(terminal).to_contain_text("default")
    expect(page.get_by_test_id("exit-code")).to_have_text("exit code 0")
    with console.api() as http:
        run = _latest_run(http)
    assert (run["command"], run["status"], run["returncode"]) == ("kubectl get ns", "done", 0)
    # Exactly what kubectl wrote, after the prompt line; whitespace kept, in monospace.
    assert terminal.text_content() == f"$ kubectl get ns\n{run['stdout']}{run['stderr']}"
    style = terminal.evaluate(
        "e => [getComputedStyle(e).whiteSpace, getComputedStyle(e).fontFamily]"
    )
    assert style[0] == "pre" and "monospace" in style[1], style

    history = page.get_by_test_id("history")
    first = history.get_by_role("row").nth(1)
    expect(first).to_contain_text("kubectl get ns")
    expect(first).to_contain_text("done")

    # Focus came back to the box; ↑ recalls the last command, ↓ the line being typed.
    expect(box).to_be_focused()
    page.keyboard.press("Control+A")
    page.keyboard.type("kubectl version")
    page.keyboard.press("ArrowUp")
    expect(box).to_have_value("kubectl get ns")
    page.keyboard.press("ArrowDown")
    expect(box).to_have_value("kubectl version")

    axe_check(page)
    screenshot(page, "commands")


def test_a_refused_command_shows_the_apis_refusal_and_is_in_the_history(
    page: Page, console: Console, axe_check: AxeCheck, screenshot: Screenshot
) -> None:
    sign_in_with_token(page, console, "/commands")
    box = page.get_by_role("textbox", name="Command")
    expect(page.get_by_label("Cluster")).to_contain_text("lab-web")
    box.fill(REFUSED)
    page.get_by_role("button", name="Run").click()

    refusal = page.get_by_test_id("refusal")
    expect(refusal).to_be_visible()
    with console.api() as http:
        run = _latest_run(http)
        assert (run["status"], run["returncode"]) == ("refused", None)
        # The same command asked of the API directly: the message the screen shows.
        cluster_id = run["cluster_id"]
        answer = http.post(
            "/api/state/command/", json={"cluster_id": cluster_id, "command": REFUSED}
        )
    assert answer.status_code == 422, answer.text
    expect(refusal.locator(".w4-refusal-message")).to_have_text(answer.json()["detail"])
    expect(refusal).to_contain_text(REFUSED)
    expect(page.get_by_test_id("terminal")).to_have_count(0)

    first = page.get_by_test_id("history").get_by_role("row").nth(1)
    expect(first).to_contain_text("refused")
    # Showing a refused entry again explains it the same way.
    page.get_by_role("button", name="Show output").first.click()
    expect(refusal.locator(".w4-refusal-message")).to_have_text(f"command: {run['reason']}")

    axe_check(page)
    screenshot(page, "commands-refused")
