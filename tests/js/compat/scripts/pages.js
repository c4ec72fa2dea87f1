// Server side of the compat test pages (tests/js/compat/html), written for flowrt's tests:
// patterns of published app scripts that their pages depend on.

// fabric-view's Links tab: topologyLinkMetric(link, five metrics) read by position, node1's
// port first (0-4), then node2's (5-9)
function linkRows() {
  var rows = [];
  var names = topologyLinkNames() || [];
  for (var i = 0; i < names.length; i++) {
    var rec = topologyLink(names[i]);
    var m = topologyLinkMetric(names[i], 'ifadminstatus,ifoperstatus,ifspeed,ifinoctets,compat_page_bytes');
    var row = {name: names[i], node1: rec.node1, node2: rec.node2, statusOK: false, speed: 0,
               countersOK: false};
    if (m && m.length >= 10) {
      row.statusOK = 'up' === m[0].metricValue && 'up' === m[1].metricValue &&
                     'up' === m[5].metricValue && 'up' === m[6].metricValue;
      row.speed = m[2].metricValue && m[2].metricValue === m[7].metricValue ? m[2].metricValue : 0;
      row.countersOK = m[3].hasOwnProperty('metricValue') && m[8].hasOwnProperty('metricValue');
    }
    rows.push(row);
  }
  return rows;
}
setFlow('compat_page_bytes', {value: 'bytes', t: 2});

// ddos-protect: the controller mode is a bare string, read and written as JSON
var mode = 'manual';

// ddos-protect: a threshold changed in the settings dialog is stored as the text typed
var threshold = '100000';

setHttpHandler(function(req) {
  switch (req.path[0]) {
    case 'links':
      return linkRows();
    case 'mode':
      if (req.method === 'POST') mode = req.body;
      return mode;
    case 'threshold':
      if (req.method === 'POST') threshold = req.body;
      return threshold;
    case 'trend':
      var now = Date.now(), times = [], points = [];
      for (var i = 0; i < 30; i++) {
        times.push(now - (29 - i) * 1000);
        points.push({'10.2.0.5,external,17': 20000 + 1000 * (i % 5)});
      }
      return {trend: {times: times, trends: {'top-5-udp-flood': points},
                      values: {threshold_udp_flood: threshold}}};
  }
  throw 'not_found';
});
