"""oui: against the IEEE registry that netaddr ships, and against user files (oui.names)."""

from __future__ import annotations

import random

import pytest

import engine.flows.keyfuncs  # noqa: F401  built-in or:, null:
from engine.flows.keys import compile_key
from engine.flows.registry import KeyFunctionError
from engine.geo import GeoService
from engine.geo.oui import default_registry, parse


class FakeEngine:
    def __init__(self, props=None, home="."):
        self.props = props or {}
        self.subsystems = {"geo": GeoService(self.props, home)}


def test_default_registry_agrees_with_netaddr():
    import netaddr

    eng = FakeEngine()
    name = compile_key("oui:macsource", eng).extract
    number = compile_key("oui:macsource:number", eng).extract
    table = eng.subsystems["geo"].oui()
    assert table.path == str(default_registry())
    assert len(table) > 20000
    rng = random.Random(7)
    for oui in rng.sample(sorted(table.names), 200):
        mac = oui + "%06X" % rng.getrandbits(24)
        want = netaddr.OUI(oui).registration().org
        assert name({"macsource": mac}) == want
        assert number({"macsource": mac}) == oui


def test_well_known_vendor_and_unknown_prefixes():
    eng = FakeEngine()
    name = compile_key("oui:macsource:name", eng).extract
    assert "Cisco" in name({"macsource": "00000C07AC01"})
    assert name({"macsource": "00000c07ac01"}) == name({"macsource": "00000C07AC01"})
    assert name({"macsource": "00:00:0c:07:ac:01"}) == name({"macsource": "00000C07AC01"})
    # locally administered (random) MACs are not registered
    assert name({"macsource": "FEFFFFFFFFFF"}) is None
    assert compile_key("oui:macsource:number", eng).extract({"macsource": "FEFFFFFFFFFF"}) is None
    assert name({}) is None
    assert name({"macsource": "xyz"}) is None
    fallback = compile_key("or:[oui:macsource]:macsource", eng).extract
    assert fallback({"macsource": "FEFFFFFFFFFF"}) == "FEFFFFFFFFFF"


IEEE_TXT = """OUI/MA-L                                                    Organization
company_id                                                  Organization
                                                            Address

AA-BB-CC   (hex)\t\tExample Networks Ltd
AABBCC     (base 16)\t\tExample Networks Ltd
\t\t\t\t1 Example Road
\t\t\t\tGB

00-11-22   (hex)\t\tOther Corp.
001122     (base 16)\t\tOther Corp.
\t\t\t\tUS
"""

IEEE_CSV = """Registry,Assignment,Organization Name,Organization Address
MA-L,AABBCC,"Example Networks, Ltd",1 Example Road GB
MA-L,001122,Other Corp.,US
MA-M,0011223,Not a 24-bit prefix,US
"""

MANUF = """# Wireshark-style manuf
AA:BB:CC\tExample\tExample Networks Ltd
00-11-22 Other Corp.
00:1B:C5:00:00:00/36\tLonger prefix\tSkipped
"""


@pytest.mark.parametrize(
    "text,first",
    [
        (IEEE_TXT, "Example Networks Ltd"),
        (IEEE_CSV, "Example Networks, Ltd"),
        (MANUF, "Example Networks Ltd"),
    ],
)
def test_oui_names_file_formats(tmp_path, text, first):
    path = tmp_path / "oui.txt"
    path.write_text(text)
    eng = FakeEngine({"oui.names": str(path)})
    name = compile_key("oui:macdestination", eng).extract
    assert name({"macdestination": "AABBCC000001"}) == first
    assert name({"macdestination": "001122334455"}) == "Other Corp."
    assert name({"macdestination": "00000C000001"}) is None  # not in this file
    assert len(parse(text)) == 2


def test_relative_oui_names_and_bad_files(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "oui.txt").write_text(MANUF)
    eng = FakeEngine({"oui.names": "conf/oui.txt"}, home=tmp_path)
    assert compile_key("oui:macsource", eng).extract({"macsource": "AABBCC000001"})
    missing = FakeEngine({"oui.names": str(tmp_path / "nope.txt")})
    with pytest.raises(KeyFunctionError, match="nope.txt"):
        compile_key("oui:macsource", missing)
    (tmp_path / "empty.txt").write_text("nothing useful here\n")
    with pytest.raises(KeyFunctionError, match="no OUI entries"):
        compile_key("oui:macsource", FakeEngine({"oui.names": str(tmp_path / "empty.txt")}))
    with pytest.raises(KeyFunctionError, match="unknown attribute"):
        compile_key("oui:macsource:vendor", FakeEngine())
