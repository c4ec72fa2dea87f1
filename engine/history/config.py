"""The ``history.*`` properties (docs/history.md has the table)."""
from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

from .backends import ServerSpec, parse_servers
from .schema import ident


@dataclass
class HistoryConfig:
    enabled: bool = True
    disabled_by: str = ""             # the property that switched history off
    servers: list[ServerSpec] | None = None     # None: the embedded chDB store
    database: str = "flowrt"
    cluster: str | None = None
    node: str = field(default_factory=socket.gethostname)
    path: Path = Path("history")
    interval: float = 60.0
    days: int = 30
    flows: str = ""                   # "" (definitions asking), "all", or names
    flow_names: frozenset = frozenset()
    keys: int = 1000
    metrics: frozenset | None = None  # None: every numeric metric; empty: none
    events: bool = True
    buffer: int = 500_000
    batch: int = 100_000
    flush: float = 5.0
    retry: float = 30.0
    timeout: float = 10.0

    def flow_limit(self, spec) -> int:
        """0 when a flow definition is not recorded, else the most keys kept per interval:
        its own ``history`` option (true: ``history.keys``; a number: that many), or the
        ``history.flows`` property (``all`` or a list of names)."""
        h = spec.history
        if h is True:
            return self.keys
        if h:
            return int(h)
        if self.flows == "all" or spec.name in self.flow_names:
            return self.keys
        return 0


def from_props(props, home: Path | str) -> HistoryConfig:
    """Raises ValueError naming the property when a value is wrong."""
    def text(name, default=""):
        v = props.get_str(name) if props is not None else None
        return default if v is None or v.strip() == "" else v.strip()

    def number(name, default, lo, cast=float):
        raw = text(name)
        if raw == "":
            return default
        try:
            v = float(raw)
        except ValueError:
            raise ValueError(f"{name}={raw!r} is not a number") from None
        if not v >= lo:
            raise ValueError(f"{name}={raw!r} must be at least {lo:g}")
        return cast(v)

    c = HistoryConfig()
    c.enabled = text("history.enabled", "yes").lower() in ("yes", "true", "on", "1")
    if not c.enabled:
        c.disabled_by = "history.enabled=no"
    servers = text("history.clickhouse")
    if servers.lower() in ("off", "no", "none", "false"):
        c.enabled = False
        c.disabled_by = c.disabled_by or "history.clickhouse=off"
    elif servers:
        c.servers = parse_servers(servers)
        user = text("history.user")
        password = props.get_str("history.password") if props is not None else None
        for s in c.servers:
            if user and s.user is None:
                s.user = user
            if password and s.password is None:
                s.password = password
    c.database = ident(text("history.database", "flowrt"))
    cluster = text("history.cluster")
    c.cluster = ident(cluster) if cluster else None
    c.node = text("history.node", socket.gethostname())
    path = Path(text("history.path", "history"))
    c.path = path if path.is_absolute() else Path(home) / path
    c.interval = number("history.interval", 60.0, 1.0)
    c.days = number("history.days", 30, 0, int)
    flows = text("history.flows")
    if flows.lower() == "all":
        c.flows = "all"
    elif flows:
        c.flow_names = frozenset(n.strip() for n in flows.split(",") if n.strip())
    c.keys = number("history.keys", 1000, 1, int)
    metrics = text("history.metrics", "all")
    if metrics.lower() == "all":
        c.metrics = None
    elif metrics.lower() in ("none", "no", "off"):
        c.metrics = frozenset()
    else:
        c.metrics = frozenset(m.strip() for m in metrics.split(",") if m.strip())
    c.events = text("history.events", "yes").lower() in ("yes", "true", "on", "1")
    c.buffer = number("history.buffer", 500_000, 1, int)
    c.batch = number("history.batch", 100_000, 1, int)
    c.flush = number("history.flush", 5.0, 0.01)
    c.retry = number("history.retry", 30.0, 0.05)
    c.timeout = number("history.timeout", 10.0, 0.1)
    return c
