"""The web console: the built single-page app (web/ -> taichu/web/dist) served by the
platform itself at `/`, and the API's Swagger UI and ReDoc from vendored assets
(docs/console.md)."""
