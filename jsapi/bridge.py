"""One V8 isolate (a mini-racer 0.14.1 context) with *synchronous* JS -> Python host calls.

mini-racer's public ``wrap_py_function`` hands JS a Promise. We build on its low-level DLL
instead (pinned in pyproject.toml because of this):

* ``mr_init_context(callback)`` takes one C callback for the context. mini-racer calls it on the
  isolate's own message-pump thread, both for finished tasks (eval results) and for JS
  functions made with ``mr_make_js_callback(ctx, id)``.
* A JS function made by ``mr_make_js_callback`` calls that C callback *synchronously*, on the
  thread that is running the JS, and the JS continues only when the callback returns.
* A SharedArrayBuffer's backing store never moves, and mini-racer hands Python its address.

So a host call is: JS writes the request (UTF-16 code units) into a SharedArrayBuffer shared
with Python, calls the callback function; Python, running inside that callback on the isolate
thread, reads the request straight from the buffer, runs the host function, writes the reply
into the same buffer and returns; JS reads the reply. Same thread, so no Atomics and no
memory-ordering issue. Payloads larger than the buffer travel in chunks (OP_APPEND / OP_NEXT).
Python must never wait for the isolate from inside a host call (the isolate is busy running
the caller); ``eval`` refuses that instead of deadlocking.
"""

from __future__ import annotations

import codecs
import ctypes
import json
import threading
import time
from typing import Callable

from py_mini_racer._dll import MR_CALLBACK, init_mini_racer

# mini-racer value types (mini_racer.cc)
_T_NULL, _T_BOOL, _T_INT, _T_DOUBLE, _T_STR, _T_UNDEFINED = 1, 2, 3, 4, 5, 11
_T_SAB = 101
_T_EXECUTE, _T_PARSE, _T_OOM, _T_TIMEOUT, _T_TERMINATED = 200, 201, 202, 203, 204

# SharedArrayBuffer layout: 16 int32 header words, then UTF-16 data from byte 64.
HEADER_BYTES = 64
H_OP, H_LEN, H_TOTAL, H_STATUS = 0, 1, 2, 3
OP_CALL, OP_APPEND, OP_NEXT = 1, 2, 3
STATUS_OK, STATUS_ERROR = 0, 1

HOST_CALLBACK_ID = 1
_utf16_decode = codecs.utf_16_le_decode

_dll = None
_dll_lock = threading.Lock()
_create_lock = threading.Lock()


def dll():
    global _dll
    with _dll_lock:
        if _dll is None:
            _dll = init_mini_racer(ignore_duplicate_init=True)
        return _dll


class JSError(Exception):
    """JavaScript failed: ``kind`` is 'error', 'syntax', 'timeout', 'memory' or 'terminated'."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


class ReentrantCall(RuntimeError):
    pass


HostFunction = Callable[[str], "tuple[bool, str]"]

_KINDS = {
    _T_EXECUTE: "error",
    _T_PARSE: "syntax",
    _T_OOM: "memory",
    _T_TIMEOUT: "timeout",
    _T_TERMINATED: "terminated",
}

# JS half of the channel; installed once per isolate (the prelude builds on __bridge).
BRIDGE_JS = r"""
(function(cb, sab) {
  var U16 = Uint16Array;   // the constructor itself: the script runtime wraps the global one
  var hdr = new Int32Array(sab, 0, 16), data = new U16(sab, 64), cap = data.length;
  function readChunk(parts) {
    var n = hdr[1];
    for (var o = 0; o < n; o += 8192)
      parts.push(String.fromCharCode.apply(null, new U16(sab, 64 + 2 * o, Math.min(n, o + 8192) - o)));
    return n;
  }
  // read a whole message whose first chunk Python has just written
  function readMessage() {
    var total = hdr[2], parts = [], got = readChunk(parts);
    while (got < total) { hdr[0] = 3; cb(); got += readChunk(parts); }
    return parts.length === 1 ? parts[0] : parts.join('');
  }
  function write(s, start, end) {
    for (var i = start, j = 0; i < end; i++, j++) data[j] = s.charCodeAt(i);
    hdr[1] = end - start;
  }
  globalThis.__bridge = {
    call: function(s) {
      var n = s.length, o = 0;
      while (n - o > cap) { write(s, o, o + cap); hdr[0] = 2; cb(); o += cap; }
      write(s, o, n); hdr[0] = 1; hdr[2] = n;
      cb();
      var status = hdr[3];
      return [status, readMessage()];
    },
    readMessage: readMessage
  };
})
"""


class Isolate:
    """A V8 isolate. ``host(request_text) -> (ok, reply_text)`` serves ``__bridge.call``."""

    def __init__(self, host: HostFunction, buffer_bytes: int = 1 << 20, memory_limit: int = 0):
        self._dll = dll()
        self._host = host
        self._lock = threading.Lock()
        self._next_id = HOST_CALLBACK_ID + 1
        self._pending: dict[int, list] = {}  # callback id -> [Event, raw result]
        self._request_parts: list[str] = []
        self._reply = b""  # outgoing message (UTF-16), sent in chunks
        self._reply_pos = 0
        self.host_seconds = 0.0  # time spent inside host calls, in total
        self._running_task: int | None = None
        self._interrupt_asked = False  # interrupt() came before _wait knew the task id
        self._close_lock = threading.Lock()
        self._host_since: float | None = None
        self.thread_native_id: int | None = None
        self._thread_ident: int | None = None
        self.closed = False
        self._cb = MR_CALLBACK(self._on_callback)  # keep a reference for the context's life
        # Creating isolates concurrently can crash V8: the first one initializes process-wide
        # allocator state (PartitionAlloc's configurable pool) without a lock. Seen as
        # "Check failed: !IsConfigurablePoolInitialized()" when several scripts start at once,
        # so isolates are set up one at a time (a few ms each).
        with _create_lock:
            self._ctx = self._dll.mr_init_context(self._cb)
            self._setup(buffer_bytes, memory_limit)

    def _setup(self, buffer_bytes: int, memory_limit: int) -> None:
        if memory_limit:
            self._dll.mr_set_hard_memory_limit(self._ctx, int(memory_limit))
        raw = self._eval_raw(
            f"globalThis.__sab = new SharedArrayBuffer({int(buffer_bytes)}); __sab"
        )
        c = raw.contents
        if c.type != _T_SAB:
            raise RuntimeError("mini-racer did not return the SharedArrayBuffer")
        self._sab_raw = raw  # keeps the backing store alive
        buf = (ctypes.c_ubyte * c.len).from_address(c.value.value_ptr)
        self._mem = memoryview(buf).cast("B")
        self._hdr = self._mem[:HEADER_BYTES].cast("i")
        self._data = self._mem[HEADER_BYTES:]
        self._cap = (c.len - HEADER_BYTES) // 2
        fn = self._dll.mr_make_js_callback(self._ctx, HOST_CALLBACK_ID)
        install = self._eval_raw(BRIDGE_JS)
        if install.contents.type != 100:
            raise RuntimeError("bridge installer is not a function")
        self._call_function(install, [fn, raw])
        self._dll.mr_free_value(self._ctx, fn)
        self._dll.mr_free_value(self._ctx, install)

    # -- callback from the isolate thread -----------------------------------------------------
    def _on_callback(self, callback_id: int, raw) -> None:
        if callback_id == HOST_CALLBACK_ID:
            t0 = self._host_since = time.perf_counter()
            try:
                self._serve_host_call()
            finally:
                self._dll.mr_free_value(self._ctx, raw)
                self._host_since = None
                self.host_seconds += time.perf_counter() - t0
            return
        if self._thread_ident is None:
            self._thread_ident = threading.get_ident()
            self.thread_native_id = threading.get_native_id()
        with self._lock:
            slot = self._pending.get(callback_id)
        if slot is None:  # nobody waits any more (closed)
            self._dll.mr_free_value(self._ctx, raw)
            return
        slot[1] = raw
        slot[0].set()

    def _serve_host_call(self) -> None:
        hdr = self._hdr
        op = hdr[H_OP]
        if op == OP_NEXT:
            self._send_chunk()
            return
        n = hdr[H_LEN]
        text = _utf16_decode(self._data[: 2 * n], "surrogatepass", True)[0]
        if op == OP_APPEND:
            self._request_parts.append(text)
            return
        if self._request_parts:
            self._request_parts.append(text)
            text = "".join(self._request_parts)
            self._request_parts = []
        try:
            ok, reply = self._host(text)
        except BaseException as exc:  # never let an exception escape into C
            ok, reply = False, json.dumps({"name": "Error", "message": f"host failure: {exc!r}"})
        hdr[H_STATUS] = STATUS_OK if ok else STATUS_ERROR
        self.post(reply)

    def post(self, message: str) -> None:
        """Write a message for JS to read with ``__bridge.readMessage()`` (first chunk now)."""
        # JS counts UTF-16 code units (astral characters take two), so send those.
        encoded = message.encode("utf-16-le", "surrogatepass")
        self._reply = encoded
        self._reply_pos = 0
        self._hdr[H_TOTAL] = len(encoded) // 2
        self._send_chunk()

    def _send_chunk(self) -> None:
        pos = self._reply_pos
        chunk = self._reply[pos : pos + 2 * self._cap]
        self._data[: len(chunk)] = chunk
        self._hdr[H_LEN] = len(chunk) // 2
        self._reply_pos = pos + len(chunk)

    # -- evaluation ---------------------------------------------------------------------------
    def _start_task(self) -> tuple[int, list]:
        if self._thread_ident is not None and threading.get_ident() == self._thread_ident:
            raise ReentrantCall("cannot evaluate JavaScript from inside a host call")
        slot = [threading.Event(), None]
        with self._lock:
            cid = self._next_id
            self._next_id += 1
            self._pending[cid] = slot
        return cid, slot

    def _wait(self, cid: int, slot: list, task_id: int, timeout: float | None):
        """Wait for a task; ``timeout`` limits its whole run, time spent inside host calls (a
        blocking http(), a metric query, setFlow) included: a script looping on host calls is
        stopped like one looping in JavaScript. A host call running when the time is up
        finishes first (each has its own bound); the JavaScript is then terminated."""
        with self._close_lock:
            self._running_task = task_id
            if self._interrupt_asked and not self.closed:
                # a host call of this very task asked for it before the id was known here
                self._interrupt_asked = False
                self._dll.mr_cancel_task(self._ctx, task_id)
        if timeout is None:
            slot[0].wait()
        elif not slot[0].wait(timeout):
            self._dll.mr_cancel_task(self._ctx, task_id)
            slot[0].wait()
        with self._close_lock:
            self._running_task = None
            self._interrupt_asked = False
        with self._lock:
            self._pending.pop(cid, None)
        return slot[1]

    def interrupt(self) -> None:
        """Terminate the JavaScript running now, if any (from any thread: engine shutdown, or
        a host call of the running task itself). The task may run, and call the host, before
        its waiter has recorded its id: then the waiter cancels it as soon as it has."""
        with self._close_lock:  # never cancel on a context that close() is freeing
            task = self._running_task
            if self.closed:
                return
            if task is not None:
                self._dll.mr_cancel_task(self._ctx, task)
            elif self._thread_ident is not None and threading.get_ident() == self._thread_ident:
                self._interrupt_asked = True

    def _eval_raw(self, code: str, timeout: float | None = None):
        if self.closed:
            raise JSError("terminated", "isolate closed")
        cid, slot = self._start_task()
        b = code.encode("utf-8", "surrogatepass")
        handle = self._dll.mr_alloc_string_val(self._ctx, b, len(b), _T_STR)
        try:
            task = self._dll.mr_eval(self._ctx, handle, cid)
            return self._wait(cid, slot, task, timeout)
        finally:
            self._dll.mr_free_value(self._ctx, handle)

    def _call_function(self, func_raw, args_raw: list, timeout: float | None = None):
        argv = self._eval_raw("[]")
        for a in args_raw:
            self._dll.mr_free_value(self._ctx, self._dll.mr_array_push(self._ctx, argv, a))
        undefined = self._dll.mr_alloc_int_val(self._ctx, 0, _T_UNDEFINED)
        cid, slot = self._start_task()
        try:
            task = self._dll.mr_call_function(self._ctx, func_raw, undefined, argv, cid)
            raw = self._wait(cid, slot, task, timeout)
        finally:
            self._dll.mr_free_value(self._ctx, undefined)
            self._dll.mr_free_value(self._ctx, argv)
        return self._convert(raw)

    def _convert(self, raw):
        c = raw.contents
        typ = c.type
        try:
            if typ == _T_STR:
                return c.value.bytes_val[0 : c.len].decode("utf-8", "surrogatepass")
            if typ == _T_INT:
                return int(c.value.int_val)
            if typ == _T_DOUBLE:
                return float(c.value.double_val)
            if typ == _T_BOOL:
                return c.value.int_val == 1
            if typ in (_T_NULL, _T_UNDEFINED):
                return None
            kind = _KINDS.get(typ)
            if kind is not None:
                msg = c.value.bytes_val[0 : c.len].decode("utf-8", "replace") if c.len else ""
                if kind == "memory":
                    msg = msg or "JavaScript heap limit reached"
                raise JSError(kind, msg or kind)
            return None  # objects are not returned by our dispatch code
        finally:
            self._dll.mr_free_value(self._ctx, raw)

    def eval(self, code: str, timeout: float | None = None):
        """Run code; returns a str/int/float/bool/None. Raises JSError."""
        return self._convert(self._eval_raw(code, timeout))

    def post_and_eval(self, message: str, code: str, timeout: float | None = None):
        """Hand JS a message (read by ``__bridge.readMessage()``) and run code that reads it.
        The isolate is idle here (calls are serialized by the owner), so the buffer is free."""
        self.post(message)
        return self.eval(code, timeout)

    # -- housekeeping -------------------------------------------------------------------------
    def heap_stats(self) -> dict:
        raw = self._dll.mr_heap_stats(self._ctx)
        text = self._convert(raw)
        return json.loads(text) if isinstance(text, str) else {}

    def collect(self) -> None:
        """A full garbage collection (V8's low-memory notification); finalizers of what it
        freed run as the isolate's next tasks. Not from inside a host call."""
        if self._thread_ident is not None and threading.get_ident() == self._thread_ident:
            raise ReentrantCall("cannot collect from inside a host call")
        if not self.closed:
            self._dll.mr_low_memory_notification(self._ctx)

    def memory_limit_reached(self) -> bool:
        return bool(self._dll.mr_hard_memory_limit_reached(self._ctx))

    def close(self) -> None:
        with self._close_lock:
            if self.closed:
                return
            self.closed = True
        del self._hdr, self._data, self._mem
        self._dll.mr_free_value(self._ctx, self._sab_raw)
        self._dll.mr_free_context(self._ctx)
