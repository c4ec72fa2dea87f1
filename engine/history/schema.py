"""The history tables and the SQL that manages them.

Everything here is written to the subset of ClickHouse SQL that both Debian's old
clickhouse-server (18.16: no TTL clause, no IPv4 type, no LowCardinality by default) and
current ClickHouse / chDB understand: MergeTree with a custom ``PARTITION BY`` (one partition
per day, dropped for retention), ``Distributed`` and ``Merge`` table engines, plain types.

Each node writes to its *local* tables (``flows_local``, ``metrics_local``, ``events_local``)
on its own server. Queries read the *view* tables (``flows``, ``metrics``, ``events``): a
``Distributed`` table over every shard of ``history.cluster`` when one is set, else a
``Merge`` table over the local one (so queries and Grafana use the same names either way).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    name: str                       # the view name queries read ("flows")
    columns: tuple                  # ((name, type), ...) in insert order
    order_by: str

    @property
    def local(self) -> str:
        return self.name + "_local"

    @property
    def column_names(self) -> tuple:
        return tuple(c for c, _ in self.columns)


FLOWS = Table("flows", (
    ("time", "DateTime"),           # interval start (aligned to a multiple of the interval)
    ("seconds", "UInt32"),          # interval length: the rate is value / seconds
    ("node", "String"),             # the flowrt node that wrote the row (history.node)
    ("name", "String"),             # flow definition name
    ("agent", "String"),
    ("datasource", "String"),
    ("key", "String"),              # key values joined with the definition's fs; "" = the rest
    ("value", "Float64"),           # scaled total over the interval (value x sampling rate)
), "(name, time, key)")

METRICS = Table("metrics", (
    ("time", "DateTime"),           # time the counter sample was processed
    ("node", "String"),
    ("agent", "String"),
    ("datasource", "String"),
    ("metric", "String"),           # sFlow-RT metric name (ifinoctets, load_one, ...)
    ("value", "Float64"),
), "(metric, time, agent, datasource)")

EVENTS = Table("events", (
    ("time", "DateTime"),
    ("timestamp", "UInt64"),        # ms since the epoch, as in /events/json
    ("node", "String"),
    ("eventid", "UInt64"),          # the node's eventID
    ("thresholdid", "String"),
    ("metric", "String"),
    ("agent", "String"),
    ("datasource", "String"),
    ("flowkey", "String"),          # "" unless the threshold watched a flow metric
    ("value", "Float64"),
    ("threshold", "Float64"),
), "(time, thresholdid)")

TABLES = (FLOWS, METRICS, EVENTS)


def ident(name: str) -> str:
    """A database or cluster name as an identifier (refused unless plain: no quoting games)."""
    if not name or not all(c.isalnum() or c == "_" for c in name) or name[0].isdigit():
        raise ValueError(f"{name!r} is not a plain name (letters, digits, _)")
    return name


def create_statements(db: str, cluster: str | None) -> list[str]:
    """DDL making the database, the local tables and the view tables (idempotent)."""
    db = ident(db)
    out = [f"CREATE DATABASE IF NOT EXISTS {db}"]
    for t in TABLES:
        cols = ", ".join(f"{c} {typ}" for c, typ in t.columns)
        out.append(f"CREATE TABLE IF NOT EXISTS {db}.{t.local} ({cols}) ENGINE = MergeTree() "
                   f"PARTITION BY toYYYYMMDD(time) ORDER BY {t.order_by}")
        out.append(view_statement(db, t, cluster))
    return out


def view_engine(cluster: str | None) -> str:
    return "Distributed" if cluster else "Merge"


def view_statement(db: str, t: Table, cluster: str | None) -> str:
    if cluster:
        engine = f"Distributed({ident(cluster)}, {db}, {t.local}, rand())"
    else:
        engine = f"Merge({db}, '^{t.local}$')"
    return f"CREATE TABLE IF NOT EXISTS {db}.{t.name} AS {db}.{t.local} ENGINE = {engine}"


def view_engines_query(db: str) -> str:
    names = ", ".join(f"'{t.name}'" for t in TABLES)
    return (f"SELECT name, engine FROM system.tables WHERE database = '{ident(db)}' "
            f"AND name IN ({names})")


def old_partitions_query(db: str, days: int) -> str:
    """Partitions (YYYYMMDD, the server's time zone) wholly older than ``days`` days."""
    locals_ = ", ".join(f"'{t.local}'" for t in TABLES)
    return (f"SELECT DISTINCT table, partition FROM system.parts WHERE database = '{ident(db)}' "
            f"AND table IN ({locals_}) AND active "
            f"AND toUInt32(partition) < toYYYYMMDD(now() - {int(days) * 86400})")


def drop_partition(db: str, table: str, partition: str) -> str:
    if not partition.isdigit() or table not in {t.local for t in TABLES}:
        raise ValueError(f"unexpected partition {table} {partition!r}")
    return f"ALTER TABLE {ident(db)}.{table} DROP PARTITION {int(partition)}"
