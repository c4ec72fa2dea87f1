/*! flowrt stripchart widget | Apache-2.0 | part of flowrt, written for it.
 * $(el).stripchart(options); $(el).stripchart('draw', {times, values, colors, units, legend,
 * hrule, selectedIdx, ymargin}). Needs jQuery and the jQuery UI widget factory
 * (/inc/jquery.widget.js or jquery-ui). A canvas time-series chart: lines, stacked areas,
 * mirrored (odd series drawn below the axis) and step drawing.
 */
(function ($) {
  'use strict';

  var PREFIXES = ['\u00b5', 'm', '', 'K', 'M', 'G', 'T', 'P', 'E'];
  var UNIT_INDEX = 2; // PREFIXES[2] is "no prefix"

  // 1234567 -> "1.235M"; includeMillis allows m and micro prefixes; base2 uses 1024 steps.
  function valueStr(value, includeMillis, base2) {
    if (value === 0) return value;
    if (typeof value !== 'number' || !isFinite(value)) return String(value);
    var step = base2 ? 1024 : 1000;
    var idx = UNIT_INDEX;
    var scaled = Math.abs(value);
    if (includeMillis) {
      while (idx > 0 && scaled < 1) { scaled *= step; idx--; }
    }
    while (idx < PREFIXES.length - 1 && scaled >= step) { scaled /= step; idx++; }
    var text = String(Math.round(scaled * 1000) / 1000);
    return (value < 0 ? '-' : '') + text + PREFIXES[idx];
  }

  function niceStep(range, base2) {
    // aim for 4-8 gridlines; steps of 1, 2, 5 x a power of the base
    var raw = range / 6;
    if (raw <= 0 || !isFinite(raw)) return 1;
    var base = base2 && raw >= 1 ? 2 : 10;
    var mag = Math.pow(base, Math.floor(Math.log(raw) / Math.log(base)));
    var mults = base === 2 ? [1, 2, 4] : [1, 2, 5];
    for (var i = 0; i < mults.length; i++) {
      if (mag * mults[i] >= raw) return mag * mults[i];
    }
    return mag * base;
  }

  function clock(ms, seconds) {
    var d = new Date(ms);
    function two(n) { return n < 10 ? '0' + n : '' + n; }
    return two(d.getHours()) + ':' + two(d.getMinutes()) + (seconds ? ':' + two(d.getSeconds()) : '');
  }

  var probe; // one 1x1 canvas turns any CSS colour into rgb values
  function shade(color, factor) {
    if (!probe) probe = document.createElement('canvas').getContext('2d');
    probe.fillStyle = '#000';
    probe.fillStyle = color;
    var hex = probe.fillStyle;
    if (hex.charAt(0) !== '#') return color;
    var out = '#';
    for (var i = 1; i < 7; i += 2) {
      var c = Math.round(Math.min(255, Math.max(0, parseInt(hex.substr(i, 2), 16) * factor)));
      out += (c < 16 ? '0' : '') + c.toString(16);
    }
    return out;
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }

  $.widget('inmon.stripchart', {
    options: {
      topInset: 5,
      rightInset: 22,
      bottomInset: 20,
      leftInset: 50,
      clickable: false,
      includeMillis: false,
      base2: false,
      step: false,
      stack: false,
      mirror: false,
      legendBelow: false, // true: the legend follows the plot instead of covering its top-left
      colors: [
        '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2',
        '#17becf', '#bcbd22', '#7f7f7f', '#393b79', '#ad494a', '#637939', '#8c6d31',
        '#7b4173', '#3182bd', '#e6550d', '#31a354', '#756bb1', '#636363'
      ]
    },

    valueStr: valueStr,

    _create: function () {
      var self = this;
      this.element.addClass('stripchart');
      this._canvas = $('<canvas></canvas>').appendTo(this.element);
      if (this.options.legendBelow) {
        // the plot keeps the element's height; the element grows to hold the legend under it
        var h = this.element.height() || 240;
        this.element.addClass('stripchart-legend-below').css('height', 'auto');
        this._canvas.css('height', h + 'px');
      }
      if (this.options.clickable) {
        this._canvas.addClass('clickable').on('click.stripchart', function (e) {
          var o = self.options, c = $(this), off = c.offset();
          var x = (e.pageX - off.left - o.leftInset) / (c.width() - o.leftInset - o.rightInset);
          var y = 1 - (e.pageY - off.top - o.topInset) / (c.height() - o.topInset - o.bottomInset);
          c.trigger('stripchartclick', { x: x, y: y });
        });
      }
    },

    _destroy: function () {
      this._canvas.off('.stripchart');
      if (this.element.hasClass('stripchart-legend-below')) this.element.css('height', '');
      this.element.removeClass('stripchart stripchart-legend-below').empty();
      this._canvas = this._legend = null;
    },

    _extent: function (values, stack, mirror) {
      var up = 0, down = 0, n = 0, s, i;
      for (s = 0; s < values.length; s++) n = Math.max(n, values[s] ? values[s].length : 0);
      for (i = 0; i < n; i++) {
        var sumUp = 0, sumDown = 0;
        for (s = 0; s < values.length; s++) {
          var v = values[s] ? +values[s][i] || 0 : 0;
          if (mirror && s % 2) {
            if (stack) sumDown += v; else down = Math.max(down, v);
          } else {
            if (stack) sumUp += v; else up = Math.max(up, v);
          }
        }
        up = Math.max(up, sumUp);
        down = Math.max(down, sumDown);
      }
      return { up: up, down: down };
    },

    draw: function (cdata) {
      if (!this._canvas || !cdata || !cdata.times || !cdata.values) return;
      var o = this.options, canvas = this._canvas[0];
      var ctx = canvas.getContext && canvas.getContext('2d');
      if (!ctx) return;
      var w = this._canvas.width(), h = this._canvas.height();
      var ratio = window.devicePixelRatio || 1;
      canvas.width = Math.max(1, Math.round(w * ratio));
      canvas.height = Math.max(1, Math.round(h * ratio));
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.font = '10px sans-serif';

      var colors = cdata.colors || o.colors;
      var values = cdata.values, times = cdata.times;
      var ext = this._extent(values, o.stack, o.mirror);
      (cdata.hrule || []).forEach(function (r) {
        if (r.scale) {
          ext.up = Math.max(ext.up, +r.value || 0);
          if (o.mirror) ext.down = Math.max(ext.down, +r.value || 0);
        }
      });
      if (!ext.up && !ext.down) ext.up = 1;
      var margin = 1 + (cdata.ymargin || 0.2);
      ext.up *= margin;
      ext.down *= margin;

      var left = o.leftInset, right = w - o.rightInset, top = o.topInset, bottom = h - o.bottomInset;
      if (right <= left || bottom <= top || times.length === 0) return;
      var yscale = (bottom - top) / (ext.up + ext.down);
      var zero = top + ext.up * yscale;
      var tmin = times[0], tmax = times[times.length - 1];
      if (o.step && times.length > 1) tmax += (tmax - tmin) / (times.length - 1);
      if (tmax <= tmin) tmax = tmin + 1;
      var xscale = (right - left) / (tmax - tmin);
      function xpos(t) { return left + (t - tmin) * xscale; }

      // value axis and horizontal grid
      ctx.lineWidth = 1;
      ctx.textAlign = 'right';
      ctx.textBaseline = 'middle';
      var tick = niceStep(ext.up + ext.down, o.base2), widest = 0, v, y, label;
      for (v = 0; v * yscale <= ext.up * yscale + 0.5; v += tick) {
        y = Math.round(zero - v * yscale) + 0.5;
        this._hline(ctx, left, right, y, v === 0 ? '#999' : '#e3e3e3');
        label = String(valueStr(v, o.includeMillis, o.base2));
        widest = Math.max(widest, ctx.measureText(label).width);
        ctx.fillStyle = '#444';
        ctx.fillText(label, left - 4, y);
      }
      for (v = tick; v * yscale <= ext.down * yscale + 0.5; v += tick) {
        y = Math.round(zero + v * yscale) + 0.5;
        this._hline(ctx, left, right, y, '#e3e3e3');
        label = String(valueStr(v, o.includeMillis, o.base2));
        widest = Math.max(widest, ctx.measureText(label).width);
        ctx.fillStyle = '#444';
        ctx.fillText(label, left - 4, y);
      }
      if (cdata.units) {
        ctx.save();
        ctx.font = '11px sans-serif';
        ctx.fillStyle = '#555';
        ctx.textAlign = 'center';
        ctx.textBaseline = 'bottom';
        ctx.translate(Math.max(11, left - widest - 8), (top + bottom) / 2);
        ctx.rotate(-Math.PI / 2);
        ctx.fillText(cdata.units, 0, 0);
        ctx.restore();
      }

      // time axis: pick a tick spacing that gives 3-10 labels
      var spans = [1e3, 2e3, 5e3, 1e4, 15e3, 3e4, 6e4, 12e4, 3e5, 6e5, 9e5, 18e5, 36e5, 72e5, 108e5,
        216e5, 432e5, 864e5];
      var span = spans[spans.length - 1];
      for (var k = 0; k < spans.length; k++) {
        if ((tmax - tmin) / spans[k] <= 8) { span = spans[k]; break; }
      }
      var showSeconds = span < 6e4;
      var offset = new Date(tmin).getTimezoneOffset() * 6e4;
      var t = Math.ceil((tmin - offset) / span) * span + offset;
      ctx.textAlign = 'center';
      ctx.textBaseline = 'top';
      for (; t <= tmax; t += span) {
        var x = Math.round(xpos(t)) + 0.5;
        this._vline(ctx, x, top, bottom, '#eeeeee');
        this._vline(ctx, x, bottom, bottom + 4, '#666');
        ctx.fillStyle = '#444';
        ctx.fillText(clock(t, showSeconds), x, bottom + 5);
      }
      this._hline(ctx, left, right, bottom + 0.5, '#666');
      this._vline(ctx, left + 0.5, top, bottom, '#666');

      // series, clipped to the plot area
      ctx.save();
      ctx.beginPath();
      ctx.rect(left, top, right - left, bottom - top);
      ctx.clip();
      var base = [], s, i;
      for (s = 0; s < values.length; s++) {
        var series = values[s] || [];
        var down = o.mirror && s % 2 === 1;
        var color = o.mirror ? colors[Math.floor(s / 2) % colors.length] : colors[s % colors.length];
        if (down) color = shade(color, 0.75);
        var pts = [], lower = [];
        var prev = base[down ? 1 : 0] || [];
        for (i = 0; i < series.length && i < times.length; i++) {
          var val = +series[i] || 0;
          var under = o.stack ? (prev[i] || 0) : 0;
          pts.push(val + under);
          lower.push(under);
        }
        if (o.stack) base[down ? 1 : 0] = pts;
        this._series(ctx, times, pts, lower, xpos, tmax, zero, down ? yscale : -yscale, color, o.stack, o.step);
      }
      (cdata.hrule || []).forEach(function (r) {
        var hv = +r.value;
        if (!isFinite(hv)) return;
        ctx.setLineDash([6, 4]);
        this._hline(ctx, left, right, Math.round(zero - hv * yscale) + 0.5, r.color || '#d62728');
        if (o.mirror) this._hline(ctx, left, right, Math.round(zero + hv * yscale) + 0.5, r.color || '#d62728');
        ctx.setLineDash([]);
      }, this);
      if (typeof cdata.selectedIdx === 'number' && cdata.selectedIdx < times.length - 1 && times[cdata.selectedIdx]) {
        var sx = Math.round(xpos(times[cdata.selectedIdx])) + 0.5;
        ctx.setLineDash([3, 3]);
        this._vline(ctx, sx, top, bottom, '#333');
        ctx.setLineDash([]);
      }
      ctx.restore();
      if (typeof cdata.selectedIdx === 'number' && times[cdata.selectedIdx]) {
        this._timeMarker(ctx, xpos(times[cdata.selectedIdx]), bottom, clock(times[cdata.selectedIdx], true));
      }

      this._drawLegend(cdata.legend, colors, values.length);
      this.element.attr('data-series', values.length).attr('data-points', times.length);
    },

    _series: function (ctx, times, pts, lower, xpos, tmax, zero, dir, color, fill, step) {
      var n = pts.length, i;
      if (!n) return;
      function trace(arr, forward) {
        var start = forward ? 0 : n - 1, end = forward ? n : -1, inc = forward ? 1 : -1;
        for (i = start; i !== end; i += inc) {
          var x0 = xpos(times[i]), y = zero + arr[i] * dir;
          var x1 = step ? xpos(i + 1 < times.length ? times[i + 1] : tmax) : x0;
          if (forward) {
            if (i === 0 && !fill) ctx.moveTo(x0, y); else ctx.lineTo(x0, y);
            if (step) ctx.lineTo(x1, y);
          } else {
            if (step) ctx.lineTo(x1, y);
            ctx.lineTo(x0, y);
          }
        }
      }
      ctx.beginPath();
      if (fill) {
        ctx.moveTo(xpos(times[0]), zero + lower[0] * dir);
        trace(pts, true);
        trace(lower, false);
        ctx.closePath();
        ctx.fillStyle = color;
        ctx.fill();
      } else {
        trace(pts, true);
        ctx.strokeStyle = color;
        ctx.lineWidth = 2;
        ctx.lineJoin = 'round';
        ctx.stroke();
        ctx.lineWidth = 1;
      }
    },

    _timeMarker: function (ctx, x, bottom, label) {
      ctx.font = '10px sans-serif';
      var wid = ctx.measureText(label).width + 6;
      ctx.fillStyle = '#fff';
      ctx.strokeStyle = '#333';
      ctx.fillRect(x - wid / 2, bottom + 3, wid, 14);
      ctx.strokeRect(x - wid / 2 + 0.5, bottom + 3.5, wid - 1, 13);
      ctx.fillStyle = '#000';
      ctx.textAlign = 'center';
      ctx.textBaseline = 'top';
      ctx.fillText(label, x, bottom + 5);
    },

    _hline: function (ctx, x0, x1, y, color) {
      ctx.beginPath();
      ctx.moveTo(x0, y);
      ctx.lineTo(x1, y);
      ctx.strokeStyle = color;
      ctx.stroke();
    },

    _vline: function (ctx, x, y0, y1, color) {
      ctx.beginPath();
      ctx.moveTo(x, y0);
      ctx.lineTo(x, y1);
      ctx.strokeStyle = color;
      ctx.stroke();
    },

    _drawLegend: function (legend, colors, nseries) {
      if (this._legend) { this._legend.remove(); this._legend = null; }
      if (!legend || !legend.labels) return;
      var o = this.options, links = legend.links, html = '<table class="stripchart-legend">', r, c;
      function cell(col, text) {
        var safe = escapeHtml(text), tmpl = links instanceof Array ? links[col] : links;
        if (!tmpl) return '<td>' + safe + '</td>';
        var href = tmpl.replace(/\{[^}]*\}/g, function () { return encodeURIComponent(text); });
        return '<td><a href="' + escapeHtml(href) + '">' + safe + '</a></td>';
      }
      if (legend.headings) {
        html += '<thead><tr><th></th>';
        for (c = 0; c < legend.headings.length; c++) html += '<th>' + escapeHtml(legend.headings[c]) + '</th>';
        html += '</tr></thead>';
      }
      html += '<tbody>';
      for (r = 0; r < legend.labels.length; r++) {
        var color;
        if (o.mirror && legend.labels.length === nseries) {
          color = colors[Math.floor(r / 2) % colors.length];
          if (r % 2) color = shade(color, 0.75);
        } else color = colors[r % colors.length];
        html += '<tr><td><div class="swatch" style="background:' + escapeHtml(color) + '"></div></td>';
        var label = legend.labels[r];
        if (label instanceof Array) {
          for (c = 0; c < label.length; c++) html += cell(c, label[c]);
        } else html += cell(r, label);
        html += '</tr>';
      }
      html += '</tbody></table>';
      if (o.legendBelow) {
        this._legend = $(html).css({ marginLeft: o.leftInset + 4 }).appendTo(this.element);
        return;
      }
      var pos = this._canvas.position();
      this._legend = $(html).css({ position: 'absolute', top: pos.top + o.topInset, left: pos.left + o.leftInset + 4 })
        .appendTo(this.element);
    }
  });

  $.inmon.stripchart.valueStr = valueStr;
  // Apps call it unbound (`var nf = $.inmon.stripchart.prototype.valueStr; nf(v)`, e.g.
  // browse-metrics); the widget factory's strict-mode _super wrapper would need `this`.
  $.inmon.stripchart.prototype.valueStr = valueStr;
})(jQuery);
