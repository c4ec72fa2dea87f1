"""Log lines in sFlow-RT's format: 2016-09-24T00:57:10+0000 INFO: Listening, sFlow port 6343."""

from __future__ import annotations

import collections
import logging
import sys
import time

FINE = 5
logging.addLevelName(FINE, "FINE")
logging.addLevelName(logging.ERROR, "SEVERE")
logging.addLevelName(logging.CRITICAL, "SEVERE")

LOGGER_NAME = "flowrt"
log = logging.getLogger(LOGGER_NAME)

# Recent lines kept for the status UI (/log/json); bounded so a chatty script costs nothing.
recent: collections.deque = collections.deque(maxlen=1000)


class SflowRtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(record.created))
        text = f"{stamp} {record.levelname}: {record.getMessage()}"
        if record.exc_info and record.levelno >= logging.ERROR:
            text += "\n" + self.formatException(record.exc_info)
        return text


class _RecentHandler(logging.Handler):
    _last = 0.0

    def emit(self, record: logging.LogRecord) -> None:
        # emit() runs under the handler lock, but record.created was taken before it, so two
        # threads logging at once could append out of time order; keep the deque monotonic.
        stamp = self._last = max(record.created, self._last)
        recent.append(
            {"time": int(stamp * 1000), "level": record.levelname, "message": record.getMessage()}
        )


def setup(level: str = "INFO", stream=None) -> logging.Logger:
    """Configure the flowrt logger once; later calls only change the level."""
    if not getattr(log, "_flowrt_configured", False):
        handler = logging.StreamHandler(stream or sys.stdout)
        handler.setFormatter(SflowRtFormatter())
        log.addHandler(handler)
        log.addHandler(_RecentHandler())
        log.propagate = False
        log._flowrt_configured = True  # type: ignore[attr-defined]
    levels = {
        "FINE": FINE,
        "FINEST": FINE,
        "INFO": logging.INFO,
        "WARNING": logging.WARNING,
        "SEVERE": logging.ERROR,
    }
    log.setLevel(levels.get(level.upper(), logging.INFO))
    return log


def info(msg: str) -> None:
    log.info(msg)


def warning(msg: str) -> None:
    log.warning(msg)


def severe(msg: str) -> None:
    log.error(msg)


def fine(msg: str) -> None:
    log.log(FINE, msg)


class RateLimited:
    """At most one log line per key (a peer, a source) every ``interval`` seconds; the next
    line says how many were held back. Bounded: keys idle longer than ``interval`` are
    dropped when the table grows past ``max_keys``."""

    def __init__(self, interval: float = 60.0, max_keys: int = 10000):
        self.interval = interval
        self.max_keys = max_keys
        self.state: dict = {}  # key -> [time of the last line, lines held back since]

    def __call__(self, key, emit, message: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        st = self.state.get(key)
        if st is not None and now - st[0] < self.interval:
            st[1] += 1
            return False
        held = st[1] if st is not None else 0
        if len(self.state) >= self.max_keys:
            old = now - self.interval
            for k in [k for k, v in self.state.items() if v[0] < old]:
                del self.state[k]
            if len(self.state) >= self.max_keys:
                self.state.clear()
        self.state[key] = [now, 0]
        emit(message + (f" ({held} more since the last report)" if held else ""))
        return True
