// The patterns of an OVS / Docker demo app (like pphaal/ovs-2015's status.js), written for
// flowrt's tests: flows keyed by the containers and hosts that host sFlow names, and the
// container table the app charts.
var SEP = '_SEP_';
setFlow('hosts_docker', {
  keys: 'host:macsource:vir_host_name,host:macdestination:vir_host_name,ipsource,ipdestination',
  value: 'bytes', fs: SEP, t: 2
});
// a container's MAC answers for its host's attributes too
setFlow('hosts_servers', {keys: 'host:macsource:host_name,host:macsource:os_name', value: 'bytes', t: 2});
// a host's own traffic, found by its address (the agent address of its Host sFlow agent)
setFlow('hosts_byip', {keys: 'host:ipsource:host_name,host:ipsource:machine_type', value: 'bytes', t: 2});
setFlow('hosts_unknown', {keys: 'null:[host:ipdestination:host_name]:outside', value: 'bytes', t: 2});

function top(name) {
  return activeFlows('ALL', name, 20, 0, 'sum').map(function(f) { return f.key; }).sort();
}

setHttpHandler(function(req) {
  switch (req.path[0]) {
    case 'flows':
      return {docker: top('hosts_docker'), servers: top('hosts_servers'), byip: top('hosts_byip'),
              unknown: top('hosts_unknown')};
    case 'containers':
      return table('ALL', 'vir_host_name,sort:vir_cpu_utilization:-4').map(function(row) {
        return [row[0].metricValue, row[1].metricValue];
      });
  }
  throw 'not_found';
});
