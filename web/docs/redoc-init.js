// Starts ReDoc for /api/redoc (taichu/web/serving.py): a file, not an inline script, so
// the page keeps the console's CSP. No search box: ReDoc's search runs in a worker made
// from a blob: URL, which the CSP refuses (Swagger UI at /api/docs has a filter).
(function () {
  var root = document.getElementById('redoc');
  window.Redoc.init(root.getAttribute('data-openapi'), { disableSearch: true }, root);
})();
