// Drives every /inc widget from live flowrt data: /analyzer/json and one flow definition.
$(function () {
  var FLOW = 'webtest_pair';
  var maxPoints = 120;
  var db = { trend: { times: [], trends: { datagrams: [], flow: [], counter: [], topn: [] }, values: { limit: 0 } } };
  window.widgetStatus = { polls: 0, flowPolls: 0, errors: [] };

  $('[data-toggle="tooltip"]').tooltip();
  $('#gauge-datagrams').gauge({ counter: true, maxValue: 1000, threshold: 0, label: 'Datagrams', suffix: '/s' });
  $('#gauge-agents').gauge({ maxValue: 10, label: 'Agents', threshold: 100 });
  var rate = $('#rate').stripchart({ step: true });
  $('#trend').chart({ type: 'trend', metrics: ['flow', 'counter'], legend: ['Flow samples', 'Counter samples'],
    stack: true, mirror: true, units: 'Samples per Second', hrule: [{ name: 'limit', color: 'red', scale: true }] }, db);
  $('#topn').chart({ type: 'topn', metric: 'topn', stack: true, sep: ',', units: 'Bits per Second',
    legendHeadings: ['Source', 'Destination', 'Protocol'], legendLinks: [null, null, '#proto-{key}'],
    keyName: function (part, idx) { return idx === 2 ? ({ '1': 'icmp', '6': 'tcp', '17': 'udp' }[part] || part) : part; } }, db);
  var sunburst = $('#sunburst').sunburst();
  var heatmap = $('#heatmap').heatmap({ radius: 18 });
  var flow = $('#flow').flow({ axisW: 'Sources', axisE: 'Destinations', velocity: 4 });

  var prev = null;
  function push(name, value) {
    var arr = db.trend.trends[name];
    arr.push(value);
    if (arr.length > maxPoints) arr.shift();
  }

  function pollAnalyzer() {
    $.getJSON('../../../analyzer/json').done(function (a) {
      var now = Date.now();
      $('#gauge-datagrams').gauge('update', { value: a.sFlowDatagramsReceived });
      $('#gauge-agents').gauge('update', { value: a.sFlowAgents });
      if (prev) {
        var dt = (now - prev.t) / 1000;
        db.trend.times.push(now);
        if (db.trend.times.length > maxPoints) db.trend.times.shift();
        push('datagrams', (a.sFlowDatagramsReceived - prev.a.sFlowDatagramsReceived) / dt);
        push('flow', (a.sFlowFlowSamples - prev.a.sFlowFlowSamples) / dt);
        push('counter', (a.sFlowCounterSamples - prev.a.sFlowCounterSamples) / dt);
        push('topn', window.lastTop || {});
        db.trend.values.limit = Math.max.apply(null, db.trend.trends.flow) * 0.8;
        rate.stripchart('draw', { times: db.trend.times, values: [db.trend.trends.datagrams], units: 'Datagrams/s',
          legend: { labels: ['datagrams'] } });
        $.event.trigger({ type: 'updateChart' });
      }
      prev = { t: now, a: a };
      window.widgetStatus.polls++;
      $('#status').text('polls ' + window.widgetStatus.polls);
    }).fail(function (x) { window.widgetStatus.errors.push('analyzer ' + x.status); })
      .always(function () { setTimeout(pollAnalyzer, 500); });
  }

  function ip2frac(ip) {
    var p = ip.split('.').map(Number);
    return ((p[2] << 8) + p[3]) / 65536;
  }

  function pollFlows() {
    $.getJSON('../../../activeflows/ALL/' + FLOW + '/json', { maxFlows: 40 }).done(function (flows) {
      var top = {}, tree = { label: 'bytes', value: 0, children: {} }, points = [], particles = [];
      var max = flows.length ? Math.log10(flows[0].value + 1) : 1;
      flows.forEach(function (f, i) {
        var k = f.key.split(',');
        if (i < 8) top[f.key] = f.value * 8;
        var proto = tree.children[k[2]] || (tree.children[k[2]] = { value: 0, children: {} });
        proto.value += f.value;
        proto.children[k[0]] = { value: (proto.children[k[0]] ? proto.children[k[0]].value : 0) + f.value };
        tree.value += f.value;
        points.push({ x: ip2frac(k[0]), y: ip2frac(k[1]), z: Math.log10(f.value + 1) / max });
        particles.push({ startSide: 'W', startVal: ip2frac(k[0]), endSide: 'E', endVal: ip2frac(k[1]), type: k[2],
          frequency: Math.log10(f.value + 1), info: [{ name: 'Source', value: k[0] }, { name: 'Destination', value: k[1] }] });
      });
      window.lastTop = top;
      sunburst.sunburst('draw', tree);
      heatmap.heatmap('draw', points);
      flow.flow('data', particles);
      window.widgetStatus.flowPolls++;
      window.widgetStatus.flows = flows.length;
    }).fail(function (x) { window.widgetStatus.errors.push('activeflows ' + x.status); })
      .always(function () { setTimeout(pollFlows, 1000); });
  }

  $.ajax({ url: '../../../flow/' + FLOW + '/json', method: 'PUT', contentType: 'application/json',
    data: JSON.stringify({ keys: 'ipsource,ipdestination,ipprotocol', value: 'bytes', n: 20, t: 2 }) })
    .done(function () { window.widgetStatus.flowDefined = true; pollFlows(); })
    .fail(function (x) { window.widgetStatus.errors.push('flow PUT ' + x.status); });
  pollAnalyzer();
  $(window).resize(function () { $.event.trigger({ type: 'updateChart' }); });
});
