// Explorer for flowrt's own OpenAPI document (served by flowrt at /api-docs).
window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: '../api-docs',
    dom_id: '#swagger-ui',
    deepLinking: true,
    docExpansion: 'list',
    tryItOutEnabled: false,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout'
  });
};
