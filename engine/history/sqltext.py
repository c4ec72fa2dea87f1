"""SQL text: literals, TabSeparated rows and the JSONCompact answers, shared by the backends."""
from __future__ import annotations

import json

_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r",
                              "\0": "\\0"})


def string(s) -> str:
    """A ClickHouse string literal (backslash escapes, as both old and new servers read)."""
    s = str(s)
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def strings(values) -> str:
    return ", ".join(string(v) for v in values)


def tsv_field(v) -> str:
    if v.__class__ is str:
        return v.translate(_TSV_ESCAPES)
    if v.__class__ is float:
        return repr(v)
    return str(v)


def tsv(rows) -> str:
    """Rows of str/int/float as TabSeparated text (one line per row). Most rows need no
    escaping: they are joined as they are, and only a row whose text shows a tab too many or
    a character TSV escapes is made again field by field (3x faster on the writer thread)."""
    out = []
    for row in rows:
        line = "\t".join(map(str, row))
        if line.count("\t") != len(row) - 1 or "\\" in line or "\n" in line or "\r" in line \
                or "\0" in line:
            line = "\t".join([tsv_field(v) for v in row])
        out.append(line)
    out.append("")
    return "\n".join(out)


_INT_TYPES = ("UInt64", "Int64", "UInt128", "Int128", "UInt256", "Int256")


def parse_json_compact(text: str | bytes) -> list[list]:
    """The ``data`` rows of a FORMAT JSONCompact answer, with 64-bit integers (quoted by old
    servers) as ints."""
    if not text:
        return []
    doc = json.loads(text)
    meta = doc.get("meta") or []
    rows = doc.get("data") or []
    quoted = [i for i, m in enumerate(meta) if str(m.get("type", "")).startswith(_INT_TYPES)
              or str(m.get("type", "")).startswith(("Nullable(UInt64", "Nullable(Int64"))]
    if quoted:
        for row in rows:
            for i in quoted:
                if isinstance(row[i], str):
                    row[i] = int(row[i])
    return rows
