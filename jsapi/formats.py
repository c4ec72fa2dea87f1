"""formatNumber / formatDate: the parts of Java's DecimalFormat and SimpleDateFormat patterns
that sFlow-RT scripts use (English symbols: ',' grouping, '.' decimal point; local time)."""

from __future__ import annotations

import datetime as _dt
import re
from decimal import ROUND_HALF_EVEN, Decimal


def _split_quoted(pattern: str):
    """Yield (is_literal, text) pieces; 'x' quotes literal text, '' is a quote."""
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "'":
            if i + 1 < n and pattern[i + 1] == "'":
                yield True, "'"
                i += 2
                continue
            j, text = i + 1, []
            while j < n:
                if pattern[j] == "'":
                    if j + 1 < n and pattern[j + 1] == "'":  # '' inside quotes: a quote
                        text.append("'")
                        j += 2
                        continue
                    break
                text.append(pattern[j])
                j += 1
            yield True, "".join(text)
            i = j + 1
        else:
            yield False, c
            i += 1


def format_number(number, pattern: str) -> str:
    positive = pattern.split(";")[0] if "'" not in pattern else pattern
    prefix: list[str] = []
    suffix: list[str] = []
    body, state = [], 0
    percent = permille = False
    for literal, text in _split_quoted(positive):
        if not literal and text in "#0,." and state < 2:
            state = 1
            body.append(text)
            continue
        if state == 1:
            state = 2
        if not literal and text == "%":
            percent = True
        elif not literal and text == "\u2030":
            permille = True
        (prefix if state == 0 else suffix).append(text)
    body = "".join(body) or "#"
    int_part, _, frac_part = body.partition(".")
    min_int = max(int_part.count("0"), 0)
    grouping = len(int_part) - int_part.rfind(",") - 1 if "," in int_part else 0
    min_frac = frac_part.count("0")
    max_frac = len(frac_part.replace(",", ""))
    value = Decimal(str(float(number)))
    if percent:
        value *= 100
    elif permille:
        value *= 1000
    negative = value < 0
    value = abs(value).quantize(Decimal(1).scaleb(-max_frac), rounding=ROUND_HALF_EVEN)
    digits = f"{value:f}"
    ip, _, fp = digits.partition(".")
    fp = fp.rstrip("0")
    if len(fp) < min_frac:
        fp = fp + "0" * (min_frac - len(fp))
    ip = ip.lstrip("0")
    if len(ip) < min_int:
        ip = "0" * (min_int - len(ip)) + ip
    if grouping > 0 and ip:
        groups: list[str] = []
        while len(ip) > grouping:
            groups.insert(0, ip[-grouping:])
            ip = ip[:-grouping]
        groups.insert(0, ip)
        ip = ",".join(g for g in groups if g)
    text = ip + ("." + fp if fp else "")
    if not text:
        text = "0"
    if negative and any(ch not in "0.," for ch in text):
        text = "-" + text
    return "".join(prefix) + text + "".join(suffix)


_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def _to_datetime(date) -> _dt.datetime:
    if isinstance(date, (int, float)):
        return _dt.datetime.fromtimestamp(date / 1000.0).astimezone()
    if isinstance(date, str):
        text = date.strip().replace("Z", "+00:00")
        return _dt.datetime.fromisoformat(text).astimezone()
    raise TypeError("formatDate: Date or milliseconds expected")


def _field(letter: str, count: int, d: _dt.datetime) -> str:
    if letter == "y":
        return f"{d.year % 100:02d}" if count == 2 else f"{d.year:0{count}d}"
    if letter == "M":
        if count >= 4:
            return _MONTHS[d.month - 1]
        if count == 3:
            return _MONTHS[d.month - 1][:3]
        return f"{d.month:0{count}d}"
    if letter == "d":
        return f"{d.day:0{count}d}"
    if letter == "H":
        return f"{d.hour:0{count}d}"
    if letter == "h":
        return f"{(d.hour % 12) or 12:0{count}d}"
    if letter == "k":
        return f"{d.hour or 24:0{count}d}"
    if letter == "m":
        return f"{d.minute:0{count}d}"
    if letter == "s":
        return f"{d.second:0{count}d}"
    if letter == "S":
        return f"{d.microsecond // 1000:03d}"[: max(count, 3)]
    if letter == "E":
        day = _DAYS[d.weekday()]
        return day if count >= 4 else day[:3]
    if letter == "a":
        return "AM" if d.hour < 12 else "PM"
    if letter in "Zz":
        off = d.utcoffset() or _dt.timedelta(0)
        minutes = int(off.total_seconds() // 60)
        sign = "+" if minutes >= 0 else "-"
        minutes = abs(minutes)
        if letter == "z":
            return d.tzname() or f"GMT{sign}{minutes // 60:02d}:{minutes % 60:02d}"
        return f"{sign}{minutes // 60:02d}{minutes % 60:02d}"
    if letter == "X":
        off = d.utcoffset() or _dt.timedelta(0)
        if not off:
            return "Z"
        minutes = int(off.total_seconds() // 60)
        sign = "+" if minutes >= 0 else "-"
        minutes = abs(minutes)
        return f"{sign}{minutes // 60:02d}" + (
            "" if count == 1 else (":" if count >= 3 else "") + f"{minutes % 60:02d}"
        )
    return letter * count


def format_date(date, pattern: str) -> str:
    d = _to_datetime(date)
    out = []
    for literal, text in _split_quoted_runs(pattern):
        if literal:
            out.append(text)
        else:
            out.append(_field(text[0], len(text), d))
    return "".join(out)


def _split_quoted_runs(pattern: str):
    pieces = list(_split_quoted(pattern))
    i = 0
    while i < len(pieces):
        literal, text = pieces[i]
        if literal or not re.match(r"[A-Za-z]", text):
            yield True, text
            i += 1
            continue
        j = i
        while j < len(pieces) and not pieces[j][0] and pieces[j][1] == text:
            j += 1
        yield False, text * (j - i)
        i = j
