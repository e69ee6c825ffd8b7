// The API docs' start script (server/http/api_docs.py): Swagger UI, from this server, reading
// this server's OpenAPI document. A file, not inline, so the page's CSP allows no inline script.
const root = document.getElementById("swagger-ui");
window.ui = globalThis.SwaggerUIBundle({
  url: root.dataset.openapi,
  domNode: root,
  deepLinking: true,
  persistAuthorization: false,
  presets: [globalThis.SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
