// second app: shares values with the suite and proves handlers of other scripts keep running
sharedSet('from_peer', {hello: 'suite'});
var n = 0;
setIntervalHandler(function () { n++; }, 1);
setHttpHandler(function (req) { return {n: n, fromSuite: sharedGet('from_suite')}; });
