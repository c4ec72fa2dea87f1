"""sFlow: bytes -> datagrams -> samples -> records.

The contract every consumer relies on:

- ``decode_datagram(buf) -> Datagram`` walks the datagram and sample headers eagerly (so a
  malformed datagram raises ``DecodeError`` before any sample is handed on) and leaves the
  records inside each sample undecoded until asked.
- ``Datagram``: version, agent (str), sub_agent, seq, uptime (ms), samples (list).
- Samples have ``kind``: "flow" (0:1, 0:3), "counter" (0:2, 0:4), "discard" (0:5),
  "rtmetric" (4300:1002), "rtflow" (4300:1003); and agent, tag ("e:f"), seq, ds_class,
  ds_index, data_source ("3" for an ifIndex, "2.1" for other classes).
  Flow and discard samples add sampling_rate, sample_pool, drops, input, output,
  input_format, output_format (discard: reason) and ``attributes()`` -> dict of sFlow-RT flow
  keys (cached). Every sample has ``records()`` -> list of dicts named as sflowtool names them.

Modules, bottom to top (each imports only those before it; tests/test_import_cycles.py):
errors, registry, sample_layouts, wire, header, xdr -> flow_keys -> flow_records,
counter_records -> records -> attributes -> samples -> custom_samples, v2v4 -> datagram ->
accel; encode (on wire, the registry and sample_layouts), gen, pcap, packets beside.
"""

from . import accel  # noqa: F401  (chooses the C or Python decoder, once)
from .datagram import decode_datagram
from .errors import DecodeError
from .samples import CounterSample, Datagram, DiscardSample, FlowSample

__all__ = [
    "CounterSample",
    "Datagram",
    "DecodeError",
    "DiscardSample",
    "FlowSample",
    "decode_datagram",
]
