// flowrt: ArrayBuffer memory of a script, bounded by script.memory (docs/scripting.md).
//
// V8 keeps ArrayBuffer and typed-array data outside the JavaScript heap, so the heap limit
// (mini-racer's, checked after each garbage collection against the heap's used size) never
// sees it, and mini-racer 0.14.1 exposes neither V8's external-memory figure nor the
// isolate's ArrayBuffer allocator. So every way a script can allocate such memory is wrapped
// here: each allocation is charged before it happens and credited when the garbage collector
// frees the buffer (FinalizationRegistry). An allocation that would take the charge over the
// limit calls exceeded(bytes), which stops the script (the host terminates it), and throws.
//
// Charged: new ArrayBuffer / SharedArrayBuffer, every typed-array constructor that allocates
// (a length, an array, an array-like, an iterable, another typed array; also through
// subclasses, species (slice, map, filter), from/of), toReversed/toSorted/with,
// Uint8Array.fromBase64/fromHex, ArrayBuffer resize/transfer, SharedArrayBuffer grow.
// WebAssembly (whose memories can grow to 4 GB) is not offered to scripts: sFlow-RT's
// JavaScript engines have none. Frees are only seen between handler calls (V8 runs the
// finalizers as separate tasks), so within one call everything allocated counts.
// Evaluated as buffers(global, limitBytes, exceeded, pressure) by the prelude before any
// script code; pressure() asks the host for a full collection once the current call ends.
(function (global, limit, exceeded, pressure) {
  'use strict';
  delete global.WebAssembly;
  if (!(limit > 0)) return;

  var AB = global.ArrayBuffer, SAB = global.SharedArrayBuffer;
  var Reflect_ = Reflect, Proxy_ = Proxy, WeakMap_ = WeakMap;
  var getProto = Object.getPrototypeOf, defineProperty = Object.defineProperty;
  function getter(proto, name) { return Object.getOwnPropertyDescriptor(proto, name).get; }
  var abLength = getter(AB.prototype, 'byteLength');
  var sabLength = SAB ? getter(SAB.prototype, 'byteLength') : null;
  var TA = getProto(global.Uint8Array);                       // %TypedArray%
  var taLength = getter(TA.prototype, 'byteLength');
  var taBuffer = getter(TA.prototype, 'buffer');
  var taLen = getter(TA.prototype, 'length');
  var call = Function.prototype.call.bind(Function.prototype.call);
  // what the accounting uses is taken now: a script replacing globals or prototype methods
  // later must not be able to switch it off
  var Number_ = Number, floor = Math.floor, ITERATOR = Symbol.iterator, RangeError_ = RangeError;
  var wmGet = WeakMap.prototype.get, wmSet = WeakMap.prototype.set, wmHas = WeakMap.prototype.has;
  var register = FinalizationRegistry.prototype.register;
  var ON_HEAP = 64;   // V8 keeps typed arrays up to this many bytes inside the heap

  var held = 0;                       // bytes charged and not yet seen freed
  var pressed = false;                // asked the host for a full collection
  var cells = new WeakMap_();         // buffer -> [bytes charged for it]
  var registry = new FinalizationRegistry(function (cell) {
    held -= cell[0];
    cell[0] = 0;
    pressed = false;
  });

  function charge(n) {
    if (!(n > 0)) return;
    if (held + n > limit) {
      exceeded(held + n);
      throw new RangeError_('Array buffer allocation failed: over the script.memory limit');
    }
    held += n;
    // V8 collects on its own only past tens of MB of such data: past half the limit, ask for
    // a collection after this call so that what was dropped is credited before the next one
    if (held > limit / 2 && !pressed && pressure) { pressed = true; pressure(); }
  }
  function refund(n) { if (n > 0) held -= n; }
  function track(buffer, n) {
    var cell = [n];
    call(wmSet, cells, buffer, cell);
    call(register, registry, buffer, cell);
  }
  function lengthOf(buffer) {
    try { return call(abLength, buffer); } catch (e) { /* not an ArrayBuffer */ }
    if (sabLength) { try { return call(sabLength, buffer); } catch (e) { /* nor shared */ } }
    return -1;
  }
  function typedLength(x) {
    try { return call(taLength, x); } catch (e) { return -1; }
  }
  function index(v) {           // ToIndex, enough to size a charge (the real call validates)
    var n = Number_(v);
    if (n !== n || n <= 0) return 0;
    return n === Infinity ? Infinity : floor(n);
  }
  // bytes a typed array holds outside the heap, charged for its buffer once
  function adopt(ta, precharged) {
    var bytes = typedLength(ta), buffer;
    if (bytes <= ON_HEAP) { refund(precharged); return ta; }
    buffer = call(taBuffer, ta);
    if (call(wmHas, cells, buffer)) { refund(precharged); return ta; }
    if (bytes > precharged) charge(bytes - precharged);
    else refund(precharged - bytes);
    track(buffer, bytes);
    return ta;
  }

  function bufferConstructor(Target) {
    var proxy = new Proxy_(Target, {
      construct: function (target, args, newTarget) {
        var n = index(args[0]);
        charge(n);
        var buffer;
        try { buffer = Reflect_.construct(target, args, newTarget); }
        catch (e) { refund(n); throw e; }
        track(buffer, n);
        return buffer;
      }
    });
    defineProperty(Target.prototype, 'constructor', { value: proxy, writable: true, configurable: true });
    defineProperty(global, Target.name, { value: proxy, writable: true, configurable: true });
    return proxy;
  }
  bufferConstructor(AB);
  if (SAB) bufferConstructor(SAB);

  function resized(proto, name) {        // resize (ArrayBuffer), grow (SharedArrayBuffer)
    var original = proto[name];
    if (typeof original !== 'function') return;
    defineProperty(proto, name, { writable: true, configurable: true, value: function (size) {
      var before = lengthOf(this), after = index(size), cell = call(wmGet, cells, this);
      if (after > before) charge(after - before);
      try { call(original, this, size); }
      catch (e) { if (after > before) refund(after - before); throw e; }
      if (after < before) refund(before - after);
      if (cell) cell[0] = after; else track(this, after);
    }});
  }
  resized(AB.prototype, 'resize');
  if (SAB) resized(SAB.prototype, 'grow');

  ['transfer', 'transferToFixedLength'].forEach(function (name) {
    var original = AB.prototype[name];
    if (typeof original !== 'function') return;
    defineProperty(AB.prototype, name, { writable: true, configurable: true, value: function (size) {
      var n = size === undefined ? lengthOf(this) : index(size), old = call(wmGet, cells, this);
      charge(n);
      var moved;
      try { moved = call(original, this, size); } catch (e) { refund(n); throw e; }
      if (old) { refund(old[0]); old[0] = 0; }    // detached: its data moved or was freed
      track(moved, n);
      return moved;
    }});
  });

  var TYPED = ['Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array',
               'Int32Array', 'Uint32Array', 'Float16Array', 'Float32Array', 'Float64Array',
               'BigInt64Array', 'BigUint64Array'];
  TYPED.forEach(function (name) {
    var Target = global[name];
    if (typeof Target !== 'function') return;
    var size = Target.BYTES_PER_ELEMENT;
    var proxy = new Proxy_(Target, {
      construct: function (target, args, newTarget) {
        var a0 = args[0], pre = 0;
        if (a0 === null || typeof a0 !== 'object' && typeof a0 !== 'function') {
          pre = index(a0) * size;                    // a length
        } else if (lengthOf(a0) >= 0) {
          return Reflect_.construct(target, args, newTarget);   // a view on a buffer: no data
        } else {
          var len;
          if (typedLength(a0) >= 0) len = call(taLen, a0);                  // a typed array
          else if (typeof a0[ITERATOR] === 'function') len = 0;      // listed in the heap first: charged after
          else len = index(a0.length);                                      // an array-like
          pre = len * size;
        }
        charge(pre);
        var ta;
        try { ta = Reflect_.construct(target, args, newTarget); }
        catch (e) { refund(pre); throw e; }
        return adopt(ta, pre);
      }
    });
    defineProperty(Target.prototype, 'constructor', { value: proxy, writable: true, configurable: true });
    defineProperty(global, name, { value: proxy, writable: true, configurable: true });
    if (name === 'Uint8Array') {
      ['fromBase64', 'fromHex'].forEach(function (fname) {
        var original = Target[fname];
        if (typeof original !== 'function') return;
        defineProperty(Target, fname, { writable: true, configurable: true, value: function () {
          return adopt(Reflect_.apply(original, this, arguments), 0);
        }});
      });
    }
  });

  // these copy into a new array of the same type without species: charge them here
  ['toReversed', 'toSorted', 'with'].forEach(function (name) {
    var original = TA.prototype[name];
    if (typeof original !== 'function') return;
    defineProperty(TA.prototype, name, { writable: true, configurable: true, value: function () {
      var n = typedLength(this);
      charge(n);
      var copy;
      try { copy = Reflect_.apply(original, this, arguments); } catch (e) { refund(n); throw e; }
      return adopt(copy, n);
    }});
  });
})
