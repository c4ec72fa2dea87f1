"""``oui:<mackey>[:name|number]``: the IEEE-registered vendor of a MAC address.

The registry is the IEEE MA-L (OUI) listing. By default it is the copy that PyPI ``netaddr``
ships (netaddr/eui/oui.txt, refreshed with netaddr releases); ``oui.names`` points at another
file in one of these formats:
  - IEEE oui.txt (``00-00-0C   (hex)    Cisco Systems, Inc``), as in Debian's ieee-data;
  - IEEE oui.csv (``MA-L,00000C,Cisco Systems, Inc,address``);
  - one entry a line: ``00000C Cisco``, ``00:00:0C<TAB>Cisco`` (Wireshark manuf style; longer
    MA-M/MA-S prefixes such as ``00:1B:C5:00:00:00/36`` are skipped).
"""

from __future__ import annotations

import csv
import io
import re
from importlib.resources import files
from pathlib import Path

_BASE16 = re.compile(r"^[ \t]*([0-9A-Fa-f]{6})[ \t]+\(base 16\)[ \t]*([^\r\n]*)", re.M)
_HEX = re.compile(r"^([0-9A-Fa-f]{2})[-:.]?([0-9A-Fa-f]{2})[-:.]?([0-9A-Fa-f]{2})(/24)?$")


class OuiError(ValueError):
    pass


def default_registry() -> Path:
    """netaddr's copy of the IEEE registry, found as package data of netaddr.eui (importing
    netaddr.eui is cheap; netaddr.eui.ieee would index the whole file, ~0.4 s)."""
    try:
        found = files("netaddr.eui").joinpath("oui.txt")
    except ModuleNotFoundError:
        raise OuiError("oui: PyPI netaddr is not installed; set oui.names") from None
    return Path(str(found))


def parse(text: str) -> dict[str, str]:
    """OUI (6 upper-case hex digits) -> organization name."""
    names: dict[str, str] = {}
    head = text[:4096]
    if "(base 16)" in head or "(hex)" in head:
        # the "(base 16)" line carries the OUI without separators and the name
        for oui, name in _BASE16.findall(text):
            name = name.strip()
            if name:
                names.setdefault(oui.upper(), name)
        return names
    if head.startswith("Registry,Assignment"):
        for row in csv.reader(io.StringIO(text)):
            if len(row) >= 3 and row[0] == "MA-L" and len(row[1]) == 6:
                names.setdefault(row[1].upper(), row[2].strip())
        return names
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] == "#":
            continue
        fields = line.split(None, 1)
        if len(fields) != 2:
            continue
        m = _HEX.match(fields[0])
        if m is None:
            continue
        name = fields[1].split("\t")
        # manuf: "00:00:0C<TAB>Cisco<TAB>Cisco Systems, Inc" -> the long name when present
        value = (name[-1] if len(name) > 1 else name[0]).strip()
        if value:
            names.setdefault("".join(m.group(1, 2, 3)).upper(), value)
    return names


class OuiTable:
    __slots__ = ("path", "names")

    def __init__(self, path: Path | str | None = None):
        self.path = str(path) if path else str(default_registry())
        try:
            text = Path(self.path).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise OuiError(f"oui.names {self.path}: {exc.strerror}") from None
        self.names = parse(text)
        if not self.names:
            raise OuiError(f"oui.names {self.path}: no OUI entries recognised")

    def __len__(self) -> int:
        return len(self.names)

    def lookup(self, mac) -> str | None:
        oui = oui_of(mac)
        return None if oui is None else self.names.get(oui)


def oui_of(mac) -> str | None:
    """The OUI of a MAC key value: 12 hex digits as flow keys give them, or with separators."""
    if not isinstance(mac, str):
        return None
    if len(mac) == 12:
        return mac[:6].upper()
    digits = mac.replace(":", "").replace("-", "").replace(".", "")
    return digits[:6].upper() if len(digits) == 12 else None
