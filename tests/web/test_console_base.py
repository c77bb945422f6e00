"""The console's base, against a real `taichu serve` and Debian's Chromium: how it is
served (CSP, history routing, the API untouched), the offline API docs, sign-in, the
bootstrap password change, languages, the account screen, accessibility and keyboard."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, Request, expect

from taichu.web.serving import CSP
from tests.web.conftest import AxeCheck, Console, Screenshot, StartConsole, open_context, watch

EXACT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def test_the_policy_is_the_contracts() -> None:
    assert CSP == EXACT_CSP


@pytest.mark.parametrize(
    "path", ["/", "/clusters", "/clusters/42/nodes", "/api/docs", "/api/redoc"]
)
def test_console_pages_answer_html_under_the_strict_csp(console: Console, path: str) -> None:
    response = httpx.get(console.url + path, timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == EXACT_CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    # No inline script anywhere: every <script> names a file of ours.
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", response.text, re.S)
    assert scripts and all('src="/' in attrs and not body.strip() for attrs, body in scripts)
    if not path.startswith("/api/"):
        assert '<div id="root"></div>' in response.text  # the SPA's index.html


def test_api_paths_stay_the_apis(console: Console) -> None:
    with httpx.Client(base_url=console.url, timeout=30) as http:
        v1 = http.get("/api/v1/no-such-thing")
        assert v1.status_code == 404
        assert v1.json() == {
            "code": 404,
            "message": "Not found: GET /api/v1/no-such-thing",
            "data": None,
        }
        runtime = http.get("/api/no-such-thing")
        assert runtime.status_code == 404
        assert runtime.json() == {"detail": "Not found: GET /api/no-such-thing"}
        # A wrong method on a real route keeps its 405; a write to a console path is a 404.
        assert http.delete("/api/v1/auth/login").status_code == 405
        posted = http.post("/clusters", json={})
        assert posted.status_code == 404 and posted.json()["code"] == 404
        assert http.get("/api/openapi.json").json()["info"]["title"] == "Taichu"
        assert http.get("/readyz").status_code == 200


def test_built_files_are_served_and_missing_ones_are_404(console: Console) -> None:
    with httpx.Client(base_url=console.url, timeout=30) as http:
        index = http.get("/").text
        script = re.search(r'src="(/assets/[^"]+\.js)"', index)
        assert script
        asset = http.get(script.group(1))
        assert asset.status_code == 200
        assert "javascript" in asset.headers["content-type"]
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert http.get("/").headers["cache-control"] == "no-cache"  # a new build shows
        missing = http.get("/assets/no-such-file.js")
        assert missing.status_code == 404 and "html" not in missing.headers["content-type"]
        assert http.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
        # Nothing outside the build, and not its dotfiles.
        assert http.get("/.source-hash").status_code == 404
        assert http.get("/..%2F__init__.py").status_code == 404


def _own_requests(page: Page, console: Console) -> list[str]:
    seen: list[str] = []

    def record(request: Request) -> None:
        seen.append(request.url)

    page.on("request", record)
    return seen


def _foreign(seen: list[str], console: Console) -> list[str]:
    return [u for u in seen if not u.startswith((console.url + "/", "data:", "blob:"))]


def test_swagger_ui_renders_from_the_platform_alone(
    page: Page, console: Console, screenshot: Screenshot
) -> None:
    seen = _own_requests(page, console)
    page.goto("/api/docs")
    expect(page.locator(".opblock").first).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/auth/login")).to_be_visible()
    assert page.locator(".opblock").count() > 50
    screenshot(page, "api-docs-swagger")
    assert seen and _foreign(seen, console) == []


def test_redoc_renders_from_the_platform_alone(
    page: Page, console: Console, screenshot: Screenshot
) -> None:
    seen = _own_requests(page, console)
    page.goto("/api/redoc")
    expect(page.get_by_role("heading", name=re.compile("^Taichu"))).to_be_visible()
    expect(page.locator("h2", has_text="Login").first).to_be_attached()
    screenshot(page, "api-docs-redoc")
    assert seen and _foreign(seen, console) == []


def test_a_wrong_password_shows_the_apis_message(
    page: Page, axe_check: AxeCheck, screenshot: Screenshot
) -> None:
    page.goto("/clusters")
    expect(page).to_have_url(re.compile(r"/signin\?next=%2Fclusters$"))
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Invalid username or password")
    expect(page).to_have_url(re.compile("/signin"))
    axe_check(page)
    screenshot(page, "signin-error")


def test_the_bootstrap_admin_is_led_to_change_the_password_by_keyboard_alone(
    start_console: StartConsole, browser, axe_check: AxeCheck, screenshot: Screenshot
) -> None:
    fresh = start_console(bootstrap_admin=True)
    context = open_context(browser, fresh.url, locale="en-US")
    page = context.new_page()
    problems = watch(page)
    try:
        page.goto("/")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        axe_check(page)
        screenshot(page, "signin")
        # Keyboard only: the username has focus; Tab to the password; Enter submits.
        expect(page.get_by_label("Username")).to_be_focused()
        page.keyboard.type("admin")
        page.keyboard.press("Tab")
        expect(page.get_by_label("Password")).to_be_focused()
        page.keyboard.type("admin")
        page.keyboard.press("Enter")

        expect(page).to_have_url(re.compile("/account/password$"))
        expect(page.get_by_role("note")).to_contain_text("bootstrap password")
        expect(page.get_by_role("navigation", name="Main")).to_have_count(0)
        page.goto("/clusters")  # nothing else until the password is changed
        expect(page).to_have_url(re.compile("/account/password$"))
        axe_check(page)
        screenshot(page, "account-bootstrap-password")

        # The API's own refusal of a weak password, under its field.
        page.get_by_label("Current password").fill("admin")
        page.get_by_label("New password", exact=True).fill("short")
        page.get_by_label("Repeat the new password").fill("short")
        page.get_by_role("button", name="Change password").click()
        expect(page.locator(".field-error")).to_have_text("password: must be at least 8 characters")

        page.get_by_label("New password", exact=True).fill("Chosen-Password-42")
        page.get_by_label("Repeat the new password").fill("Chosen-Password-42")
        page.get_by_role("button", name="Change password").click()
        expect(page).to_have_url(re.compile("/clusters$"))
        expect(page.get_by_role("heading", name="Clusters", level=1)).to_be_visible()
        expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    finally:
        context.close()
    assert not problems.csp and not problems.errors, problems
    # The platform agrees: the new password is the admin's, the bootstrap one is not.
    with httpx.Client(base_url=fresh.url, timeout=60) as http:
        assert (
            http.post(
                "/api/v1/auth/login", json={"username": "admin", "password": "Chosen-Password-42"}
            ).json()["data"]["user"]["password_change_required"]
            is False
        )
        assert (
            http.post(
                "/api/v1/auth/login", json={"username": "admin", "password": "admin"}
            ).status_code
            == 401
        )


def test_the_browsers_language_is_chosen_and_switching_persists(
    browser, console: Console, screenshot: Screenshot, signed_in_page: Page
) -> None:
    # A Chinese browser gets Chinese at once.
    context = open_context(browser, console.url, locale="zh-CN")
    chinese = context.new_page()
    try:
        chinese.goto("/signin")
        expect(chinese.get_by_role("heading", name="登录")).to_be_visible()
        expect(chinese.locator("html")).to_have_attribute("lang", "zh-CN")
        screenshot(chinese, "signin-zh")
    finally:
        context.close()

    page = signed_in_page  # an English browser
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Clusters")).to_be_visible()
    page.get_by_label("Language").select_option("zh")
    expect(
        page.get_by_role("navigation", name="主导航").get_by_role("link", name="集群")
    ).to_be_visible()
    expect(page.get_by_role("button", name="退出登录")).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="集群", level=1)).to_be_visible()
    assert page.evaluate("() => localStorage.getItem('taichu.lang')") == "zh"
    screenshot(page, "clusters-stub-zh")
    page.get_by_label("语言").select_option("en")
    expect(page.get_by_role("heading", name="Clusters", level=1)).to_be_visible()


def test_an_unreachable_platform_keeps_the_session_and_offers_a_retry(
    signed_in_page: Page, axe_check: AxeCheck
) -> None:
    """The profile read failing for a reason other than a refused token (here the browser
    cuts that one request: a platform briefly unreachable) says so and keeps the token;
    a retry once it answers again lands where the user was, still signed in."""
    page = signed_in_page
    token = page.evaluate("() => localStorage.getItem('taichu.token')")
    page.route("**/api/v1/auth/profile", lambda route: route.abort("connectionrefused"))
    page.goto("/clusters")
    unchecked = page.get_by_test_id("session-unchecked")
    expect(unchecked.get_by_role("alert")).to_contain_text("The platform could not be reached")
    expect(page).to_have_url(re.compile(r"/clusters$"))  # not sent to the sign-in form
    assert page.evaluate("() => localStorage.getItem('taichu.token')") == token
    axe_check(page)
    page.unroute("**/api/v1/auth/profile")
    unchecked.get_by_role("button", name="Retry").click()
    expect(page.get_by_role("heading", name="Clusters", level=1)).to_be_visible()
    expect(unchecked).to_have_count(0)


def test_the_account_screen_changes_the_password_and_signs_out(
    signed_in_page: Page, console: Console, axe_check: AxeCheck, screenshot: Screenshot
) -> None:
    page = signed_in_page
    page.get_by_role("link", name="admin").click()
    expect(page.get_by_role("heading", name="Account", level=1)).to_be_visible()
    axe_check(page)
    screenshot(page, "account")
    page.get_by_label("Current password").fill("wrong-current-password")
    page.get_by_label("New password", exact=True).fill("Another-Password-7")
    page.get_by_label("Repeat the new password").fill("Another-Password-7")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator(".field-error")).to_have_text("old_password: incorrect")

    token = page.evaluate("() => localStorage.getItem('taichu.token')")
    page.get_by_role("main").get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile("/signin$"))
    assert page.evaluate("() => localStorage.getItem('taichu.token')") is None
    # Signed out on the platform too: the token no longer works.
    profile = httpx.get(
        console.url + "/api/v1/auth/profile", headers={"Authorization": f"Bearer {token}"}
    )
    assert profile.status_code == 401
    page.goto("/clusters")
    expect(page).to_have_url(re.compile("/signin"))


def test_without_a_build_the_console_says_how_to_build_it(tmp_path: Path, monkeypatch) -> None:
    """Served from an empty build directory: an HTML page naming the commands, not a 404."""
    from starlette.testclient import TestClient

    from taichu.web import serving

    monkeypatch.setattr(serving, "DIST", tmp_path)
    from fastapi import FastAPI

    app = FastAPI()
    app.include_router(serving.router)
    serving.install_console(app)
    with TestClient(app) as http:
        for path in ("/", "/clusters", "/api/docs", "/api/redoc"):
            response = http.get(path)
            assert response.status_code == 503
            assert response.headers["content-type"].startswith("text/html")
            assert response.headers["content-security-policy"] == EXACT_CSP
            assert "make serve" in response.text and "scripts/web-build.sh" in response.text
