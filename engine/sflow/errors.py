"""Decode errors and the limits every decoder (Python and C) applies.

The bottom of engine/sflow/: nothing here imports another flowrt module, so the reader
(xdr.py), the record declarations and the walker can all raise DecodeError without importing
each other. The C decoders take the same limits from the generated header _layouts.h
(engine/sflow/cheaders.py writes it from this module and samples_layout.py).
"""

from __future__ import annotations

MAX_SAMPLES = 1024  # samples in one datagram
MAX_RECORDS = 1024  # records in one sample
MAX_STRING = 65535  # no sFlow string can be longer than a datagram
MAX_ARRAY = 1000  # AS paths, communities, label stacks, MAC lists (goflow2's limit)
MAX_HEADER = 65535  # bytes of a sampled header


class DecodeError(ValueError):
    """The bytes are not a well-formed sFlow datagram (or sample, or record)."""
