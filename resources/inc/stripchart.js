/*! flowrt trend charts | Apache-2.0 | part of flowrt, written for it.
 * $(el).chart(settings, db) binds a stripchart to a shared trend store db, redrawn on the
 * document-wide 'updateChart' event while visible. db.trend = {times:[ms...],
 * trends:{name:[number...] | [{key:value}...]}, values:{name:number}} (the layout sFlow-RT
 * app scripts' Trend objects serve).
 *   type 'trend': settings.metrics = [trend names], settings.legend = [labels]
 *   type 'topn' : settings.metric = trend name whose points are {key:value} objects; the keys
 *                 of the selected (default newest) point become series, the rest are summed
 *                 (stack) or maxed into one grey "other" series. Clicking selects a time.
 * Other settings: stack, mirror, step, includeMillis, units, ymargin, colors, sep, keyName, legendBelow,
 * includeOther, otherStr, otherColor, legendHeadings, legendLinks, hrule [{value|name, color, scale}]
 * (a rule's value, or db.trend.values[name], may be a number or a numeric string).
 */
(function ($) {
  'use strict';

  $.fn.chart = function (settings, db) {
    var opt = $.extend({
      type: 'trend',
      stack: false,
      mirror: false,
      step: false,
      includeMillis: false,
      sep: ',',
      includeOther: true,
      otherStr: '-other-',
      otherColor: '#a9a9a9',
      keyName: function (key) { return key; }
    }, settings);
    var $el = this;
    var topn = opt.type === 'topn';
    var selected = 0; // selected time (ms) in a topn chart, 0 = follow the newest point
    var token = {};   // a chart re-created on this element retires this one's redraw handler
    $el.data('inmon-chart-token', token);
    $el.stripchart({
      clickable: topn, includeMillis: opt.includeMillis, stack: opt.stack,
      mirror: opt.mirror, step: opt.step, base2: !!opt.base2, legendBelow: !!opt.legendBelow
    });

    if (topn) {
      $el.on('stripchartclick', function (e, pt) {
        if ($el.data('inmon-chart-token') !== token) return;
        var times = db.trend && db.trend.times;
        if (!times || times.length === 0) return;
        var t0 = times[0], t1 = times[times.length - 1];
        var t = t0 + (t1 - t0) * pt.x;
        selected = 0;
        if (t >= t0 && t < t1) {
          var best = Infinity;
          for (var i = 0; i < times.length; i++) {
            var d = Math.abs(times[i] - t);
            if (d < best) { best = d; selected = times[i]; }
          }
        }
        draw();
      });
    }

    function hrules() {
      if (!opt.hrule) return undefined;
      var out = [];
      opt.hrule.forEach(function (r) {
        var value = r.value;
        if (value === undefined && r.name && db.trend.values) value = db.trend.values[r.name];
        // apps keep thresholds edited in a form as the text typed ("100000")
        if (typeof value === 'string' && value.trim() !== '') value = +value;
        if (typeof value === 'number' && isFinite(value)) out.push({ value: value, color: r.color, scale: r.scale });
      });
      return out;
    }

    function trendData(base) {
      base.values = opt.metrics.map(function (name) {
        return db.trend.trends[name] || new Array(base.times.length).fill(0);
      });
      if (opt.colors) base.colors = opt.colors;
      if (opt.legend) base.legend = { labels: opt.legend };
      return base;
    }

    function topnData(base) {
      var times = base.times, points = db.trend.trends[opt.metric] || [];
      var idx = times.length - 1;
      if (selected) {
        for (idx = 0; idx < times.length - 1 && times[idx] < selected; idx++) { /* find it */ }
        if (times[idx] !== selected) { selected = 0; idx = times.length - 1; }
      }
      var newest = points[idx] || {};
      var keys = Object.keys(newest).filter(function (k) { return k !== opt.otherStr; });
      keys.sort(function (a, b) { return (newest[b] || 0) - (newest[a] || 0); });
      var index = {};
      keys.forEach(function (k, i) { index[k] = i; });
      var series = keys.map(function () { return new Array(times.length).fill(0); });
      var rest = new Array(times.length).fill(0);
      for (var i = 0; i < times.length; i++) {
        var point = points[i] || {};
        for (var key in point) {
          var v = +point[key] || 0;
          if (key in index) series[index[key]][i] = v;
          else if (opt.includeOther || key !== opt.otherStr) rest[i] = opt.stack ? rest[i] + v : Math.max(rest[i], v);
        }
      }
      series.push(rest);
      var palette = opt.colors || $.inmon.stripchart.prototype.options.colors;
      var colors = keys.map(function (k, i) { return palette[i % palette.length]; });
      colors.push(opt.otherColor);
      base.values = series;
      base.colors = colors;
      base.selectedIdx = selected ? idx : undefined;
      base.legend = {
        labels: keys.map(function (k) { return $.map(k.split(opt.sep), opt.keyName); }),
        headings: opt.legendHeadings,
        links: opt.legendLinks
      };
      return base;
    }

    function draw() {
      if (!db.trend || !db.trend.times || !db.trend.trends) return;
      var base = { times: db.trend.times };
      if (opt.units) base.units = opt.units;
      if (opt.ymargin) base.ymargin = opt.ymargin;
      var rules = hrules();
      if (rules) base.hrule = rules;
      $el.stripchart('draw', topn ? topnData(base) : trendData(base));
    }

    $(document).on('updateChart', function () {
      if ($el.data('inmon-chart-token') === token && $el.data('inmon-stripchart') && $el.is(':visible')) draw();
    });
    return this;
  };
})(jQuery);
