// Starts Swagger UI on /docs: a file, not an inline script, so the page's CSP allows scripts from
// this server only. The settings are those FastAPI's get_swagger_ui_html uses, without the validator.
(function () {
  "use strict";
  window.ui = SwaggerUIBundle({
    url: document.currentScript.dataset.openapi,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset]
  });
})();
