/*! flowrt sunburst widget | Apache-2.0 | part of flowrt, written for it.
 * $(el).sunburst(options); $(el).sunburst('draw', tree) where tree = {value, depth, label,
 * children:{name:{value, children:{...}}}}: each ring is one level of the hierarchy, each
 * segment's angle is its share of the root value. A click on a segment triggers 'click'
 * (and 'sunburstclick') on the element with {name, path:[names], value, depth}.
 * Colours are picked by hashing the segment name, so a name keeps its colour between draws.
 */
(function ($) {
  'use strict';

  function hashName(str, seed) {
    var h = (seed >>> 0) ^ 0x9e3779b9;
    for (var i = 0; i < str.length; i++) {
      h = Math.imul(h ^ str.charCodeAt(i), 0x01000193);
      h ^= h >>> 13;
    }
    return h >>> 0;
  }

  function depthOf(node) {
    var d = 0;
    if (node && node.children) {
      for (var k in node.children) d = Math.max(d, 1 + depthOf(node.children[k]));
    }
    return d;
  }

  $.widget('inmon.sunburst', {
    options: {
      centerRadius: 60,
      centerColor: '#ffffff',
      centerOutlineColor: '#444444',
      centerTextColor: '#222222',
      centerFont: '600 18px sans-serif',
      segmentOutlineColor: '#ffffff',
      segmentTextColor: '#ffffff',
      segmentFont: '12px sans-serif',
      seed: 0,
      colors: [
        '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2',
        '#17becf', '#bcbd22', '#7f7f7f', '#393b79', '#ad494a', '#637939', '#8c6d31',
        '#7b4173', '#3182bd', '#e6550d', '#31a354', '#756bb1', '#636363'
      ]
    },

    _create: function () {
      var self = this;
      this.element.addClass('sunburst');
      this._canvas = $('<canvas></canvas>').appendTo(this.element);
      this._segments = [];
      this._canvas.on('click.sunburst', function (e) {
        e.stopPropagation();
        var entry = self._hit(e);
        if (!entry) return;
        self.element.trigger('click', [entry]);
        self._trigger('click', null, entry);
      });
    },

    _destroy: function () {
      this._canvas.off('.sunburst');
      this.element.removeClass('sunburst').empty();
      this._canvas = null;
    },

    _hit: function (e) {
      var off = this._canvas.offset();
      var x = e.pageX - off.left - this._cx, y = e.pageY - off.top - this._cy;
      var r = Math.sqrt(x * x + y * y);
      var a = Math.atan2(y, x);
      if (a < 0) a += 2 * Math.PI;
      if (r <= this.options.centerRadius) return this._root ? { name: this._root.label || '', path: [], value: this._root.value, depth: 0 } : null;
      for (var i = 0; i < this._segments.length; i++) {
        var s = this._segments[i];
        if (r >= s.r0 && r < s.r1 && a >= s.a0 && a < s.a1) {
          return { name: s.path[s.path.length - 1], path: s.path.slice(), value: s.value, depth: s.path.length };
        }
      }
      return null;
    },

    draw: function (tree) {
      if (!this._canvas) return;
      var canvas = this._canvas[0], ctx = canvas.getContext && canvas.getContext('2d');
      if (!ctx) return;
      var o = this.options;
      var w = this._canvas.width(), h = this._canvas.height(), ratio = window.devicePixelRatio || 1;
      canvas.width = Math.max(1, Math.round(w * ratio));
      canvas.height = Math.max(1, Math.round(h * ratio));
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      tree = tree || {};
      this._root = tree;
      this._segments = [];
      var cx = this._cx = w / 2, cy = this._cy = h / 2;
      var depth = tree.depth || depthOf(tree);
      var outer = Math.max(o.centerRadius + 1, Math.min(cx, cy) - 4);
      var ring = depth ? (outer - o.centerRadius) / depth : 0;
      var total = +tree.value || 0;
      if (!total && tree.children) {
        for (var k in tree.children) total += +tree.children[k].value || 0;
      }
      var segments = this._segments, self = this;

      function layout(node, level, a0, path) {
        if (!node.children || !total) return;
        var names = Object.keys(node.children).sort();
        var a = a0;
        names.forEach(function (name) {
          var child = node.children[name], span = (+child.value || 0) / total * 2 * Math.PI;
          if (span <= 0) return;
          var p = path.concat([name]);
          segments.push({
            path: p, value: child.value, a0: a, a1: a + span,
            r0: o.centerRadius + level * ring, r1: o.centerRadius + (level + 1) * ring,
            color: o.colors[hashName(name, o.seed) % o.colors.length]
          });
          layout(child, level + 1, a, p);
          a += span;
        });
      }
      layout(tree, 0, 0, []);

      ctx.lineWidth = 1;
      segments.forEach(function (s) {
        ctx.beginPath();
        ctx.arc(cx, cy, s.r1, s.a0, s.a1);
        ctx.arc(cx, cy, s.r0, s.a1, s.a0, true);
        ctx.closePath();
        ctx.fillStyle = s.color;
        ctx.fill();
        ctx.strokeStyle = o.segmentOutlineColor;
        ctx.stroke();
      });
      ctx.font = o.segmentFont;
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillStyle = o.segmentTextColor;
      segments.forEach(function (s) {
        var mid = (s.a0 + s.a1) / 2, rr = (s.r0 + s.r1) / 2, name = s.path[s.path.length - 1];
        var room = (s.a1 - s.a0) * rr; // arc length available for the label
        if (room < ctx.measureText(name).width + 6 && room < 40) return;
        ctx.fillText(name, cx + rr * Math.cos(mid), cy + rr * Math.sin(mid), Math.max(room, ring - 6));
      });
      ctx.beginPath();
      ctx.arc(cx, cy, o.centerRadius, 0, 2 * Math.PI);
      ctx.fillStyle = o.centerColor;
      ctx.fill();
      ctx.strokeStyle = o.centerOutlineColor;
      ctx.stroke();
      if (tree.label) {
        ctx.font = o.centerFont;
        ctx.fillStyle = o.centerTextColor;
        ctx.fillText(tree.label, cx, cy, o.centerRadius * 1.8);
      }
      self.element.attr('data-segments', segments.length);
    }
  });
})(jQuery);
