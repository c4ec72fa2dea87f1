// flowrt status UI: one page per #hash, each polling only the REST endpoints it shows.
$(function () {
  'use strict';

  var REST = '../';
  var HISTORY = 300;          // chart points kept (5 minutes at 1 s)
  var valueStr = $.inmon.stripchart.valueStr;

  // -- helpers ------------------------------------------------------------------------------
  function esc(text) {
    return String(text === undefined || text === null ? '' : text).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  function num(v) { return typeof v === 'number' && isFinite(v) ? v : 0; }
  function fmt(v) { return typeof v === 'number' ? String(valueStr(v)) : esc(v); }
  function fmtRate(v) { return v < 10 ? (Math.round(v * 10) / 10).toString() : String(valueStr(Math.round(v))); }
  function bytes(v) {
    var units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'], i = 0;
    v = num(v);
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i ? +v.toPrecision(3) : v) + ' ' + units[i];
  }
  function duration(ms) {
    var s = Math.floor(num(ms) / 1000), d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600),
      m = Math.floor(s % 3600 / 60);
    if (d) return d + 'd ' + h + 'h';
    if (h) return h + 'h ' + m + 'm';
    if (m) return m + 'm ' + (s % 60) + 's';
    return (s % 60) + 's';
  }
  function getJSON(path, data) {
    return $.ajax({ url: REST + path, data: data, dataType: 'json', timeout: 15000 });
  }

  // A ring of timestamps plus named series, shared by a page's charts.
  function Trend() { this.times = []; this.trends = {}; this.values = {}; }
  Trend.prototype.add = function (t, points) {
    this.times.push(t);
    for (var name in points) (this.trends[name] = this.trends[name] || []).push(points[name]);
    if (this.times.length > HISTORY) {
      this.times.shift();
      for (var n in this.trends) this.trends[n].shift();
    }
  };
  Trend.prototype.reset = function () { this.times = []; this.trends = {}; };

  var heartbeat = { last: 0 };
  function alive() { heartbeat.last = Date.now(); showHeartbeat(); }
  function showHeartbeat() {
    var age = heartbeat.last ? Date.now() - heartbeat.last : Infinity;
    var el = $('#heartbeat').removeClass('ok stale down');
    if (age < 5000) { el.addClass('ok'); $('#heartbeat-text').text('live'); }
    else if (age < 20000) { el.addClass('stale'); $('#heartbeat-text').text(Math.round(age / 1000) + 's ago'); }
    else { el.addClass('down'); $('#heartbeat-text').text(heartbeat.last ? 'no reply' : 'connecting'); }
  }
  setInterval(showHeartbeat, 1000);

  // Pollers run only while their page is shown.
  function Poller(fn, interval) { this.fn = fn; this.interval = interval; this.timer = null; this.on = false; }
  Poller.prototype.start = function () {
    if (this.on) return;
    this.on = true;
    this._run();
  };
  Poller.prototype._run = function () {
    var self = this;
    if (!this.on) return;
    $.when(this.fn()).always(function () {
      if (self.on) self.timer = setTimeout(function () { self._run(); }, self.interval);
    });
  };
  Poller.prototype.stop = function () { this.on = false; clearTimeout(this.timer); };

  // -- status -------------------------------------------------------------------------------
  var statusDb = { trend: new Trend() }, lastAnalyzer = null;
  $('#chart-rates').chart({ type: 'trend', metrics: ['datagrams', 'flowSamples', 'counterSamples'],
    legend: ['Datagrams', 'Flow samples', 'Counter samples'], units: 'per second' }, statusDb);
  $('#chart-errors').chart({ type: 'trend', metrics: ['kernelDrops', 'sampleDrops', 'decodeErrors', 'handlerErrors'],
    legend: ['Kernel + queue drops', 'Lost datagrams', 'Decode errors', 'Handler errors'], units: 'per second',
    colors: ['#ff7f0e', '#9467bd', '#d62728', '#8c564b'] }, statusDb);
  $('#chart-cpu').chart({ type: 'trend', metrics: ['cpuProcess', 'cpuSystem'], legend: ['flowrt', 'system'],
    units: '%' }, statusDb);
  var lostTotal = 0;

  function setTile(id, state) { $(id).removeClass('warn bad').addClass(state || ''); }

  function pollStatus() {
    return getJSON('analyzer/json').done(function (a) {
      alive();
      var now = Date.now(), prev = lastAnalyzer;
      $('#t-agents').text(num(a.sFlowAgents));
      $('#t-bytes').text(bytes(a.sFlowBytesReceived) + ' received');
      $('#t-datagrams-total').text(valueStr(num(a.sFlowDatagramsReceived)) + ' total');
      $('#t-samples-split').text(valueStr(num(a.sFlowFlowSamples)) + ' flow, ' + valueStr(num(a.sFlowCounterSamples)) + ' counter');
      $('#t-errors').text(valueStr(num(a.sFlowDecodeErrors)));
      $('#t-drops').text(valueStr(num(a.sFlowKernelDrops) + num(a.sFlowQueueDrops) + lostTotal));
      $('#t-drops-sub').text(valueStr(num(a.sFlowKernelDrops)) + ' kernel, ' + (num(a.sFlowQueueDrops) ? valueStr(num(a.sFlowQueueDrops)) + ' queue, ' : '') + valueStr(lostTotal) + ' lost');
      $('#t-memory').text(bytes(a.heapUsed));
      $('#t-cpu').text('CPU ' + Math.round(num(a.cpuLoadProcess) * 100) + '% (system ' + Math.round(num(a.cpuLoadSystem) * 100) + '%)');
      $('#s-version').text(a.version || '');
      $('#a-version').text(a.version || '');
      $('#s-uptime').text(duration(a.uptime));
      $('#s-bytes').text(bytes(a.sFlowBytesReceived));
      $('#s-samples').text([a.sFlowFlowSamples, a.sFlowCounterSamples, a.sFlowDiscardSamples].map(num).join(' / '));
      $('#s-handler').text(num(a.sFlowHandlerErrors));
      $('#s-http').text(num(a.httpConnectionsCurrent) + ' open, ' + num(a.httpConnectionsTotal) + ' total');
      if (prev) {
        var dt = Math.max(0.001, (now - prev.t) / 1000), p = prev.a;
        function rate(field) { return Math.max(0, num(a[field]) - num(p[field])) / dt; }
        var points = {
          datagrams: rate('sFlowDatagramsReceived'), flowSamples: rate('sFlowFlowSamples'),
          counterSamples: rate('sFlowCounterSamples'),
          kernelDrops: rate('sFlowKernelDrops') + rate('sFlowQueueDrops'),
          decodeErrors: rate('sFlowDecodeErrors'), handlerErrors: rate('sFlowHandlerErrors'),
          sampleDrops: Math.max(0, lostTotal - prev.lost) / dt,
          cpuProcess: num(a.cpuLoadProcess) * 100, cpuSystem: num(a.cpuLoadSystem) * 100
        };
        statusDb.trend.add(now, points);
        $('#t-datagrams').text(fmtRate(points.datagrams));
        $('#t-samples').text(fmtRate(points.flowSamples + points.counterSamples + rate('sFlowDiscardSamples')));
        $('#t-errors-sub').text(fmtRate(points.decodeErrors) + '/s');
        setTile('#tile-errors', points.decodeErrors > 0 ? 'bad' : (num(a.sFlowDecodeErrors) ? 'warn' : ''));
        setTile('#tile-drops', points.kernelDrops + points.sampleDrops > 0 ? 'bad' : '');
        $.event.trigger({ type: 'updateChart' });
      }
      lastAnalyzer = { t: now, a: a, lost: lostTotal };
    });
  }
  // lost datagrams come from the agents table (sequence-number gaps)
  var busyPrev = {};
  function pollLost() {
    return getJSON('agents/json').done(function (agents) {
      var total = 0, now = Date.now(), rows = [];
      for (var k in agents) {
        var a = agents[k], prev = busyPrev[k], dg = num(a.sFlowDatagramsReceived), fs = num(a.sFlowFlowSamples);
        total += num(a.sFlowDatagramsLost);
        var dt = prev ? (now - prev.t) / 1000 : 0;
        rows.push({ agent: k, dg: dt > 0 ? Math.max(0, dg - prev.dg) / dt : -1, fs: dt > 0 ? Math.max(0, fs - prev.fs) / dt : -1,
          lost: num(a.sFlowDatagramsLost), seen: num(a.lastSeen) });
        busyPrev[k] = { t: now, dg: dg, fs: fs };
      }
      lostTotal = total;
      rows.sort(function (x, y) { return y.dg - x.dg || (x.agent < y.agent ? -1 : 1); });
      $('#s-agents tbody').html(rows.slice(0, 8).map(function (r) {
        return '<tr><td>' + esc(r.agent) + '</td><td class="num">' + (r.dg < 0 ? '–' : fmtRate(r.dg)) + '</td><td class="num">' +
          (r.fs < 0 ? '–' : fmtRate(r.fs)) + '</td><td class="num">' + fmt(r.lost) + '</td><td class="num">' + duration(r.seen) + ' ago</td></tr>';
      }).join('') || '<tr><td colspan="5" class="text-muted">no sFlow agents yet</td></tr>');
    });
  }

  // -- agents -------------------------------------------------------------------------------
  var agentPrev = {}, agentRows = [], agentSort = { key: 'agent', dir: 1 };
  function ipSortKey(a) {
    var parts = String(a).split('.');
    if (parts.length === 4 && parts.every(function (p) { return /^\d+$/.test(p); })) {
      return parts.map(function (p) { return ('00' + p).slice(-3); }).join('.');
    }
    return 'z' + a;
  }
  function renderAgents() {
    var q = $('#agents-search').val().toLowerCase();
    var rows = agentRows.filter(function (r) { return !q || r.agent.toLowerCase().indexOf(q) >= 0 || r.sources.toLowerCase().indexOf(q) >= 0; });
    var k = agentSort.key, d = agentSort.dir;
    rows.sort(function (x, y) {
      var a = k === 'agent' ? ipSortKey(x.agent) : x[k], b = k === 'agent' ? ipSortKey(y.agent) : y[k];
      return (a < b ? -1 : a > b ? 1 : 0) * d;
    });
    var html = rows.map(function (r) {
      return '<tr><td><a href="#metrics" data-agent="' + esc(r.agent) + '" class="agent-link">' + esc(r.agent) + '</a></td>' +
        '<td>' + esc(r.sources) + '</td><td class="num">' + (r.rate < 0 ? '–' : fmtRate(r.rate)) + '</td><td class="num">' + fmt(r.datagrams) +
        '</td><td class="num">' + fmt(r.flows) + '</td><td class="num">' + fmt(r.counters) + '</td><td class="num' +
        (r.lost ? ' text-danger' : '') + '">' + fmt(r.lost) + '</td><td class="num">' + fmt(r.outoforder) +
        '</td><td class="num' + (r.drops ? ' text-warning' : '') + '">' + fmt(r.drops) + '</td><td class="num">' +
        duration(r.uptime) + '</td><td class="num">' + duration(r.lastSeen) + ' ago</td></tr>';
    }).join('');
    $('#agents-table tbody').html(html);
    $('#agents-count').text(agentRows.length);
    $('#agents-empty').toggle(agentRows.length === 0);
    $('#agents-table th').removeClass('sorted-asc sorted-desc')
      .filter('[data-key="' + k + '"]').addClass(d > 0 ? 'sorted-asc' : 'sorted-desc');
  }
  function pollAgents() {
    return getJSON('agents/json').done(function (agents) {
      alive();
      var now = Date.now(), rows = [];
      Object.keys(agents).forEach(function (name) {
        var a = agents[name], prev = agentPrev[name], dg = num(a.sFlowDatagramsReceived);
        var rate = prev && now > prev.t ? Math.max(0, dg - prev.dg) * 1000 / (now - prev.t) : -1;
        agentPrev[name] = { t: now, dg: dg };
        rows.push({
          agent: name, sources: (a.sFlowDatagramSource || []).join(', '), rate: rate, datagrams: dg,
          flows: num(a.sFlowFlowSamples), counters: num(a.sFlowCounterSamples), lost: num(a.sFlowDatagramsLost),
          outoforder: num(a.sFlowDatagramsOutOfOrder), drops: num(a.sFlowFlowDrops), uptime: num(a.uptime),
          lastSeen: num(a.lastSeen)
        });
      });
      agentRows = rows;
      renderAgents();
    });
  }
  $('#agents-table th').on('click', function () {
    var key = $(this).data('key');
    agentSort = { key: key, dir: agentSort.key === key ? -agentSort.dir : (key === 'agent' || key === 'sources' ? 1 : -1) };
    renderAgents();
  });
  $('#agents-search').on('input', renderAgents);
  $(document).on('click', '.agent-link', function () {
    metricState.agent = $(this).data('agent');
    metricState.pending = true;
  });

  // -- metrics ------------------------------------------------------------------------------
  var metricState = { agent: 'ALL', metric: null, ds: 'ALL', stat: 'max', names: {}, pending: true, auto: true };
  var metricPolls = 0;
  var PREFERRED = ['ifinoctets', 'ifoutoctets', 'load_one', 'cpu_utilization', 'mem_utilization', 'ifspeed'];
  var metricChart = $('#chart-metric').stripchart(), metricData = new Trend();

  function loadAgentsSelect() {
    return getJSON('agents/json').done(function (agents) {
      var list = Object.keys(agents).sort(function (a, b) { return ipSortKey(a) < ipSortKey(b) ? -1 : 1; });
      if (metricState.agent !== 'ALL' && list.indexOf(metricState.agent) < 0) list.unshift(metricState.agent);
      $('#m-agent').html(['ALL'].concat(list).map(function (a) {
        return '<option' + (a === metricState.agent ? ' selected' : '') + '>' + esc(a) + '</option>';
      }).join(''));
    });
  }
  function loadMetricNames() {
    var agent = metricState.agent;
    var req = agent === 'ALL' ? getJSON('metrics/json') : getJSON('metric/' + encodeURIComponent(agent) + '/json');
    return req.done(function (metrics) {
      var names = {}, before = metricState.metric;
      Object.keys(metrics).forEach(function (k) {
        if (agent === 'ALL') { names[k] = names[k] || {}; return; }
        var i = k.lastIndexOf('.'), ds = k.substring(0, i), name = k.substring(i + 1);
        var label = metrics[ds + '.host_name'] || metrics[ds + '.ifname'] || ds;
        (names[name] = names[name] || {})[ds] = label;
      });
      metricState.names = names;
      var list = Object.keys(names).sort();
      if (metricState.auto || list.indexOf(metricState.metric) < 0) {
        var preferred = PREFERRED.filter(function (n) { return names[n]; });
        metricState.metric = preferred[0] || (list.indexOf(metricState.metric) >= 0 ? metricState.metric : list[0] || null);
      }
      $('#m-metric').html(list.map(function (n) {
        return '<option' + (n === metricState.metric ? ' selected' : '') + '>' + esc(n) + '</option>';
      }).join(''));
      fillDatasources(before !== metricState.metric);
    });
  }
  function fillDatasources(reset) {
    var dss = metricState.names[metricState.metric] || {};
    var list = Object.keys(dss).sort(function (a, b) { return parseFloat(a) - parseFloat(b) || (a < b ? -1 : 1); });
    if (list.indexOf(metricState.ds) < 0) metricState.ds = 'ALL';
    $('#m-datasource').html(['ALL'].concat(list).map(function (ds) {
      var label = ds === 'ALL' ? 'ALL' : (dss[ds] !== ds ? ds + ' (' + dss[ds] + ')' : ds);
      return '<option value="' + esc(ds) + '"' + (ds === metricState.ds ? ' selected' : '') + '>' + esc(label) + '</option>';
    }).join(''));
    if (reset !== false) resetMetricChart();
  }
  function resetMetricChart() {
    metricData.reset();
    $('#m-title').text(metricState.metric ? metricState.stat + ':' + metricState.metric + ' on ' + metricState.agent +
      (metricState.ds !== 'ALL' ? ' data source ' + metricState.ds : '') : 'No metrics yet');
  }
  function metricPath() {
    return (metricState.ds !== 'ALL' ? metricState.ds + '.' : '') + metricState.metric;
  }
  function pollMetric() {
    if (metricState.pending) {
      metricState.pending = false;
      return loadAgentsSelect().then(loadMetricNames);
    }
    metricPolls++;
    // counters arrive later than flows: until the user picks, look again for a preferred metric
    if (!metricState.metric || (metricState.auto && metricState.metric !== PREFERRED[0] && metricPolls % 10 === 0)) {
      return loadMetricNames();
    }
    var agent = encodeURIComponent(metricState.agent);
    var q1 = getJSON('metric/' + agent + '/' + encodeURIComponent(metricState.stat + ':' + metricPath()) + '/json').done(function (res) {
      alive();
      var r = res && res[0] || {}, v = r.metricValue, now = Date.now();
      metricData.add(now, { v: typeof v === 'number' ? v : 0 });
      $('#m-value').text(typeof v === 'number' ? valueStr(v) : (v === undefined ? '' : v));
      $('#m-n').text(r.metricN === undefined ? '' : r.metricN);
      $('#m-vagent').text(r.agent || '');
      $('#m-vds').text(r.dataSource || '');
      $('#m-updated').text(r.lastUpdate !== undefined ? duration(r.lastUpdate) + ' ago' : '');
      metricChart.stripchart('draw', { times: metricData.times, values: [metricData.trends.v] });
    });
    var q2 = getJSON('dump/' + agent + '/' + encodeURIComponent(metricPath()) + '/json').done(function (rows) {
      rows = (rows || []).slice(0, 500);
      $('#m-dump-count').text(rows.length ? '(' + rows.length + ')' : '');
      $('#m-dump tbody').html(rows.map(function (m) {
        return '<tr><td>' + esc(m.agent) + '</td><td>' + esc(m.dataSource) + '</td><td>' + esc(m.metricName) +
          '</td><td class="num">' + fmt(m.metricValue) + '</td><td class="num">' + duration(m.lastUpdate) + '</td></tr>';
      }).join(''));
    });
    return $.when(q1, q2);
  }
  $('#m-agent').on('change', function () {
    metricState.agent = $(this).val();
    metricState.ds = 'ALL';
    loadMetricNames().done(resetMetricChart);
  });
  $('#m-metric').on('change', function () { metricState.metric = $(this).val(); metricState.auto = false; fillDatasources(); });
  $('#m-datasource').on('change', function () { metricState.ds = $(this).val(); resetMetricChart(); });
  $('#m-stat').on('change', function () { metricState.stat = $(this).val(); resetMetricChart(); });

  // -- flows --------------------------------------------------------------------------------
  // Each query gets its own flow name: the DELETE of the previous one may arrive after the PUT.
  var flowBase = 'flowrt_ui_' + Math.random().toString(16).slice(2, 8), flowSeq = 0, flowName = null;
  var flowDb = {}, flowQuery = null, flowDefined = false, flowKeys = { at: 0, list: [] };
  var UNITS = { bps: ['bytes', 8, 'bits per second'], Bps: ['bytes', 1, 'bytes per second'],
    fps: ['frames', 1, 'frames per second'], bytes: ['bytes', 1, 'bytes per second'],
    frames: ['frames', 1, 'frames per second'], requests: ['requests', 1, 'requests per second'] };

  function flowStatus(text, bad) { $('#f-status').text(text).toggleClass('text-danger', !!bad); }

  function deleteFlow() {
    if (!flowDefined) return;
    flowDefined = false;
    fetch(REST + 'flow/' + flowName + '/json', { method: 'DELETE', keepalive: true }).catch(function () {});
  }
  window.addEventListener('pagehide', deleteFlow);

  function startFlow() {
    var keys = $.trim($('#f-keys').val()).replace(/,+\s*$/, ''), valueIn = $.trim($('#f-value').val()) || 'bps';
    var filter = $.trim($('#f-filter').val());
    if (!keys) { flowStatus('Enter one or more keys', true); return; }
    var unit = UNITS[valueIn] || [valueIn, 1, valueIn];
    var spec = { keys: keys, value: unit[0], n: 20, t: 2 };
    if (filter) spec.filter = filter;
    flowStatus('defining flow…');
    var name = flowBase + '_' + (++flowSeq);
    $.ajax({ url: REST + 'flow/' + name + '/json', method: 'PUT', contentType: 'application/json',
      data: JSON.stringify(spec) })
      .done(function () {
        if (name !== flowBase + '_' + flowSeq) { // a newer query replaced this one meanwhile
          fetch(REST + 'flow/' + name + '/json', { method: 'DELETE', keepalive: true }).catch(function () {});
          return;
        }
        flowName = name;
        flowDefined = true;
        flowQuery = { keys: keys.split(','), scale: unit[1], units: unit[2], value: valueIn, filter: filter };
        try { sessionStorage.setItem('flowrt_flow', JSON.stringify({ keys: keys, value: valueIn, filter: filter })); } catch (e) { /* private mode */ }
        if (flowDb.trend) $('#chart-flows').stripchart('destroy').off('stripchartclick');
        flowDb = { trend: new Trend() };
        // up to 20 keys: the legend goes under the plot, where it covers neither the chart
        // nor the table below it
        $('#chart-flows').chart({ type: 'topn', metric: 'top', stack: true, sep: ',', legendHeadings: flowQuery.keys,
          units: unit[2], legendBelow: true }, flowDb);
        $('#f-title').text('Top flows: ' + keys + (filter ? ' where ' + filter : ''));
        $('#f-table thead').html('<tr>' + flowQuery.keys.map(function (k) { return '<th>' + esc(k) + '</th>'; }).join('') +
          '<th>' + esc(unit[2]) + '</th></tr>');
        $('#f-table tbody').html('');
        $('#flow-result').show();
        flowStatus('waiting for matching samples…');
        flowPoller.start();
      })
      .fail(function (x) {
        var reason = x.responseJSON && x.responseJSON.error || x.responseText || x.statusText;
        flowStatus('Rejected: ' + reason, true);
      });
  }

  function pollFlows() {
    if (!flowDefined || !flowQuery) return null;
    var q = flowQuery;
    return getJSON('activeflows/ALL/' + flowName + '/json', { maxFlows: $('#f-max').val() }).done(function (flows) {
      alive();
      if (q !== flowQuery || !flowDefined) return; // the form changed while this request was out
      var top = {}, max = flows.length ? flows[0].value : 0;
      flows.forEach(function (f) { top[f.key] = f.value * q.scale; });
      flowDb.trend.add(Date.now(), { top: top });
      $.event.trigger({ type: 'updateChart' });
      $('#f-table tbody').html(flows.length ? flows.map(function (f) {
        var width = max > 0 ? Math.max(1, Math.round(f.value / max * 120)) : 1;
        return '<tr>' + f.key.split(',').map(function (k, i) {
          return '<td class="key" data-col="' + i + '">' + esc(k) + '</td>';
        }).join('') + '<td class="val"><span class="bar" style="width:' + width + 'px"></span>' +
          valueStr(f.value * q.scale) + '</td></tr>';
      }).join('') : '<tr><td colspan="' + (q.keys.length + 1) + '" class="text-muted text-center"><i>no flows match yet</i></td></tr>');
      flowStatus(flows.length + ' flows, updated ' + new Date().toLocaleTimeString());
    }).fail(function (x) { if (q === flowQuery && flowDefined) flowStatus('query failed: ' + x.status, true); });
  }
  var flowPoller = new Poller(pollFlows, 1000);

  var definedFlows = {};
  function pollDefined() {
    return getJSON('flow/json').done(function (flows) {
      alive();
      definedFlows = flows || {};
      var names = Object.keys(definedFlows).filter(function (n) { return n.indexOf(flowBase) !== 0; }).sort();
      function list(v) { return v instanceof Array ? v.join(',') : (v === undefined || v === null ? '' : String(v)); }
      $('#f-defined tbody').html(names.map(function (n) {
        var f = definedFlows[n];
        return '<tr data-name="' + esc(n) + '"><td>' + esc(n) + '</td><td><code>' + esc(list(f.keys)) + '</code></td><td>' +
          esc(f.value) + '</td><td><code>' + esc(f.filter || '') + '</code></td><td class="num">' + esc(f.n === undefined ? '' : f.n) +
          '</td><td class="num">' + esc(f.t === undefined ? '' : f.t) + '</td></tr>';
      }).join('') || '<tr><td colspan="6" class="text-muted">none</td></tr>');
    });
  }
  $('#f-defined').on('click', 'tr[data-name]', function () {
    var f = definedFlows[$(this).data('name')];
    if (!f) return;
    $('#f-keys').val(f.keys instanceof Array ? f.keys.join(',') : f.keys || '');
    $('#f-value').val(f.value === 'bytes' ? 'bps' : f.value || '');
    $('#f-filter').val(f.filter || '');
    $('#flow-form').trigger('submit');
    window.scrollTo(0, 0);
  });

  $('#flow-form').on('submit', function () { flowPoller.stop(); deleteFlow(); flowQuery = null; startFlow(); return false; });
  $('#f-clear').on('click', function () {
    flowPoller.stop();
    deleteFlow();
    flowQuery = null;
    $('#f-keys,#f-value,#f-filter').val('');
    $('#flow-result').hide();
    flowStatus('');
    try { sessionStorage.removeItem('flowrt_flow'); } catch (e) { /* ignore */ }
  });
  $('#f-table').on('click', 'td.key', function () {
    var col = $(this).data('col'), key = flowQuery.keys[col], value = $(this).text();
    var term = key + "='" + value.replace(/'/g, "\\'") + "'";
    var filter = $.trim($('#f-filter').val());
    $('#f-filter').val(filter ? filter + '&' + term : term);
    $('#flow-form').trigger('submit');
  });

  // key completion from /flowkeys/json for the keys and filter inputs
  var menu = $('#complete-menu'), menuFor = null, menuItems = [], menuIdx = -1;
  function refreshKeys() {
    if (Date.now() - flowKeys.at < 10000) return $.Deferred().resolve().promise();
    return getJSON('flowkeys/json').done(function (keys) {
      flowKeys = { at: Date.now(), list: Object.keys(keys).sort() };
    });
  }
  function currentToken(input) {
    var text = input.value.substring(0, input.selectionStart);
    var sep = input.id === 'f-filter' ? /[&|(!]\s*/ : /,\s*/;
    var parts = text.split(sep), token = parts[parts.length - 1];
    return /[=~!']/.test(token) ? null : token;
  }
  function showMenu(input) {
    var token = currentToken(input);
    if (token === null) return hideMenu();
    var t = token.toLowerCase();
    var starts = flowKeys.list.filter(function (k) { return k.indexOf(t) === 0; });
    var within = flowKeys.list.filter(function (k) { return k.indexOf(t) > 0; });
    menuItems = starts.concat(within).slice(0, 30);
    if (!menuItems.length || (menuItems.length === 1 && menuItems[0] === token)) return hideMenu();
    menuFor = input;
    menuIdx = -1;
    menu.html(menuItems.map(function (k, i) {
      return '<a class="dropdown-item" href="#" data-i="' + i + '">' + esc(k) + '</a>';
    }).join(''));
    var off = $(input).offset();
    menu.css({ position: 'absolute', top: off.top + $(input).outerHeight(), left: off.left, minWidth: $(input).outerWidth() }).addClass('show');
  }
  function hideMenu() { menu.removeClass('show'); menuFor = null; }
  function pick(i) {
    var input = menuFor, key = menuItems[i];
    if (!input || key === undefined) return;
    var before = input.value.substring(0, input.selectionStart), after = input.value.substring(input.selectionStart);
    var token = currentToken(input) || '';
    input.value = before.substring(0, before.length - token.length) + key + after;
    var pos = before.length - token.length + key.length;
    input.setSelectionRange(pos, pos);
    hideMenu();
    input.focus();
  }
  $('#f-keys,#f-filter').on('input focus', function () {
    var input = this;
    refreshKeys().always(function () { if (document.activeElement === input) showMenu(input); });
  }).on('keydown', function (e) {
    if (!menu.hasClass('show')) return;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      menuIdx = (menuIdx + (e.key === 'ArrowDown' ? 1 : -1) + menuItems.length) % menuItems.length;
      menu.children().removeClass('active').eq(menuIdx).addClass('active');
      e.preventDefault();
    } else if ((e.key === 'Enter' || e.key === 'Tab') && menuIdx >= 0) {
      pick(menuIdx);
      e.preventDefault();
    } else if (e.key === 'Escape') hideMenu();
  }).on('blur', function () { setTimeout(hideMenu, 150); });
  menu.on('mousedown', '.dropdown-item', function (e) { e.preventDefault(); pick($(this).data('i')); });

  // -- apps and scripts ---------------------------------------------------------------------
  function scriptState(s) {
    if (s.alive) return '<span class="badge badge-success badge-state">running</span>';
    if (s.error) return '<span class="badge badge-danger badge-state">failed</span>';
    return '<span class="badge badge-secondary badge-state">exited</span>';
  }
  function pollApps() {
    return $.when(getJSON('apps/json'), getJSON('scripts/json')).done(function (appsRes, scriptsRes) {
      alive();
      var apps = appsRes[0] || {}, scripts = scriptsRes[0] || {};
      var names = Object.keys(apps).sort();
      $('#apps-empty').toggle(names.length === 0);
      $('#apps-table tbody').html(names.map(function (name) {
        var app = apps[name], list = app.scripts || [];
        var failed = list.some(function (id) { return scripts[id] && scripts[id].error; });
        var link = app.entry ? '<a href="../app/' + encodeURIComponent(name) + esc(app.entry) + '">' + esc(name) + '</a>' : esc(name);
        return '<tr><td>' + link + '</td><td>' + (failed ? '<span class="badge badge-danger">error</span>' :
          '<span class="badge badge-success">OK</span>') + '</td><td>' + list.map(function (id) {
          return esc(id.split('/').pop()) + ' ' + (scripts[id] ? scriptState(scripts[id]) : '');
        }).join('<br>') + '</td></tr>';
      }).join(''));
      $('#scripts-table tbody').html(Object.keys(scripts).sort().map(function (id) {
        var s = scripts[id];
        return '<tr><td>' + esc(id) + '</td><td>' + scriptState(s) + '</td><td class="num">' + fmt(num(s.cpuMs)) +
          '</td><td class="num">' + fmt(num(s.flowsReceived)) + '</td><td class="num">' + fmt(num(s.eventsReceived)) +
          '</td><td class="num">' + fmt(num(s.requestsReceived)) + '</td><td class="text-danger small">' + esc(s.error || '') + '</td></tr>';
      }).join('') || '<tr><td colspan="7" class="text-muted">no scripts running</td></tr>');
    });
  }

  // -- log ----------------------------------------------------------------------------------
  var LEVEL_CLASS = { FINE: 'badge-light', INFO: 'badge-info', WARNING: 'badge-warning', SEVERE: 'badge-danger' };
  var logLines = [];
  function renderLog() {
    var q = $('#log-search').val().toLowerCase();
    var rows = logLines.filter(function (l) { return !q || l.message.toLowerCase().indexOf(q) >= 0; }).slice().reverse();
    $('#log-table tbody').html(rows.map(function (l) {
      var d = new Date(l.time);
      return '<tr><td class="when">' + esc(d.toISOString().replace('T', ' ').substring(0, 19)) + '</td><td class="lvl"><span class="badge ' +
        (LEVEL_CLASS[l.level] || 'badge-light') + '">' + esc(l.level) + '</span></td><td class="msg">' + esc(l.message) + '</td></tr>';
    }).join('') || '<tr><td class="text-muted">no log lines</td></tr>');
  }
  function pollLog() {
    return getJSON('log/json', { maxLines: 500, minLevel: $('#log-level').val() }).done(function (lines) {
      alive();
      logLines = lines || [];
      renderLog();
    });
  }
  var logPoller = new Poller(pollLog, 2000);
  $('#log-level').on('change', function () { logPoller.stop(); logPoller.start(); });
  $('#log-search').on('input', renderLog);

  // -- history ------------------------------------------------------------------------------
  // Stored history (docs/history.md): a flow definition's top keys over a time range as a
  // stacked chart of their rates plus the rest, from /history/flowseries.
  var historyChart = null, historyUnits = {}, historyBusy = false;
  var PALETTE = $.inmon.stripchart.prototype.options.colors, OTHER_COLOR = '#a9a9a9';

  function historyRange() {
    var r = $('#h-range').val();
    if (r !== 'custom') return { from: r, to: 'now' };
    var from = new Date($('#h-from').val()).getTime(), to = new Date($('#h-to').val()).getTime();
    if (!isFinite(from) || !isFinite(to)) return null;
    return { from: String(from), to: String(to) };
  }
  function historyStatus(text, bad) { $('#h-status').text(text).toggleClass('text-danger', !!bad).toggleClass('text-muted', !bad); }
  function showStore(st) {
    var rows = [['Mode', st.mode + (st.reason ? ' (' + st.reason + ')' : '')]];
    if (st.target) rows.push(['Store', st.target + ', database ' + st.database + (st.cluster ? ', cluster ' + st.cluster : '')]);
    if (st.node) rows.push(['Node', st.node]);
    if (st.mode !== 'off') {
      rows.push(['Interval', st.interval + ' s, kept ' + st.days + ' days']);
      rows.push(['Recorded here', (st.flows || []).join(', ') || 'no flow definition']);
      rows.push(['Rows written / buffered / dropped', [st.rowsWritten, st.rowsBuffered, st.rowsDropped].map(num).join(' / ')]);
      if (!st.healthy) rows.push(['Last error', st.lastError || '']);
    }
    $('#h-store tbody').html(rows.map(function (r) { return '<tr><th>' + esc(r[0]) + '</th><td>' + esc(r[1]) + '</td></tr>'; }).join(''));
  }
  function loadHistoryNames(range) {
    return getJSON('history/flows/json', { from: range.from === 'custom' ? '-30d' : range.from, to: range.to }).done(function (names) {
      var sel = $('#h-flow'), cur = sel.val();
      var list = names.map(function (n) { return n.name; });
      if (cur && list.indexOf(cur) < 0) list.unshift(cur);
      sel.html(list.map(function (n) { return '<option>' + esc(n) + '</option>'; }).join(''));
      if (cur) sel.val(cur);
    });
  }
  function drawHistory(name, res) {
    var units = historyUnits[name] || { scale: 1, label: 'per second', total: 'value' };
    var labels = res.keys.slice(), values = res.values.map(function (v) { return v.map(function (x) { return x * units.scale; }); });
    var other = res.other.map(function (x) { return x * units.scale; });
    var hasOther = other.some(function (x) { return x > 0; });
    var colors = labels.map(function (k, i) { return PALETTE[i % PALETTE.length]; });
    if (hasOther) { labels.push('-other-'); values.push(other); colors.push(OTHER_COLOR); }
    if (!historyChart) historyChart = $('#chart-history').stripchart({ stack: true });
    historyChart.stripchart('draw', { times: res.times, values: values, colors: colors, units: units.label,
      legend: { labels: labels.map(function (k) { return k === '' ? '(total)' : k; }) } });
    $('#h-title').text(name + ': top ' + res.keys.length + ' keys, ' + units.label + ', ' + res.step + ' s steps');
  }
  function pollHistory() {
    if (historyBusy) return null;
    var range = historyRange();
    return getJSON('history/json').then(function (st) {
      alive();
      showStore(st);
      var off = st.mode === 'off';
      $('#h-off').toggle(off).text(off ? 'History is off on this node: ' + (st.reason || '') : '');
      if (off || !range) return null;
      return loadHistoryNames(range).then(function () {
        var name = $('#h-flow').val();
        if (!name) { historyStatus('no flow definition has stored history in this range'); return null; }
        return showHistory(name, range);
      });
    }).fail(function (x) {
      var reason = x && x.responseJSON && x.responseJSON.error;
      historyStatus('history query failed: ' + (reason || (x && x.status)), true);
    });
  }
  function showHistory(name, range) {
    historyBusy = true;
    var unitsReady = historyUnits[name] ? $.Deferred().resolve().promise() :
      getJSON('flow/' + encodeURIComponent(name) + '/json').then(function (spec) {
        historyUnits[name] = spec.value === 'bytes' ? { scale: 8, label: 'bits per second', total: 'bytes' } :
          { scale: 1, label: spec.value + ' per second', total: spec.value };
      }, function () { historyUnits[name] = { scale: 1, label: 'per second', total: 'value' }; return $.Deferred().resolve().promise(); });
    var q = { from: range.from, to: range.to, maxKeys: $('#h-max').val() };
    return unitsReady.then(function () {
      return $.when(getJSON('history/flowseries/ALL/' + encodeURIComponent(name) + '/json', q),
        getJSON('history/topkeys/ALL/' + encodeURIComponent(name) + '/json', q));
    }).done(function (series, top) {
      series = series[0]; top = top[0];
      drawHistory(name, series);
      var units = historyUnits[name];
      $('#h-table thead').html('<tr><th>Key</th><th class="num">Average, ' + esc(units.label) + '</th><th class="num">Total, ' +
        esc(units.total) + '</th></tr>');
      $('#h-table tbody').html(top.map(function (k, i) {
        return '<tr><td class="key"><span class="swatch" style="background:' + PALETTE[i % PALETTE.length] + '"></span>' +
          esc(k.key === '' ? '(total)' : k.key) + '</td><td class="num">' + valueStr(k.value * units.scale) + '</td><td class="num">' +
          valueStr(k.total) + '</td></tr>';
      }).join('') || '<tr><td colspan="3" class="text-muted">no traffic stored in this range</td></tr>');
      historyStatus(top.length + ' keys, updated ' + new Date().toLocaleTimeString());
    }).fail(function (x) {
      var reason = x && x.responseJSON && x.responseJSON.error;
      historyStatus('history query failed: ' + (reason || (x && x.status)), true);
    }).always(function () { historyBusy = false; });
  }
  function localInput(ms) {
    var d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
    return d.toISOString().substring(0, 16);
  }
  $('#h-range').on('change', function () {
    var custom = $(this).val() === 'custom';
    $('#history').toggleClass('custom', custom);
    if (custom && !$('#h-from').val()) { $('#h-from').val(localInput(Date.now() - 3600000)); $('#h-to').val(localInput(Date.now())); }
    if (!custom) { historyPoller.stop(); historyPoller.start(); }
  });
  $('#h-flow,#h-max').on('change', function () { historyPoller.stop(); historyPoller.start(); });
  $('#history-form').on('submit', function () { historyPoller.stop(); historyPoller.start(); return false; });
  var historyPoller = new Poller(pollHistory, 30000);

  // -- api ----------------------------------------------------------------------------------
  // The explorer's deep link to an operation: #/<first tag>/<operation id>, the id being the
  // one Swagger UI uses (operationId, or the method and path with non-word characters as _).
  function explorerLink(path, method, op) {
    var id = op.operationId ? op.operationId.replace(/\W/g, '_') : method + path.replace(/\W/g, '_');
    var tag = (op.tags && op.tags[0]) || 'default';
    return '../api/index.html#/' + encodeURIComponent(tag) + '/' + encodeURIComponent(id);
  }
  function loadApi() {
    return getJSON('api-docs').done(function (doc) {
      alive();
      var paths = Object.keys(doc.paths || {}).sort();
      $('#api-links').html(paths.map(function (p) {
        var ops = doc.paths[p], methods = Object.keys(ops).filter(function (m) { return /^(get|put|post|delete)$/.test(m); });
        var summary = methods.map(function (m) { return ops[m].summary; }).filter(Boolean)[0] || '';
        var href = methods.length ? explorerLink(p, methods[0], ops[methods[0]]) : '../api/index.html';
        return '<a class="list-group-item list-group-item-action" href="' + esc(href) + '">' +
          '<span class="badge badge-light mr-2">' + methods.map(function (m) { return m.toUpperCase(); }).join(' ') + '</span>' +
          esc(p) + ' <small class="text-muted ml-2">' + esc(summary) + '</small></a>';
      }).join(''));
    });
  }

  // The heartbeat does not depend on what the shown page polls (the API page loads once, the
  // flows page polls every 5 s): /version every 2 s on every page.
  function pollVersion() {
    return $.ajax({ url: REST + 'version', dataType: 'text', timeout: 15000 }).done(alive);
  }
  new Poller(pollVersion, 2000).start();

  // -- navigation ---------------------------------------------------------------------------
  var pollers = {
    status: [new Poller(pollStatus, 1000), new Poller(pollLost, 2000)],
    agents: [new Poller(pollAgents, 2000)],
    metrics: [new Poller(pollMetric, 1000)],
    flows: [new Poller(pollDefined, 5000)],
    history: [historyPoller],
    apps: [new Poller(pollApps, 3000)],
    log: [logPoller],
    api: [new Poller(function () { return loadApi(); }, 3600000)],
    about: [new Poller(pollStatus, 10000)]
  };

  function show(page) {
    if (page === 'license') page = 'about'; // sFlow-RT's status UI has #license
    if (!pollers[page]) page = 'status';
    $('.page').removeClass('active');
    $('#' + page).addClass('active');
    $('#navlinks .nav-link').removeClass('active').filter('[href="#' + page + '"]').addClass('active');
    for (var name in pollers) {
      if (name !== page) pollers[name].forEach(function (p) { p.stop(); });
    }
    pollers[page].forEach(function (p) { p.start(); });
    if (page === 'flows' && flowDefined) flowPoller.start();
    if (page !== 'flows') flowPoller.stop();
    document.title = 'flowrt – ' + page.charAt(0).toUpperCase() + page.slice(1);
    $('#navlinks').collapse('hide');
    setTimeout(function () { $.event.trigger({ type: 'updateChart' }); }, 0);
  }
  $(window).on('hashchange', function () { show(location.hash.substring(1)); });
  $(window).on('resize', function () { $.event.trigger({ type: 'updateChart' }); });

  try {
    var saved = JSON.parse(sessionStorage.getItem('flowrt_flow') || 'null');
    if (saved) { $('#f-keys').val(saved.keys); $('#f-value').val(saved.value); $('#f-filter').val(saved.filter); }
  } catch (e) { /* ignore */ }
  show(location.hash.substring(1) || 'status');
  if (location.hash.substring(1) === 'flows' && $('#f-keys').val()) startFlow();
});
