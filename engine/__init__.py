"""flowrt: a Python re-implementation of the sFlow-RT real-time analytics engine."""

__version__ = "0.1.0"
