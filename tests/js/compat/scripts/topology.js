// Topology-aware app patterns (trace-flow, mininet-dashboard, fabric-metrics, ai-metrics),
// written for flowrt's tests: port/link lookups for flow keys, TOPOLOGY selectors in
// activeFlows/table/dump, and setTopology()/getTopology() from a script.
setFlow('compat_topo_ports', {keys:'inputifindex,outputifindex', value:'frames', t:2});
setFlow('compat_topo_bytes', {value:'bytes', t:2});
// ixp-metrics style: which link a sample entered on, and an edge-only filter
function linkFlows() {
  clearFlow('compat_topo_links');
  clearFlow('compat_topo_edge');
  setFlow('compat_topo_links', {keys:'inputifindex,link:inputifindex', value:'frames', t:2});
  setFlow('compat_topo_edge', {keys:'inputifindex', value:'frames', t:2, filter:'direction=ingress&link:inputifindex=null'});
}

setHttpHandler(function(req) {
  switch(req.path[0]) {
    case 'set':
      return setTopology(req.body);
    case 'setchecked':                    // the topology app's pattern: a bad body -> false
      return {ok: setTopology(req.body) ? true : false, version: topologyVersion()};
    case 'linkmetric':
      var m = req.query.node ? topologyLinkMetric(req.query.link[0], 'ifadminstatus,ifinoctets', req.query.node[0])
                             : topologyLinkMetric(req.query.link[0], 'ifadminstatus,ifinoctets');
      return m.map(function(e) { return [e.metricName, e.agent || null, e.dataSource || null, e.metricValue === undefined ? null : e.metricValue]; });
    case 'get':
      return {topology: getTopology(), version: topologyVersion()};
    case 'lookup':
      var agent = req.query.agent[0], ifindex = req.query.ifindex[0];
      return {
        link: topologyInterfaceToLink(agent, ifindex),
        port: topologyInterfaceToPort(agent, ifindex),
        nodes: topologyNodesForAgent(agent, ifindex),
        nodeLinks: topologyNodeLinks(req.query.node[0]),
        agentForNode: topologyAgentForNode(req.query.node[0]),
        nodeNames: topologyNodeNames(),
        linkNames: topologyLinkNames(),
        diameter: topologyDiameter()
      };
    case 'locate':                        // topology app 'locate', ixp-metrics member locations
      return {
        byMac: topologyLocateHostMac(req.query.mac[0]),
        byIp: topologyLocateHostIP(req.query.ip[0]),
        unknown: topologyLocateHostIP('192.0.2.254'),
        macsAtPort: topologyLocatedHostMacs(req.query.agent[0], req.query.ifindex[0]),
        allMacs: topologyLocatedHostMacs().length
      };
    case 'linkflows':
      linkFlows();
      return true;
    case 'aggmodes':                      // mininet-dashboard / ixp-metrics: 'edge' de-duplicates
      var firstKeys = function(mode) {
        return activeFlows('TOPOLOGY', 'compat_topo_ports', 100, 0, mode).map(function(f) { return f.key.split(',')[0]; });
      };
      return {edge: firstKeys('edge'), core: firstKeys('core'), sum: firstKeys('sum')};
    case 'linkkeys':
      var keysOf = function(name) {
        return activeFlows('ALL', name, 100, 0, 'sum').map(function(f) { return f.key; }).sort();
      };
      return {links: keysOf('compat_topo_links'), edge: keysOf('compat_topo_edge')};
    case 'selectors':
      var top = activeFlows('TOPOLOGY', 'compat_topo_bytes', 1, 0, 'edge');
      var rows = table('TOPOLOGY', 'sort:ifinoctets:-3') || [];
      var ports = rows.map(function(r) {
        var p = topologyInterfaceToPort(r[0].agent, r[0].dataSource);
        return p ? p.node + '/' + p.port : null;
      });
      var dumped = dump('TOPOLOGY', 'compat_topo_ports');
      var agentsSeen = {};
      dumped.forEach(function(d) { agentsSeen[d.agent] = d.topKeys ? d.topKeys.length : -1; });
      return {
        edgeValue: top.length ? top[0].value : 0,
        tablePorts: ports,
        dumpAgents: agentsSeen,
        core: metric('CORE', 'sum:ifinoctets')[0].metricN,
        all: metric('ALL', 'sum:ifinoctets')[0].metricN
      };
  }
  throw 'not_found';
});
