/*! flowrt gauge widget | Apache-2.0 | part of flowrt, written for it.
 * $(el).gauge({value, maxValue, threshold, label, suffix, logScale, counter, includeMillis, base2})
 * draws a half-circle SVG dial; $(el).gauge('update', {value, maxValue, threshold}) moves it.
 * counter:true treats values as an increasing counter and shows its rate per second.
 * The element gets class "warn" while the value is at or above a non-zero threshold.
 */
(function ($) {
  'use strict';

  var PREFIXES = ['\u00b5', 'm', '', 'K', 'M', 'G', 'T', 'P', 'E'];
  var SVGNS = 'http://www.w3.org/2000/svg';

  // Short labels for a dial: at most 3 significant digits before the prefix.
  function valueStr(value, includeMillis, base2) {
    if (value === 0) return value;
    if (typeof value !== 'number' || !isFinite(value)) return String(value);
    var step = base2 ? 1024 : 1000, idx = 2, scaled = Math.abs(value);
    if (includeMillis) while (idx > 0 && scaled < 1) { scaled *= step; idx--; }
    while (idx < PREFIXES.length - 1 && scaled >= step) { scaled /= step; idx++; }
    var text = scaled >= 100 ? String(Math.round(scaled)) : String(+scaled.toPrecision(3));
    return (value < 0 ? '-' : '') + text + PREFIXES[idx];
  }

  function fraction(value, max, log) {
    if (!max || max <= 0) return 0;
    var f = log ? Math.log10(Math.max(0, value) + 1) / Math.log10(max + 1) : value / max;
    return Math.max(0, Math.min(1, f || 0));
  }

  // Arc of the dial from the left end (f=0) to f (1 = right end), centre (500,480), radius 400.
  function arcPath(f) {
    var a = Math.PI * (1 - f);
    var x = 500 + 400 * Math.cos(a), y = 480 - 400 * Math.sin(a);
    return 'M 100 480 A 400 400 0 0 1 ' + x.toFixed(1) + ' ' + y.toFixed(1);
  }

  function node(name, attrs, text) {
    var el = document.createElementNS(SVGNS, name);
    for (var k in attrs) el.setAttribute(k, attrs[k]);
    if (text !== undefined) el.textContent = text;
    return el;
  }

  $.widget('inmon.gauge', {
    options: {
      includeMillis: false,
      base2: false,
      logScale: false,
      counter: false,
      value: 0,
      threshold: 0,
      maxValue: 100,
      label: 'Value',
      suffix: ''
    },

    valueStr: valueStr,

    _create: function () {
      var o = this.options;
      this.element.addClass('gauge');
      var svg = node('svg', { viewBox: '0 0 1000 560', preserveAspectRatio: 'xMidYMid meet', role: 'img' });
      svg.appendChild(node('path', { 'class': 'track', d: arcPath(1) }));
      this._arc = node('path', { 'class': 'data-arc', d: arcPath(0) });
      svg.appendChild(this._arc);
      var text = node('text', { 'class': 'value', x: 500, y: 400, 'text-anchor': 'middle' });
      this._value = node('tspan', {}, '0');
      text.appendChild(this._value);
      this._suffix = node('tspan', { 'class': 'suffix', dx: 12 }, o.suffix || '');
      text.appendChild(this._suffix);
      svg.appendChild(text);
      this._title = node('text', { 'class': 'title', x: 500, y: 540, 'text-anchor': 'middle' }, o.label);
      svg.appendChild(this._title);
      this.element.append(svg);
      this._svg = $(svg);
      this._prev = null;
      var first = o.value;
      if (o.counter) { this._prev = first ? { v: first, t: Date.now() } : null; first = 0; }
      this._show(first, o.maxValue, o.threshold);
    },

    _destroy: function () {
      this.element.removeClass('gauge warn').empty();
      this._svg = null;
    },

    _setOption: function (key, value) {
      this._super(key, value);
      if (key === 'label' && this._title) this._title.textContent = value;
      if (key === 'suffix' && this._suffix) this._suffix.textContent = value || '';
    },

    update: function (vars) {
      if (!this._svg) return;
      var o = this.options;
      vars = vars || {};
      var value = vars.value !== undefined ? +vars.value : o.value;
      if (o.counter) {
        var now = Date.now(), rate = 0;
        if (this._prev && now > this._prev.t) rate = Math.max(0, value - this._prev.v) * 1000 / (now - this._prev.t);
        this._prev = { v: value, t: now };
        value = rate;
      }
      this._show(value, vars.maxValue || o.maxValue, vars.threshold || o.threshold);
    },

    _show: function (value, maxValue, threshold) {
      var o = this.options;
      this.current = value;
      this._value.textContent = valueStr(value, o.includeMillis, o.base2);
      this._arc.setAttribute('d', arcPath(fraction(value, maxValue, o.logScale)));
      this._arc.style.display = maxValue ? '' : 'none';
      this.element.toggleClass('warn', !!threshold && value >= threshold);
      this.element.attr('data-value', value);
    }
  });
})(jQuery);
