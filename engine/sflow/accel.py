"""Switch the decoder between its C accelerator and the pure-Python path.

The top of engine/sflow/: it hands the C decoder (engine/sflow/_accel.c, loaded by
engine/native.py) the Python tables and fallbacks it needs, then routes decode_datagram(),
FlowSample.attributes() and attributes.flow_attributes_subset() through C or Python.
engine/sflow/__init__.py imports it, so the choice is made before any datagram is decoded.
A build whose setup() refuses these tables (stale: compiled from another checkout) is reported
through engine.native and the Python path is used.
"""

from __future__ import annotations

import socket

from .. import native
from . import attributes, datagram, header, samples
from .errors import DecodeError

MODULE = "engine.sflow._accel"


def _load():
    mod = native.path("decoder")
    if mod is None:
        return None
    try:
        mod.setup(
            {
                "fallback": attributes.python_flow_attributes,
                "flow_type": samples.FlowSample,
                "handlers": attributes.HANDLERS,
                "dns_types": header.DNS_TYPES,
                "write_only": attributes.WRITE_ONLY_HANDLERS,
                "tcp_flags": header.TCP_FLAGS,
                "bin8": header.BIN8,
                "bin2": header.BIN2,
                "bin3": header.BIN3,
                "dscp_names": header.DSCP_NAMES,
            }
        )
        mod.setup_walk(
            {
                "decode": datagram.python_decode_datagram,
                "sample": datagram._sample,
                "agent": datagram._agent,
                "agents": datagram._AGENTS,
                "af_inet": socket.AF_INET,
                "af_inet6": socket.AF_INET6,
                "datagram_type": samples.Datagram,
                "decode_error": DecodeError,
                "tag_names": datagram._TAG_NAMES,
            }
        )
    except (AttributeError, TypeError, ValueError, KeyError) as exc:  # a stale build
        native.fail(
            MODULE,
            f"stale build: setup() refused this version's tables ({exc.__class__.__name__}: {exc})",
        )
        return None
    return mod


def use_accelerator(enabled: bool = True) -> bool:
    """Route decode_datagram(), FlowSample.attributes() and flow_attributes_subset() through
    the C code (if it was built and loaded) or the pure-Python one; returns whether the C code
    is now in use."""
    accel = attributes.accel
    on = enabled and accel is not None
    samples.flow_attributes = attributes.flow_attributes = (
        accel.flow_attributes if on else attributes.python_flow_attributes
    )
    attributes.flow_attributes_subset = (
        accel.flow_attributes_subset if on else attributes.python_flow_attributes_subset
    )
    # AgentStats.samples_seen's loop (engine/agents.py), on the walker's sample slots
    attributes.track_samples = accel.track_samples if on else None
    datagram._walk = accel.decode_datagram if on else datagram.python_decode_datagram
    return on


attributes.accel = _load()
use_accelerator(True)
