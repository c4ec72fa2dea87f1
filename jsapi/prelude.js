// flowrt script prelude: evaluated once in every script isolate, before the script.
// It is called as prelude(global, config) where config = {names: [host function names, index =
// function id], scriptdir, file, wrapglobals}. Host calls go through __bridge.call (bridge.py):
// the request is JSON [id, args]; the reply is JSON (empty = undefined) or, on failure, JSON
// {name, message} or {throw: value} that is rethrown here as a JS exception.
(function (global, config) {
  'use strict';
  var bridge = global.__bridge;
  delete global.__bridge;
  delete global.__sab;

  var FN_MARK = '\u0000fn';
  var callbacks = {}, nextCallback = 1;
  var handlers = { interval: null, http: null, flow: null, event: null };
  var ids = {};
  config.names.forEach(function (name, i) { ids[name] = i; });

  function registerCallback(fn) {
    var id = nextCallback++;
    callbacks[id] = fn;
    return id;
  }
  function replacer(key, value) {
    if (typeof value === 'function') { var o = {}; o[FN_MARK] = registerCallback(value); return o; }
    return value;
  }

  function hostError(text) {
    var e = JSON.parse(text);
    if (Object.prototype.hasOwnProperty.call(e, 'throw')) return e['throw'];
    var Ctor = { TypeError: TypeError, RangeError: RangeError, ReferenceError: ReferenceError,
                 SyntaxError: SyntaxError }[e.name] || Error;
    return new Ctor(e.message);
  }

  function call(id, args, withCallbacks) {
    var n = args.length;
    while (n > 0 && args[n - 1] === undefined) n--;
    var list = new Array(n);
    for (var i = 0; i < n; i++) list[i] = args[i];
    var text = '[' + id + ',' + (withCallbacks ? JSON.stringify(list, replacer) : JSON.stringify(list)) + ']';
    var r = bridge.call(text);
    if (r[0] !== 0) throw hostError(r[1]);
    return r[1] === '' ? undefined : JSON.parse(r[1]);
  }

  function host(name) {
    var id = ids[name];
    if (id === undefined) return undefined;
    return function () { return call(id, arguments, false); };
  }

  // ArrayBuffer data counts against script.memory (buffers.js); before any script code runs
  var buffers = global.__buffers;
  delete global.__buffers;
  if (typeof buffers === 'function') buffers(global, config.memoryLimit, host('_memoryExceeded'),
                                                  host('_memoryPressure'));

  // -- generic globals: one wrapper per registered host function ------------------------------
  var defined = {};
  config.names.forEach(function (name, i) {
    if (name.charAt(0) === '_') return;   // internal helpers used by the wrappers below
    var withCallbacks = config.callbacks.indexOf(name) >= 0;
    defined[name] = function () { return call(i, arguments, withCallbacks); };
  });

  // -- globals with JavaScript-side logic -------------------------------------------------------
  function text(msg) { return typeof msg === 'string' ? msg : String(msg); }
  ['logInfo', 'logWarning', 'logSevere', 'logFine'].forEach(function (name) {
    var h = host('_' + name);
    if (h) defined[name] = function (msg) { h(text(msg)); };
  });

  var setInterval_ = host('_setInterval');
  defined.setIntervalHandler = function (fn, seconds) {
    if (typeof fn !== 'function') throw new TypeError('setIntervalHandler: function expected');
    handlers.interval = fn;
    setInterval_(seconds === undefined || seconds === null ? 1 : seconds);
  };
  defined.clearIntervalHandler = function () { handlers.interval = null; setInterval_(0); };

  var setHttp = host('_setHttpHandler');
  defined.setHttpHandler = function (fn) {
    if (typeof fn !== 'function') throw new TypeError('setHttpHandler: function expected');
    handlers.http = fn; setHttp(true);
  };
  defined.clearHttpHandler = function () { handlers.http = null; setHttp(false); };

  var setFlowH = host('_setFlowHandler');
  if (setFlowH) {
    defined.setFlowHandler = function (fn, names) {
      if (typeof fn !== 'function') throw new TypeError('setFlowHandler: function expected');
      handlers.flow = fn; setFlowH(true, names === undefined ? null : names);
    };
    defined.clearFlowHandler = function () { handlers.flow = null; setFlowH(false, null); };
  }
  var setEventH = host('_setEventHandler');
  if (setEventH) {
    defined.setEventHandler = function (fn, names) {
      if (typeof fn !== 'function') throw new TypeError('setEventHandler: function expected');
      handlers.event = fn; setEventH(true, names === undefined ? null : names);
    };
    defined.clearEventHandler = function () { handlers.event = null; setEventH(false, null); };
  }

  var httpAsync_ = host('_httpAsync');
  if (httpAsync_) {
    defined.httpAsync = function (req) {
      if (!req || typeof req !== 'object') throw new TypeError('httpAsync: request object expected');
      var plain = {}, k;
      for (k in req) if (typeof req[k] !== 'function') plain[k] = req[k];
      var ok = typeof req.success === 'function' ? registerCallback(req.success) : 0;
      var bad = typeof req.error === 'function' ? registerCallback(req.error) : 0;
      try { httpAsync_(plain, ok, bad); }
      catch (e) { delete callbacks[ok]; delete callbacks[bad]; throw e; }
    };
  }

  defined.scriptdir = function () { return config.scriptdir; };

  var include_ = host('_include');
  defined.include = function (path) {
    var src = include_(text(path));
    var code = src.code + '\n//# sourceURL=' + src.name;
    try {
      (0, eval)(code);
    } catch (e) {
      if (e instanceof SyntaxError && !/\(\S+:\d+\)$/.test(e.message))
        e.message += ' (' + src.name + '#' + syntaxErrorLine(src.code, e.message) + ')';
      throw e;
    }
  };

  // V8 does not say where a SyntaxError in eval'd code is; find the first line prefix that
  // fails with the same message (only runs when an include has a syntax error).
  function syntaxErrorLine(code, message) {
    var lines = code.split('\n'), prefix = '';
    for (var i = 0; i < lines.length; i++) {
      prefix += lines[i] + '\n';
      try { new Function(prefix); } catch (e) { if (e.message === message) return i + 1; }
    }
    return lines.length;
  }

  // Rhino's `for each (x in obj)` is rewritten to `for (x of __forEachValues(obj))`
  global.__forEachValues = function (obj) {
    var out = [];
    if (obj === null || obj === undefined) return out;
    for (var k in obj) out.push(obj[k]);
    return out;
  };

  var names = Object.keys(defined);
  names.forEach(function (name) {
    Object.defineProperty(global, name, { value: defined[name], writable: true,
                                          configurable: true, enumerable: false });
  });
  if (config.wrapglobals) {
    var ns = {};
    names.forEach(function (name) { ns[name] = defined[name]; });
    global[config.wrapglobals] = ns;
  }

  // -- dispatch: Python posts a message, then evaluates "__rt.dispatch()" -----------------------
  function describe(e) {
    var msg;
    if (e instanceof Error) msg = e.name + ': ' + e.message;
    else if (e !== null && typeof e === 'object') { try { msg = JSON.stringify(e); } catch (x) { msg = text(e); } }
    else msg = text(e);
    var d = { message: msg };
    if (e && typeof e.stack === 'string') d.stack = e.stack;
    return d;
  }
  function runAll(fn, items, errors) {
    for (var i = 0; i < items.length; i++) {
      try { fn(items[i]); } catch (e) { errors.push(describe(e)); }
    }
  }
  var STATUS = { not_found: 404, bad_request: 400, bad_value: 400, forbidden: 403,
                 internal_server_error: 500, service_unavailable: 503 };
  function http(req) {
    if (!handlers.http) return { status: 404, body: 'no HTTP handler', type: 'text' };
    var result;
    try { result = handlers.http(req); }
    catch (e) {
      if (typeof e === 'string' && STATUS[e]) return { status: STATUS[e], body: e, type: 'text' };
      return { status: 500, body: describe(e).message, type: 'text', error: describe(e) };
    }
    if (result === undefined || result === null) return { status: 204, type: 'none' };
    // sFlow-RT JSON-encodes a string on a json route ($.getJSON callers parse it); other
    // formats (txt, html, csv ...) get the text as is
    if (typeof result === 'string' && req.format !== 'json') return { status: 200, body: result, type: 'text' };
    try { return { status: 200, body: JSON.stringify(result), type: 'json' }; }
    catch (e) { return { status: 500, body: describe(e).message, type: 'text', error: describe(e) }; }
  }

  Object.defineProperty(global, '__rt', { value: {
    dispatch: function () {
      try { return dispatch(); }
      catch (e) { return JSON.stringify([describe(e)]); }   // never let our own code kill a script
    }
  }});

  function dispatch() {
    var msg = JSON.parse(bridge.readMessage()), kind = msg[0], errors = [];
    if (kind === 'http') return JSON.stringify(http(msg[1]));
    if (kind === 'interval') {
      if (handlers.interval) runAll(handlers.interval, [msg[1]], errors);
    } else if (kind === 'flows') {
      if (handlers.flow) runAll(handlers.flow, msg[1], errors);
    } else if (kind === 'events') {
      if (handlers.event) runAll(handlers.event, msg[1], errors);
    } else if (kind === 'cb') {
      var fn = callbacks[msg[1]];
      if (msg[3]) { delete callbacks[msg[1]]; }
      if (typeof fn === 'function') {
        try { fn.apply(null, msg[2]); } catch (e) { errors.push(describe(e)); }
      }
    } else if (kind === 'release') {
      msg[1].forEach(function (id) { delete callbacks[id]; });
    } else if (kind === 'eval') {
      try { (0, eval)(msg[1]); } catch (e) { errors.push(describe(e)); }
    }
    return errors.length ? JSON.stringify(errors) : '';
  }
})
