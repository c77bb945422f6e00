"""Security, users and audit screens in Debian's Chromium against a real `taichu serve`:
block an address from the blacklist screen (requests from it are refused; removing it
lets it in), traffic per address and anomaly events from real requests made from chosen
loopback addresses, users (admins only), the audit log filtered to what was just done."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.blacklist.conftest import blocked_v1
from tests.support.server import login_token
from tests.support.waiting import wait_until
from tests.web.conftest import AxeCheck, Console, Screenshot, StartConsole, sign_in_with_token

BLOCKED = "127.0.0.21"
BUSY = "127.0.0.31"
ATTACKER = "127.0.0.41"
# Short sample windows and a low brute-force threshold: samples and events in seconds.
FAST = {
    "TAICHU_ANOMALY__WINDOW_SECONDS": "4",
    "TAICHU_ANOMALY__DETECT_INTERVAL_SECONDS": "1",
    "TAICHU_ANOMALY__SETTLE_SECONDS": "0.5",
    "TAICHU_ANOMALY__BRUTE_FORCE_FAILURES": "4",
    "TAICHU_AUTH__LOGIN_SLOWDOWN_AFTER": "1000",
    # After one failure a user's logins from that address are refused (429) before any
    # password check and still count: the attacker's guesses fill one window however
    # slowly a loaded machine hashes (one low-priority thread: under one a second).
    "TAICHU_AUTH__LOGIN_MAX_FAILURES": "1",
    "TAICHU_BLACKLIST__HITS_FLUSH_SECONDS": "0.5",
}


@pytest.fixture(scope="module")
def console(start_console: StartConsole) -> Console:
    return start_console(**FAST)


def client_at(console: Console, address: str, token: str | None = None) -> httpx.Client:
    """Requests whose TCP connections come from `address` (any 127.0.0.x reaches us)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(
        base_url=console.url,
        transport=httpx.HTTPTransport(local_address=address),
        headers=headers,
        timeout=60,
    )


def sign_in_as(page: Page, token: str, path: str) -> None:
    page.goto("/signin")
    page.evaluate("t => localStorage.setItem('taichu.token', t)", token)
    page.goto(path)


def test_block_an_address_then_remove_it_and_audit_shows_both(
    page: Page, console: Console, axe_check: AxeCheck, screenshot: Screenshot
) -> None:
    sign_in_with_token(page, console, "/security/blacklist")
    add = page.get_by_role("form", name="Add to the blacklist")
    add.get_by_label("Address or CIDR to add").fill(BLOCKED)
    add.get_by_label("Reason").fill("w4 browser test")
    add.get_by_role("button", name="Add").click()
    # Loopback is refused without force: the API's own message is shown.
    with console.api() as http:
        refused = http.post(
            "/api/anomaly/blacklist/", json={"ip": BLOCKED, "reason": "w4 browser test"}
        )
    assert refused.status_code == 422, refused.text
    expect(page.locator(".error-banner .error-message")).to_have_text(refused.json()["detail"])

    add.get_by_label("Allow blocking my own address or loopback").check()
    add.get_by_role("button", name="Add").click()
    expect(page.get_by_test_id("notice")).to_have_text(f"Added {BLOCKED}.")
    row = page.get_by_test_id("entries").locator(f'tr[data-ip="{BLOCKED}"]')
    expect(row).to_contain_text("block")
    expect(row).to_contain_text("w4 browser test")
    expect(row).to_contain_text("manual")

    with client_at(console, BLOCKED, console.admin_token()) as blocked:
        answer = blocked.get("/api/v1/clusters")
    assert (answer.status_code, answer.json()) == (403, blocked_v1(BLOCKED))
    # The refused request is counted (in batches; the list polls).
    expect(row.locator("td").nth(8)).to_have_text("1", timeout=60_000)
    axe_check(page)
    screenshot(page, "security-blacklist")

    page.get_by_role("button", name=f"Remove {BLOCKED}").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Remove {BLOCKED} from the blacklist?")
    dialog.get_by_role("button", name="Remove entry").click()
    expect(page.get_by_test_id("notice")).to_have_text(f"Removed {BLOCKED}.")
    expect(row).to_have_count(0)
    with client_at(console, BLOCKED) as let_in:
        assert let_in.get("/api/v1/clusters").status_code == 401

    # The audit log, filtered to the admin's successful blacklist changes: the two.
    page.goto("/audit")
    total = page.get_by_test_id("audit-total")
    expect(total).to_be_visible()
    filters = page.get_by_role("form", name="Filters")
    filters.get_by_label("User").fill("admin")
    filters.get_by_label("Event type").fill("anomaly")
    filters.get_by_label("Result").select_option("success")
    filters.get_by_role("button", name="Apply filters").click()
    expect(total).to_have_text("2 records match")
    rows = page.get_by_test_id("audit").locator("tbody tr")
    expect(rows).to_have_count(2)
    assert [rows.nth(i).get_attribute("data-action") for i in range(2)] == ["delete", "create"]
    expect(rows.nth(0)).to_contain_text("blacklist-entry")
    expect(rows.nth(1)).to_contain_text(BLOCKED)
    # The refused attempts (the screen's and the API's) are the failures.
    filters.get_by_label("Result").select_option("failure")
    filters.get_by_role("button", name="Apply filters").click()
    expect(total).to_have_text("2 records match")
    # The chain verified from the screen (a job of the API), by keyboard.
    chain = page.get_by_test_id("chain")
    expect(chain).to_contain_text("taichu audit verify")
    verify = chain.get_by_role("button", name="Verify now")
    verify.focus()
    page.keyboard.press("Enter")
    intact = page.get_by_test_id("chain-intact")
    expect(intact).to_contain_text("✓ intact", timeout=60_000)
    expect(intact).to_contain_text("records verified")
    expect(verify).to_be_enabled()
    axe_check(page)
    screenshot(page, "audit")
    # A reload shows the latest verification (kept by the API, not the page).
    page.reload()
    expect(page.get_by_test_id("chain-intact")).to_contain_text("✓ intact")


def test_traffic_per_address_and_anomaly_events_from_real_requests(
    page: Page, console: Console, axe_check: AxeCheck, screenshot: Screenshot
) -> None:
    with client_at(console, BUSY) as busy:
        for _ in range(10):
            assert busy.get("/api/v1/clusters").status_code == 401
    with client_at(console, ATTACKER) as attacker:
        for _ in range(10):
            failed = attacker.post(
                "/api/v1/auth/login", json={"username": "nobody-w4", "password": "wrong-pass"}
            )
            assert failed.status_code in (401, 429, 403), failed.text

    # The API's samples of the busy address add up to its 10 requests once written.
    with console.api() as http:

        def busy_requests() -> int:
            got = http.get("/api/anomaly/traffic/", params={"ip": BUSY, "limit": 100})
            assert got.status_code == 200, got.text
            return sum(item["requests"] for item in got.json()["items"])

        wait_until(busy_requests, lambda n: n == 10, timeout=90, interval=1)

    sign_in_with_token(page, console, "/security/traffic")
    chart = page.get_by_test_id("traffic-chart")
    expect(chart.get_by_role("img")).to_be_visible()
    # The chart's text alternative has a column for the address.
    expect(chart.get_by_role("columnheader", name=BUSY, exact=True)).to_have_count(1)
    rows = page.get_by_test_id("samples").locator("tbody tr", has_text=BUSY)
    expect(rows.first).to_be_visible()
    counts = [int(rows.nth(i).locator("td").nth(2).inner_text()) for i in range(rows.count())]
    assert sum(counts) == 10, counts
    axe_check(page)
    screenshot(page, "security-traffic")

    page.get_by_role("link", name="Anomaly events").click()
    events = page.get_by_test_id("events").locator("tbody tr", has_text=ATTACKER)
    expect(events.first).to_contain_text("brute_force", timeout=90_000)
    expect(events.first).to_contain_text("block")
    axe_check(page)
    screenshot(page, "security-anomalies")


def test_users_create_change_role_delete(
    page: Page, console: Console, axe_check: AxeCheck, screenshot: Screenshot
) -> None:
    sign_in_with_token(page, console, "/users")
    create = page.get_by_role("form", name="Create a user")
    create.get_by_label("Username").fill("w4-alice")
    create.get_by_label("Initial password").fill("short")
    create.get_by_role("button", name="Create").click()
    with console.api() as http:
        weak = http.post("/api/v1/auth/register", json={"username": "w4-x", "password": "short"})
    assert weak.status_code in (400, 422), weak.text
    expect(page.locator(".error-banner .error-message")).to_have_text(weak.json()["message"])

    create.get_by_label("Initial password").fill("W4-Alice-2026")
    create.get_by_role("button", name="Create").click()
    expect(page.get_by_test_id("notice")).to_have_text("Created w4-alice.")
    row = page.get_by_test_id("users").locator('tr[data-username="w4-alice"]')
    role = row.get_by_label("Role of w4-alice")
    expect(role).to_have_value("user")
    role.select_option("admin")
    # Chosen, not yet saved: the API still has the user's role until the button is pressed.
    with console.api() as http:
        found = http.get("/api/v1/users", params={"search": "w4-alice"}).json()["data"]["users"]
    assert [u["role"] for u in found] == ["user"]
    row.get_by_role("button", name="Save the role of w4-alice").click()
    expect(page.get_by_test_id("notice")).to_have_text("The role of w4-alice is now admin.")
    with console.api() as http:
        found = http.get("/api/v1/users", params={"search": "w4-alice"}).json()["data"]["users"]
    assert [(u["username"], u["role"]) for u in found] == [("w4-alice", "admin")]
    axe_check(page)
    screenshot(page, "users")

    row.get_by_role("button", name="Delete w4-alice").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete user").click()
    expect(page.get_by_test_id("notice")).to_have_text("Deleted w4-alice.")
    expect(row).to_have_count(0)
    with console.api() as http:
        assert http.get("/api/v1/users", params={"search": "w4-alice"}).json()["data"]["total"] == 0


def test_a_non_admin_sees_no_admin_actions(page: Page, console: Console) -> None:
    with console.api() as http:
        made = http.post(
            "/api/v1/auth/register", json={"username": "w4-bob", "password": "W4-Bob-2026"}
        )
        assert made.status_code == 200, made.text
    token = login_token(console.url, "w4-bob", "W4-Bob-2026")
    with client_at(console, "127.0.0.1", token) as bob:
        assert bob.get("/api/anomaly/blacklist/").status_code == 403  # what the screen mirrors

    sign_in_as(page, token, "/users")
    for path in ("/users", "/security/blacklist", "/security/traffic", "/audit"):
        page.goto(path)
        expect(page.get_by_test_id("admins-only")).to_be_visible()
        expect(page.get_by_role("button", name="Create")).to_have_count(0)
        expect(page.get_by_role("form", name="Add to the blacklist")).to_have_count(0)
        expect(page.get_by_role("button", name="Remove", exact=False)).to_have_count(0)
    # In Chinese as well.
    page.evaluate("() => localStorage.setItem('taichu.lang', 'zh')")
    page.goto("/users")
    expect(page.get_by_test_id("admins-only")).to_have_text("只有管理员可以管理用户。")
