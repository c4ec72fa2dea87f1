"""flowrt: a Python re-implementation of the sFlow-RT real-time analytics engine."""

__version__ = "0.1.0"


def accel_disabled() -> bool:
    """FLOWRT_NO_ACCEL set (not empty, not 0): use the pure-Python paths even where the C
    extensions are built (the pure-Python CI lane, bisecting a C bug)."""
    import os

    return os.environ.get("FLOWRT_NO_ACCEL", "") not in ("", "0")
