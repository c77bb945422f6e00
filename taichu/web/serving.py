"""Serves the built console from `taichu/web/dist` under a strict Content-Security-Policy.

- Any GET/HEAD outside `/api` that names a built file answers that file (hashed
  `/assets/*` cached for a year); any other answers `index.html` (history routing), so
  `/clusters/3` reloads into the app. `/api/*` is never the console's: an unknown API path
  keeps its family's JSON 404.
- `/api/docs` and `/api/redoc` are our own small pages loading Swagger UI and ReDoc copied
  into the build (`/docs-assets/`), no CDN and no inline script: an offline network gets
  working documentation.
- Without a build, `/` answers a short HTML page saying how to build it.

The docs pages are Starlette `Route`s, not `APIRoute`s: they are not API operations (not
in the OpenAPI document). The SPA is the router's fallback (`install_console`)."""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import APIRouter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.types import Receive, Scope, Send

DIST = Path(__file__).resolve().parent / "dist"

# Fixed by the console's contract (docs/console.md): nothing but the platform's own files.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
_IMMUTABLE = "public, max-age=31536000, immutable"  # content-hashed names (Vite's assets/)

MISSING_BUILD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Taichu: console not built</title></head>
<body><main><h1>The web console is not built</h1>
<p>This copy of Taichu has no built console (<code>taichu/web/dist</code> is missing).
The API works: <code>/api/v1/...</code>.</p>
<p>Build it with <code>make serve</code> (builds when missing or stale) or
<code>bash scripts/web-build.sh</code>, then reload this page.</p>
<p lang="zh">控制台尚未构建。请运行 <code>make serve</code> 或
<code>bash scripts/web-build.sh</code>，然后刷新本页。</p></main></body></html>
"""

_DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
{head}</head>
<body>{body}
{scripts}</body></html>
"""


def _headers(cache: str = "no-cache") -> dict[str, str]:
    return {**SECURITY_HEADERS, "Cache-Control": cache}


def _missing_build() -> HTMLResponse:
    return HTMLResponse(MISSING_BUILD, status_code=503, headers=_headers("no-store"))


def built_file(dist: Path, url_path: str) -> Path | None:
    """The file of `dist` a URL path names, or None: never outside `dist`, never a
    dotfile (`.source-hash`), never a directory."""
    parts = [p for p in url_path.split("/") if p]
    if not parts or any(p.startswith(".") or "\\" in p for p in parts):
        return None
    candidate = dist.joinpath(*parts)
    try:
        resolved = candidate.resolve()
        resolved.relative_to(dist.resolve())
    except (OSError, ValueError):
        return None
    return resolved if resolved.is_file() else None


def is_asset_path(url_path: str) -> bool:
    """A path meant to be a file (a script, style, image): missing, it is a 404, never
    the app's HTML (a script URL answered with HTML fails confusingly)."""
    last = url_path.rstrip("/").rsplit("/", 1)[-1]
    return url_path.startswith(("/assets/", "/docs-assets/")) or "." in last


async def console(request: Request) -> Response:
    path = request.url.path
    found = built_file(DIST, path)
    if found is not None:
        cache = _IMMUTABLE if path.startswith("/assets/") else "no-cache"
        return FileResponse(found, headers=_headers(cache))
    if is_asset_path(path):
        return Response(
            "Not found", status_code=404, media_type="text/plain", headers=_headers("no-store")
        )
    index = DIST / "index.html"
    if not index.is_file():
        return _missing_build()
    return FileResponse(index, media_type="text/html", headers=_headers())


def _docs_page(title: str, css: list[str], body: str, scripts: list[str]) -> Response:
    if not all((DIST / "docs-assets" / name).is_file() for name in (*css, *scripts)):
        return _missing_build()
    head = "\n".join(f'<link rel="stylesheet" href="/docs-assets/{name}">' for name in css)
    tags = "\n".join(f'<script src="/docs-assets/{name}"></script>' for name in scripts)
    page = _DOCS_PAGE.format(title=html.escape(title), head=head, body=body, scripts=tags)
    return HTMLResponse(page, headers=_headers())


async def swagger_ui(request: Request) -> Response:
    # swagger-init.js (web/docs/) reads the document's URL from data-openapi.
    body = '<div id="swagger-ui" data-openapi="/api/openapi.json"></div>'
    scripts = ["swagger-ui-bundle.js", "swagger-init.js"]
    return _docs_page("Taichu API - Swagger UI", ["swagger-ui.css"], body, scripts)


async def redoc(request: Request) -> Response:
    body = '<div id="redoc" data-openapi="/api/openapi.json"></div>'
    scripts = ["csp-shim.js", "redoc.standalone.js", "redoc-init.js"]
    return _docs_page("Taichu API - ReDoc", [], body, scripts)


def install_console(app: Starlette) -> None:
    """The SPA answers what no route matched (not even by path with another method): a
    GET/HEAD outside `/api`. Everything else keeps the router's own answer (the API's
    404 in its family's shape)."""
    not_found = app.router.default

    async def fallback(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"] if scope["type"] == "http" else "/api"
        if scope.get("method") not in ("GET", "HEAD") or path == "/api" or path.startswith("/api/"):
            await not_found(scope, receive, send)
            return
        response = await console(Request(scope, receive))
        await response(scope, receive, send)

    app.router.default = fallback


router = APIRouter()
router.add_route("/api/docs", swagger_ui, methods=["GET"], include_in_schema=False)
router.add_route("/api/redoc", redoc, methods=["GET"], include_in_schema=False)
