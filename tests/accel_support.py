"""Shared by tests/test_accel_*.py: compare the C accelerator with the pure-Python path."""
from __future__ import annotations

import shutil
import sysconfig

import pytest

from engine.sflow import DecodeError, decode_datagram
from engine.sflow import attributes as at


def require_accel():
    """The accelerator module, or skip when this machine cannot build it (no C compiler or no
    Python headers). Where both exist the install must have built it, so its absence fails."""
    if at.accel is not None:
        return at.accel
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    headers = sysconfig.get_paths()["include"]
    import os
    if os.environ.get("FLOWRT_NO_ACCEL", "") not in ("", "0"):
        pytest.skip("FLOWRT_NO_ACCEL is set")
    if not shutil.which(cc) or not os.path.exists(os.path.join(headers, "Python.h")):
        pytest.skip("no C compiler/Python headers: the accelerator cannot be built here")
    pytest.fail("engine.sflow._accel did not import although a compiler is present; "
                "reinstall with `pip install -e .`")


def outcome(fn, sample):
    """('ok', ordered items) or ('error', message): what one path makes of a sample."""
    try:
        return "ok", list(fn(sample).items())
    except DecodeError as exc:
        return "error", str(exc)


class Tally:
    """Counts samples compared and how many the C code decoded itself (no Python fallback)."""

    def __init__(self):
        self.samples = 0
        self.native = 0
        self.errors = 0

    def compare(self, sample) -> None:
        accel = require_accel()
        py = outcome(at.python_flow_attributes, sample)
        c = outcome(accel.flow_attributes, sample)
        assert c == py, f"C and Python differ for a {sample.tag} sample:\nC:  {c}\nPy: {py}"
        fast = accel.fast_attributes(sample)
        if fast is not None:
            # a native answer is only ever given where Python agrees
            assert py[0] == "ok" and list(fast.items()) == py[1]
            self.native += 1
        self.errors += py[0] == "error"
        self.samples += 1

    def datagram(self, buf) -> bool:
        try:
            d = decode_datagram(buf)
        except DecodeError:
            return False
        for s in d.samples:
            if s.kind in ("flow", "discard"):
                self.compare(s)
        return True
