/*! flowrt heatmap widget | Apache-2.0 | part of flowrt, written for it.
 * $(el).heatmap({radius, axisShow, axisColor, height}); $(el).heatmap('draw', points) with
 * points = [{x, y, z}], x and y in [0,1] (left-right, top-bottom) and z in [0,1] the
 * intensity. Each point adds a soft blob; the summed intensity is coloured blue (low) through
 * green and yellow to red (high). The diagonal (x == y) is drawn as a reference line.
 */
(function ($) {
  'use strict';

  var ramp = null; // 256 RGB entries, built once
  function colorRamp() {
    if (ramp) return ramp;
    var stops = [[0, [0, 0, 255]], [0.35, [0, 200, 255]], [0.55, [0, 220, 0]], [0.75, [255, 230, 0]], [1, [255, 0, 0]]];
    ramp = new Uint8ClampedArray(256 * 3);
    for (var i = 0; i < 256; i++) {
      var f = i / 255, s = 1;
      while (s < stops.length - 1 && stops[s][0] < f) s++;
      var lo = stops[s - 1], hi = stops[s], t = (f - lo[0]) / (hi[0] - lo[0] || 1);
      for (var c = 0; c < 3; c++) ramp[i * 3 + c] = lo[1][c] + (hi[1][c] - lo[1][c]) * t;
    }
    return ramp;
  }

  $.widget('inmon.heatmap', {
    options: {
      axisShow: true,
      axisColor: '#cccccc',
      background: '#000000',
      radius: 10,
      height: null
    },

    _create: function () {
      this.element.addClass('heatmap');
      if (this.options.height) this.element.css('height', this.options.height);
      this._canvas = $('<canvas></canvas>').appendTo(this.element);
      this._points = [];
    },

    _destroy: function () {
      this.element.removeClass('heatmap').empty();
      this._canvas = null;
    },

    draw: function (points) {
      if (!this._canvas) return;
      var canvas = this._canvas[0], ctx = canvas.getContext && canvas.getContext('2d', { willReadFrequently: true });
      if (!ctx) return;
      var o = this.options, ratio = window.devicePixelRatio || 1;
      var w = this._canvas.width(), h = this._canvas.height();
      canvas.width = Math.max(1, Math.round(w * ratio));
      canvas.height = Math.max(1, Math.round(h * ratio));
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      this._points = points = (points || []).filter(function (p) {
        return p && isFinite(p.x) && isFinite(p.y) && isFinite(p.z);
      });

      // pass 1: accumulate intensity in the alpha channel
      ctx.clearRect(0, 0, w, h);
      var r = Math.max(1, +o.radius || 10);
      points.forEach(function (p) {
        var x = p.x * w, y = p.y * h, z = Math.max(0, Math.min(1, p.z));
        var g = ctx.createRadialGradient(x, y, 0, x, y, r);
        g.addColorStop(0, 'rgba(0,0,0,' + (0.15 + 0.6 * z) + ')');
        g.addColorStop(1, 'rgba(0,0,0,0)');
        ctx.fillStyle = g;
        ctx.fillRect(x - r, y - r, 2 * r, 2 * r);
      });
      // pass 2: map alpha to the colour ramp over the background
      var img = ctx.getImageData(0, 0, canvas.width, canvas.height), px = img.data, colors = colorRamp();
      var bg = this._rgb(o.background);
      for (var i = 0; i < px.length; i += 4) {
        var a = px[i + 3];
        if (a === 0) { px[i] = bg[0]; px[i + 1] = bg[1]; px[i + 2] = bg[2]; px[i + 3] = 255; continue; }
        var k = a * 3, mix = Math.min(1, a / 40); // fade the faint rim into the background
        px[i] = bg[0] + (colors[k] - bg[0]) * mix;
        px[i + 1] = bg[1] + (colors[k + 1] - bg[1]) * mix;
        px[i + 2] = bg[2] + (colors[k + 2] - bg[2]) * mix;
        px[i + 3] = 255;
      }
      ctx.putImageData(img, 0, 0);
      if (o.axisShow) {
        ctx.strokeStyle = o.axisColor;
        ctx.setLineDash([4, 4]);
        ctx.beginPath();
        ctx.moveTo(0, 0);
        ctx.lineTo(w, h);
        ctx.stroke();
        ctx.setLineDash([]);
      }
      this.element.attr('data-points', points.length);
    },

    _rgb: function (color) {
      var c = document.createElement('canvas').getContext('2d');
      c.fillStyle = color;
      var hex = c.fillStyle;
      if (hex.charAt(0) !== '#') return [0, 0, 0];
      return [parseInt(hex.substr(1, 2), 16), parseInt(hex.substr(3, 2), 16), parseInt(hex.substr(5, 2), 16)];
    }
  });
})(jQuery);
