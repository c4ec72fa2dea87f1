// Compatibility patterns of published apps, written for flowrt's tests: a REST query value
// (an array) used as an agent selector, alone or wrapped in another array.
var chosen = null;

setHttpHandler(function(req) {
  switch(req.path[0]) {
    case 'choose':
      chosen = req.query.agent;          // an array, e.g. ['192.0.2.1']
      return {chosen: chosen};
    case 'probe':
      var info = agents([chosen]);        // nested array
      var ds = dump(chosen, 'ifinoctets');
      var first = ds.length ? ds[0].dataSource : null;
      return {
        agents: Object.keys(info),
        metricAgents: metric([chosen], 'max:ifinoctets')[0].metricN,
        dumpCount: ds.length,
        dsInfo: first === null ? null : datasourceInfo(chosen, first)
      };
  }
  throw 'not_found';
});
