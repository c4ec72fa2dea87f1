// The usual app-page loop: poll the app script's trend, merge new points, redraw the charts.
$(function () {
  var db = {};
  window.trendStatus = { polls: 0, points: 0 };
  $('#total').chart({ type: 'trend', metrics: ['bps'], legend: ['Total'], stack: true, units: 'Bits per Second' }, db);
  $('#protocols').chart({ type: 'topn', metric: 'protocols', stack: true, sep: '_SEP_', legendHeadings: ['Stack'],
    units: 'Bits per Second' }, db);

  function merge(trend) {
    if (!trend || !trend.times || trend.times.length === 0) return;
    if (!db.trend) db.trend = trend;
    else {
      db.trend.times = db.trend.times.concat(trend.times);
      for (var name in trend.trends) db.trend.trends[name] = (db.trend.trends[name] || []).concat(trend.trends[name]);
      var extra = db.trend.times.length - db.trend.maxPoints;
      if (extra > 0) {
        db.trend.times = db.trend.times.slice(extra);
        for (var n in db.trend.trends) db.trend.trends[n] = db.trend.trends[n].slice(extra);
      }
    }
    window.trendStatus.points = db.trend.times.length;
    $.event.trigger({ type: 'updateChart' });
  }

  (function poll() {
    var after = db.trend ? db.trend.times[db.trend.times.length - 1] : null;
    $.ajax({ url: '../scripts/trend.js/trend/json', data: after ? { after: after } : null, dataType: 'json' })
      .done(function (data) { window.trendStatus.polls++; merge(data.trend); })
      .always(function () { setTimeout(poll, 1000); });
  })();
});
