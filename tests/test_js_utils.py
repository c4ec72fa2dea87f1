"""Utility pieces behind script globals: number/date formats, baselines, the store."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from jsapi import baseline, formats
from jsapi.store import Store


@pytest.mark.parametrize(
    "number,pattern,expected",
    [
        (1234567.891, "#,##0 seconds", "1,234,568 seconds"),
        (12.5, "0'%' difference", "12% difference"),  # HALF_EVEN, quoted percent is literal
        (13.5, "0'%' difference", "14% difference"),
        (1234, "#,### samples", "1,234 samples"),
        (0.256, "0.0%", "25.6%"),
        (-3.14159, "0.00", "-3.14"),
        (0, "#,###", "0"),
        (5, "000", "005"),
        (1234.5, "#,##0.00", "1,234.50"),
        (0.5, "#.##", ".5"),
        (-0.001, "0.0", "0.0"),
        (1e9, "#,##,###", "1,000,000,000"),
        (7, "'#'0", "#7"),
        (3, "0 'o''clock'", "3 o'clock"),
    ],
)
def test_format_number(number, pattern, expected):
    assert formats.format_number(number, pattern) == expected


def test_format_date_fields():
    local = dt.datetime(2020, 3, 9, 23, 31, 23, 456000).astimezone()
    ms = local.timestamp() * 1000
    assert formats.format_date(ms, "yyyy-MM-dd HH:mm:ss.SSS") == "2020-03-09 23:31:23.456"
    assert formats.format_date(ms, "EEE, d MMM yy h:mm a") == "Mon, 9 Mar 20 11:31 PM"
    assert formats.format_date(ms, "EEEE MMMM") == "Monday March"
    assert formats.format_date(ms, "'at' HH'h'") == "at 23h"
    iso = local.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")
    assert formats.format_date(iso, "yyyyMMddHHmm") == "202003092331"
    with pytest.raises(TypeError):
        formats.format_date(None, "yyyy")


def test_baseline_learning_normal_high_low():
    b = baseline.Baseline(window=4, sensitivity=2, repeat=2)
    assert [b.check(v) for v in (10, 12, 10, 12)] == ["learning"] * 4
    assert b.statistics()["mean"] == 11
    assert b.check(11) == "normal"
    assert b.check(100) == "normal"  # one outlier is not enough (repeat=2)
    assert b.check(1000) == "high"
    b.reset()
    assert b.statistics() is None and b.check(5) == "learning"
    b = baseline.Baseline(window=10, sensitivity=2, repeat=2)
    for v in (100, 101) * 5:
        b.check(v)
    assert [b.check(0), b.check(-5)] == ["normal", "low"]
    with pytest.raises(ValueError):
        baseline.Baseline(window=1)


def test_store_keys_values_and_escaping(tmp_path):
    s = Store(tmp_path / "x~y.js")
    assert s.get("a") is None and s.keys() == []
    for key in ("a", "../escape", ".hidden", "", "sp ace/ü"):
        s.set(key, {"k": key})
    assert sorted(s.keys()) == sorted(["a", "../escape", ".hidden", "", "sp ace/ü"])
    assert all(p.parent == tmp_path / "x~y.js" for p in (tmp_path / "x~y.js").iterdir())
    assert not (tmp_path / "escape").exists()
    assert s.get("../escape") == {"k": "../escape"}
    s.delete("a")
    s.delete("a")
    assert s.get("a") is None
    (tmp_path / "x~y.js" / "junk").write_text("{not json")
    assert s.get("junk") is None
    assert json.loads((tmp_path / "x~y.js" / "%2Ehidden").read_text()) == {"k": ".hidden"}
