// Starts Swagger UI for /api/docs (taichu/web/serving.py): a file, not an inline script,
// so the page keeps the console's CSP. No validator badge: it would call swagger.io.
(function () {
  var root = document.getElementById('swagger-ui');
  window.ui = window.SwaggerUIBundle({
    url: root.getAttribute('data-openapi'),
    domNode: root,
    deepLinking: true,
    filter: true,
    validatorUrl: null,
    persistAuthorization: true,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
  });
})();
