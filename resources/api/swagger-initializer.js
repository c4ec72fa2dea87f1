// Explorer for flowrt's own OpenAPI document (../api-docs) and the api.yml of installed apps
// (listed by the document's x-flowrt-apps, served at ../app/<name>/api.yml). ?url=<doc> opens
// another document, as sFlow-RT app pages link to the explorer.
window.onload = function () {
  var MAIN = '../api-docs';
  var params = new URLSearchParams(window.location.search);
  var start = params.get('url') || MAIN;
  var select = document.getElementById('definition');

  window.ui = SwaggerUIBundle({
    url: start,
    dom_id: '#swagger-ui',
    deepLinking: true,
    docExpansion: 'list',
    tryItOutEnabled: false,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout'
  });

  function option(url, label) {
    var o = document.createElement('option');
    o.value = url;
    o.textContent = label;
    o.selected = url === start;
    select.appendChild(o);
  }

  fetch(MAIN).then(function (r) { return r.json(); }).then(function (doc) {
    var apps = doc['x-flowrt-apps'] || [];
    option(MAIN, 'flowrt REST API');
    apps.forEach(function (name) { option('../app/' + encodeURIComponent(name) + '/api.yml', 'app: ' + name); });
    if (start !== MAIN && !Array.prototype.some.call(select.options, function (o) { return o.value === start; })) option(start, start);
    select.style.display = select.options.length > 1 ? '' : 'none';
  });

  select.addEventListener('change', function () {
    var url = select.value;
    window.ui.specActions.updateUrl(url);
    window.ui.specActions.download(url);
    var q = url === MAIN ? '' : '?url=' + encodeURIComponent(url);
    window.history.replaceState(null, '', window.location.pathname + q);
  });
};
