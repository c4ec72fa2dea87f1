// Test app for tests/test_js_runtime.py: every global and handler, driven over HTTP.
// GET /app/suite/scripts/globals.js/check/<name>/json runs checks[name]() and returns its value.
include(scriptdir() + '/inc/lib.js');

var ticks = [], flows = [], events = [], async = {};

setIntervalHandler(function (now) {
  ticks.push(now);
  if (ticks.length > 20) ticks.shift();
}, '1');   // numeric string on purpose

setFlowHandler(function (rec) { flows.push(rec); if (flows.length > 100) flows.shift(); }, ['suite_log']);
setEventHandler(function (evt) { events.push(evt); if (events.length > 100) events.shift(); }, 'suite_th');

var checks = {
  server: function () {
    return { version: version(), prop: getSystemProperty('suite.prop'),
             missing: getSystemProperty('suite.missing'),
             names: getSystemPropertyNames().indexOf('suite.prop') >= 0,
             agents: Object.keys(agents()), agentsOne: Object.keys(agents([Object.keys(agents())[0]])),
             datagrams: analyzer().sFlowDatagramsReceived, dir: scriptdir(), lib: libValue(4) };
  },
  metric: function () {
    var v = metric('ALL', 'max:ifinoctets,sum:ifinoctets');
    var w = metric('ALL', ['sum:ifinoctets'], { ifspeed: ['10000000000'] });
    return { n: v[0].metricN, max: v[0].metricValue, sum: v[1].metricValue,
             arraySum: w[0].metricValue, arrayName: w[0].metricName, raw: v };
  },
  table: function () { return table('ALL', 'ifindex,ifinoctets'); },
  dump: function () { return dump('ALL', 'ifinoctets'); },
  metrics: function () { return metrics(); },
  dsinfo: function () { var a = Object.keys(agents())[0]; return datasourceInfo(a, '1'); },
  defineFlows: function () {
    setFlow('suite_pair', { keys: ['ipsource', 'ipdestination'], value: 'bytes', n: '20', t: '2' });
    setFlow('suite_log', { keys: 'ipsource,ipdestination', value: 'frames', log: true, flowStart: true });
    setThreshold('suite_th', { metric: 'suite_pair', value: '1', byFlow: true, timeout: '2' });
    var bad = null;
    try { setFlow('suite_bad', { keys: 'nosuchkey:::', value: 'bytes' }); } catch (e) { bad = String(e); }
    return { bad: bad };
  },
  flows: function () {
    var top = activeFlows('ALL', 'suite_pair', '5', '0', 'max');
    var first = top[0];
    var fv = first ? flowValue(first.agent, first.dataSource + '.suite_pair', first.key) : null;
    var trig = first ? thresholdTriggered('suite_th', first.agent, first.dataSource + '.suite_pair', first.key) : null;
    return { top: top, flowValue: fv, triggered: trig, keys: flowKeys(), unknown: activeFlows('ALL', 'no_such_flow') };
  },
  handlers: function () { return { ticks: ticks, flows: flows.length, firstFlow: flows[0] || null,
                                   events: events.length, firstEvent: events[0] || null }; },
  groups: function () {
    return { ok: setGroups('suite_g', { inside: ['10.0.0.0/8'], v6: ['2001:db8::/32'] }),
             bad: setGroups('suite_g2', { x: ['not-an-address'] }),
             map: setMap('suite_m', { web: ['80', '443'] }) };
  },
  clear: function () {
    return [clearThreshold('suite_th'), clearFlow('suite_pair'), clearFlow('suite_log'), clearFlow('suite_pair')];
  },
  store: function () {
    storeSet('plain', { a: [1, 2, 3], s: 'ü😀' });
    storeSet('odd/../key', 42);
    storeSet('gone', 1); storeDelete('gone');
    return { plain: storeGet('plain'), odd: storeGet('odd/../key'), gone: storeGet('gone'),
             missing: storeGet('never'), keys: storeKeys() };
  },
  bigShared: function () {
    var big = { s: 'ü😀x\ud800'.repeat(300000), a: [] };
    for (var i = 0; i < 20000; i++) big.a.push({ i: i, t: 'ключ' + i });
    sharedSet('big', big);
    var back = sharedGet('big');
    return [back.s === big.s, back.s.length, back.a.length, back.a[19999].t, JSON.stringify(back) === JSON.stringify(big)];
  },
  sharedTicks: function () { return sharedGet('clears_ticks'); },
  sharedMore: function () {
    sharedSet('tmp_a', 1); sharedSet('tmp_b', [2]);
    var keys = sharedKeys().filter(function (k) { return k.indexOf('tmp_') === 0; });
    sharedDelete('tmp_a'); sharedSet('tmp_b', null);
    return { keys: keys, a: sharedGet('tmp_a'), b: sharedGet('tmp_b') };
  },
  storeRead: function () { return storeGet('plain'); },
  shared: function () { sharedSet('from_suite', { n: 1 }); var o = sharedGet('from_suite'); o.n = 99;
                        return { copy: sharedGet('from_suite'), peer: sharedGet('from_peer') || null }; },
  utils: function () {
    baselineCreate('b', 5, 2, 1);
    var seq = [10, 11, 10, 11, 10, 10, 50].map(function (v) { return baselineCheck('b', v); });
    return { number: formatNumber(1234567.891, '#,##0 seconds'), pct: formatNumber('12.5', "0'%' difference"),
             date: formatDate(0, "yyyy-MM-dd'T'HH:mm:ss"), md5: md5('hello'),
             dateObj: formatDate(new Date(Date.UTC(2020, 5, 15, 12)), 'yyyy-MM'),
             dns: dnsGetAllByName('localhost'), baseline: seq, stats: baselineStatistics('b') };
  },
  graphite: function (req) { graphite('127.0.0.1', req.query.port[0], { 'a.b': 1.5, c: 2 }); return true; },
  agentMetrics: function () { var a = Object.keys(agents())[0]; return metrics(a); },
  syslog: function (req) { syslog('127.0.0.1', req.query.port[0], null, null, { msg: 'hi' }); return true; },
  http: function (req) {
    var v = http('/version');
    var r2 = http2({ url: req.query.url[0] + '/echo', method: 'POST', headers: { 'X-T': 'y' }, body: 'b😀' });
    var r404 = http2({ url: req.query.url[0] + '/missing' });
    var err = null;
    try { http(req.query.url[0] + '/missing'); } catch (e) { err = String(e); }
    var unreach = null;
    try { http('http://127.0.0.1:1/x'); } catch (e) { unreach = String(e); }
    httpAsync({ url: req.query.url[0] + '/echo', operation: 'PUT', body: 'async',
                success: function (res) { async.ok = res; }, error: function (e) { async.okErr = String(e); } });
    var r = { url: req.query.url[0] + '/missing' };
    r.error = function (e) { async.err = e; };
    httpAsync(r);
    return { version: v, status: r2.status, body: r2.body, s404: r404.status, err: err, unreach: unreach };
  },
  async: function () { return async; },
  missingGlobal: function () {
    var call;
    try { testOnlyAbsent(1); call = 'defined'; } catch (e) { call = e.name + ': ' + e.message; }
    return { type: typeof testOnlyAbsent, call: call, extra: testExtra('21') };
  },
  hostError: function () {
    try { metric('ALL', 'bad::name::'); return 'no error'; } catch (e) { return [e instanceof Error, e.message]; }
  },
  log: function () { logInfo('suite info'); logWarning({ toString: function () { return 'suite warn'; } });
                     logSevere('suite severe'); logFine('suite fine'); return true; },
  includeEscape: function () { try { include('/etc/passwd'); return 'read'; } catch (e) { return String(e); } },
  keepCallback: function () {
    testKeep({ onEvent: function (a, b) { async.cb = [a, b, typeof version]; } });
    return true;
  },
  rhino: function () { var t = 0; for each (var v in { a: 1, b: 2 }) t += v;
                       return [t, [3, 1, 2].sort(function (a, b) a - b)]; }
};

setHttpHandler(function (req) {
  if (req.path[0] === 'echo') return req;
  if (req.path[0] === 'text') return 'plain text';
  if (req.path[0] === 'nothing') return undefined;
  if (req.path[0] === 'cyclic') { var o = {}; o.self = o; return o; }
  if (req.path[0] === 'throw') throw req.query.what[0];
  if (req.path[0] === 'error') throw new TypeError('typed');
  if (req.path[0] === 'slow') { var t = Date.now(); while (Date.now() - t < 300) {} return t + '-' + Date.now(); }
  if (req.path[0] === 'check') {
    var fn = checks[req.path[1]];
    if (!fn) throw 'not_found';
    return { result: fn(req) };
  }
  throw 'not_found';
});
