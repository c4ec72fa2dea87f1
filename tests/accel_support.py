"""Shared by tests/test_accel_*.py: compare the C accelerator with the pure-Python path."""

from __future__ import annotations

import os
import random
import shutil
import sysconfig

import pytest

from engine.sflow import DecodeError, decode_datagram
from engine.sflow import attributes as at


def c_unavailable_reason(env_turns_off: bool = True) -> str | None:
    """Why a C extension may legitimately be missing here: FLOWRT_NO_ACCEL (the pure-Python
    lane; only for extensions that variable turns off) or no C compiler/Python headers. None
    means it must be built, so a test that needs it fails rather than skips."""
    if env_turns_off and os.environ.get("FLOWRT_NO_ACCEL", "") not in ("", "0"):
        return "FLOWRT_NO_ACCEL is set"
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if not shutil.which(cc) or not os.path.exists(
        os.path.join(sysconfig.get_paths()["include"], "Python.h")
    ):
        return "no C compiler/Python headers: C extensions cannot be built here"
    return None


def require_accel():
    """The accelerator module; skips only for c_unavailable_reason(), fails otherwise."""
    if at.accel is not None:
        return at.accel
    reason = c_unavailable_reason()
    if reason:
        pytest.skip(reason)
    pytest.fail(
        "engine.sflow._accel did not import although a compiler is present; "
        "reinstall with `pip install -e .`"
    )


def outcome(fn, sample):
    """('ok', ordered items) or ('error', message): what one path makes of a sample."""
    try:
        return "ok", list(fn(sample).items())
    except DecodeError as exc:
        return "error", str(exc)


# Names for the random subsets every comparison also checks (besides the sample's own keys):
# keys of other layers and records, names produced by enrichers, names nobody decodes.
SUBSET_NAMES = (
    "bytes",
    "frames",
    "ipsource",
    "ipdestination",
    "ip6source",
    "macsource",
    "vlan",
    "vni",
    "stack",
    "tcpflags",
    "dnsqname",
    "dnsqtypename",
    "bgpas",
    "bgpdestinationaspath",
    "ipnexthoprouter",
    "ipsourcemaskbits",
    "url",
    "ipsource.1",
    "agent",
    "dns:",
    "24",
    "no-such-key",
)


def subset_outcome(fn, sample, wanted):
    """What flow_attributes_subset gives, with the sample's attribute cache left as it was."""
    cached = sample._attrs
    try:
        return outcome(lambda s: fn(s, wanted), sample)
    finally:
        sample._attrs = cached


class Tally:
    """Counts samples compared and how many the C code decoded itself (no Python fallback).
    Each comparison also checks flow_attributes_subset against the full dict for a random
    set of wanted names (counted in `subsets`, `native_subsets` where no full dict was
    built)."""

    def __init__(self):
        self.samples = 0
        self.native = 0
        self.errors = 0
        self.subsets = 0
        self.native_subsets = 0
        self.rng = random.Random(5)

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
        self.compare_subset(sample, py)

    def compare_subset(self, sample, py) -> None:
        accel = require_accel()
        names = list(SUBSET_NAMES) + ([k for k, _ in py[1]] if py[0] == "ok" else [])
        wanted = frozenset(n for n in names if self.rng.random() < 0.5)
        if sample._attrs is None:
            c = outcome(lambda s: accel.flow_attributes_subset(s, wanted), sample)
            native = sample._attrs is None  # no full dict was needed
            sample._attrs = None
        else:
            c, native = subset_outcome(accel.flow_attributes_subset, sample, wanted), False
        expected = py if py[0] == "error" else ("ok", [kv for kv in py[1] if kv[0] in wanted])
        assert c == expected, (
            f"C subset differs for a {sample.tag} sample, wanted "
            f"{sorted(wanted)}:\nC:  {c}\nPy: {expected}"
        )
        self.subsets += 1
        self.native_subsets += native and c[0] == "ok"

    def datagram(self, buf) -> bool:
        try:
            d = decode_datagram(buf)
        except DecodeError:
            return False
        for s in d.samples:
            if s.kind in ("flow", "discard"):
                self.compare(s)
        return True
