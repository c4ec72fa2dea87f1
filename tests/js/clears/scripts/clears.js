// clear*Handler: after GET .../clear/json no handler of this script runs again
var ticks = 0, flows = 0, events = 0;
setIntervalHandler(function () { ticks++; sharedSet('clears_ticks', ticks); }, 1);
setFlowHandler(function () { flows++; });
setEventHandler(function () { events++; });
setHttpHandler(function (req) {
  if (req.path[0] === 'clear') {
    clearIntervalHandler(); clearFlowHandler(); clearEventHandler(); clearHttpHandler();
    return { ticks: ticks };
  }
  return { ticks: ticks };
});
