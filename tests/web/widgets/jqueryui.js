// jQuery UI + DataTables + chart() on a jQuery UI style page, fed by /agents/json and /flowkeys/json.
$(function () {
  window.uiStatus = { tableDraws: 0, completions: 0, errors: [] };
  $('#tabs').tabs({ activate: function () { $.event.trigger({ type: 'updateChart' }); } });
  $('#help-acc > div').accordion({ heightStyle: 'content', collapsible: true, active: 0 });
  $('#clone_button').button({ icons: { primary: 'ui-icon-newwin' }, text: false });

  var db = { trend: { times: [], trends: { flow: [], counter: [] } } }, prev = null;
  $('#samples').chart({ type: 'trend', metrics: ['flow', 'counter'], legend: ['Flow', 'Counter'], units: 'Samples/s' }, db);

  var table = $('#agentstable').DataTable({
    ajax: { url: '../../../agents/json', dataSrc: function (agents) {
      return Object.keys(agents).sort().map(function (a) {
        var s = agents[a];
        return [a, s.sFlowDatagramsReceived, s.sFlowFlowSamples, s.sFlowCounterSamples];
      });
    } },
    paging: false, searching: true, info: false
  }).on('draw', function () { window.uiStatus.tableDraws++; });
  setInterval(function () { table.ajax.reload(null, false); }, 1500);

  (function poll() {
    $.getJSON('../../../analyzer/json').done(function (a) {
      var now = Date.now();
      if (prev) {
        var dt = (now - prev.t) / 1000;
        db.trend.times.push(now);
        db.trend.trends.flow.push((a.sFlowFlowSamples - prev.a.sFlowFlowSamples) / dt);
        db.trend.trends.counter.push((a.sFlowCounterSamples - prev.a.sFlowCounterSamples) / dt);
        $.event.trigger({ type: 'updateChart' });
      }
      prev = { t: now, a: a };
    }).always(function () { setTimeout(poll, 500); });
  })();

  $('#keyinput').autocomplete({
    minLength: 0,
    source: function (request, response) {
      $.getJSON('../../../flowkeys/json').done(function (keys) {
        var term = request.term.split(/,\s*/).pop();
        var list = Object.keys(keys).filter(function (k) { return k.indexOf(term) === 0; }).sort();
        window.uiStatus.completions = list.length;
        response(list);
      }).fail(function (x) { window.uiStatus.errors.push('flowkeys ' + x.status); response([]); });
    }
  });
});
