/*! flowrt particle flow widget | Apache-2.0 | part of flowrt, written for it.
 * $(el).flow(options); $(el).flow('data', flows) with flows = [{startSide, startVal, endSide,
 * endVal, type, frequency, info:[{name, value}]}]: sides are 'N','S','E','W' (top, bottom,
 * right, left edges), vals in [0,1] place a point along that edge. Each flow emits particles
 * that travel from its start point to its end point; busier flows (larger frequency) emit
 * more often, particle colour follows the flow type. Clicking a particle shows its flow's
 * info and triggers 'flowclick' with the flow.
 * Options: velocity (pixels per frame, 2), radius (particle radius, 2.5), maxProbability
 * (emission chance per frame of the busiest flow, 0.25), seed (colour choice), axisN/S/E/W
 * (edge labels), colors, background, trail (0..1, how long particles leave a trace).
 */
(function ($) {
  'use strict';

  function hashName(str, seed) {
    var h = (seed >>> 0) ^ 0x811c9dc5;
    str = String(str);
    for (var i = 0; i < str.length; i++) {
      h = Math.imul(h ^ str.charCodeAt(i), 0x01000193);
      h ^= h >>> 15;
    }
    return h >>> 0;
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }

  $.widget('inmon.flow', {
    options: {
      velocity: 2,
      radius: 2.5,
      maxProbability: 0.25,
      seed: 1234,
      axisN: '',
      axisS: '',
      axisE: '',
      axisW: '',
      background: '#10131a',
      labelColor: '#9aa4b5',
      trail: 0,
      colors: ['#4e9cff', '#ff8c42', '#4cd07d', '#ff5a5f', '#b78cff', '#ffd23f', '#3fd4e0', '#ff7ac6']
    },

    _create: function () {
      var self = this;
      this.element.addClass('flow');
      this._canvas = $('<canvas></canvas>').appendTo(this.element);
      this._info = $('<div class="flow-info"></div>').hide().appendTo(this.element);
      this._flows = [];
      this._particles = [];
      this._frames = 0;
      this._maxFreq = 1;
      this._canvas.on('click.flow', function (e) { self._click(e); });
      this._info.on('click.flow', function () { self._info.hide(); });
      this._tick = function () {
        if (!self._canvas) return;
        self._step();
        self._raf = window.requestAnimationFrame(self._tick);
      };
      this._raf = window.requestAnimationFrame(this._tick);
    },

    _destroy: function () {
      if (this._raf) window.cancelAnimationFrame(this._raf);
      this._canvas.off('.flow');
      this.element.removeClass('flow').empty();
      this._canvas = null;
    },

    data: function (flows) {
      this._flows = (flows || []).filter(function (f) {
        return f && /^[NSEW]$/.test(f.startSide) && /^[NSEW]$/.test(f.endSide);
      });
      var max = 0;
      this._flows.forEach(function (f) { max = Math.max(max, +f.frequency || 0); });
      this._maxFreq = max || 1;
      this.element.attr('data-flows', this._flows.length);
    },

    typeColor: function (type) {
      var c = this.options.colors;
      return c[hashName(type, this.options.seed) % c.length];
    },

    _point: function (side, val, w, h) {
      var v = Math.max(0, Math.min(1, +val || 0)), m = 14; // keep points off the label strips
      switch (side) {
        case 'N': return [m + v * (w - 2 * m), 0];
        case 'S': return [m + v * (w - 2 * m), h];
        case 'W': return [0, m + v * (h - 2 * m)];
        default: return [w, m + v * (h - 2 * m)];
      }
    },

    _resize: function () {
      var canvas = this._canvas[0], w = this._canvas.width(), h = this._canvas.height(), ratio = window.devicePixelRatio || 1;
      var cw = Math.max(1, Math.round(w * ratio)), ch = Math.max(1, Math.round(h * ratio));
      if (canvas.width !== cw || canvas.height !== ch) {
        canvas.width = cw;
        canvas.height = ch;
      }
      var ctx = canvas.getContext('2d');
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      return { ctx: ctx, w: w, h: h };
    },

    _step: function () {
      if (!this._canvas.is(':visible')) return;
      var o = this.options, view = this._resize(), ctx = view.ctx, w = view.w, h = view.h, self = this;
      this._frames++;
      // emit
      this._flows.forEach(function (f) {
        var p = o.maxProbability * Math.max(0, +f.frequency || 0) / self._maxFreq;
        if (Math.random() >= p) return;
        var a = self._point(f.startSide, f.startVal, w, h), b = self._point(f.endSide, f.endVal, w, h);
        var dx = b[0] - a[0], dy = b[1] - a[1], len = Math.sqrt(dx * dx + dy * dy);
        if (len < 1) return;
        var steps = Math.max(1, len / Math.max(0.1, +o.velocity || 2));
        self._particles.push({ x: a[0], y: a[1], dx: dx / steps, dy: dy / steps, left: steps, flow: f, color: self.typeColor(f.type) });
      });
      // fade the previous frame for short trails, then move and draw
      ctx.globalAlpha = 1 - Math.max(0, Math.min(0.95, +o.trail || 0));
      ctx.fillStyle = o.background;
      ctx.fillRect(0, 0, w, h);
      ctx.globalAlpha = 1;
      var r = +o.radius || 2.5, alive = [];
      this._particles.forEach(function (p) {
        p.x += p.dx;
        p.y += p.dy;
        p.left -= 1;
        if (p.left <= 0) return;
        ctx.beginPath();
        ctx.arc(p.x, p.y, r, 0, 2 * Math.PI);
        ctx.fillStyle = p.color;
        ctx.fill();
        alive.push(p);
      });
      this._particles = alive;
      this._labels(ctx, w, h);
      if (this._frames % 15 === 0) this.element.attr('data-particles', alive.length);
    },

    _labels: function (ctx, w, h) {
      var o = this.options;
      ctx.font = '12px sans-serif';
      ctx.fillStyle = o.labelColor;
      ctx.textAlign = 'center';
      ctx.textBaseline = 'top';
      if (o.axisN) ctx.fillText(o.axisN, w / 2, 3);
      ctx.textBaseline = 'bottom';
      if (o.axisS) ctx.fillText(o.axisS, w / 2, h - 3);
      ctx.save();
      ctx.textBaseline = 'top';
      if (o.axisW) { ctx.translate(3, h / 2); ctx.rotate(-Math.PI / 2); ctx.fillText(o.axisW, 0, 0); }
      ctx.restore();
      ctx.save();
      ctx.textBaseline = 'top';
      if (o.axisE) { ctx.translate(w - 3, h / 2); ctx.rotate(Math.PI / 2); ctx.fillText(o.axisE, 0, 0); }
      ctx.restore();
    },

    _click: function (e) {
      var off = this._canvas.offset(), x = e.pageX - off.left, y = e.pageY - off.top;
      var best = null, bestD = Math.max(8, 3 * (+this.options.radius || 2.5));
      this._particles.forEach(function (p) {
        var d = Math.sqrt((p.x - x) * (p.x - x) + (p.y - y) * (p.y - y));
        if (d < bestD) { bestD = d; best = p; }
      });
      if (!best) { this._info.hide(); return; }
      var flow = best.flow, html = '<table>';
      (flow.info || []).forEach(function (row) {
        html += '<tr><th>' + escapeHtml(row.name) + '</th><td>' + escapeHtml(row.value === undefined ? '' : row.value) + '</td></tr>';
      });
      html += '</table>';
      this._info.html(html).css({ left: Math.min(x + 10, this._canvas.width() - 260), top: y + 10 }).show();
      this.element.trigger('flowclick', [flow]);
    }
  });
})(jQuery);
