"""country: and asn: against MaxMind's test databases, checked against the table of expected
answers in ../shared/testdata/geoip/README.md (parsed here, so the table is the oracle)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import engine.flows.keyfuncs  # noqa: F401  built-in if:, or:, null:, concat: ...
from engine.flows.keys import compile_key
from engine.flows.registry import KeyFunctionError
from engine.geo import BUNDLED, GeoService
from paths import GEOIP_DATA

GEOIP = GEOIP_DATA
if not GEOIP.is_dir():
    GEOIP = Path(__file__).resolve().parent.parent.parent / "shared" / "testdata" / "geoip"
pytestmark = pytest.mark.skipif(
    not (GEOIP / "README.md").is_file(), reason="shared GeoIP test data not present"
)

COUNTRY_DBS = ("GeoIP2-Country-Test", "GeoLite2-Country-Test")


def _expected_rows():
    """ip -> {column: cell} from the README's "Expected lookups" table."""
    rows = {}
    header = None
    for line in (GEOIP / "README.md").read_text().splitlines():
        if not line.startswith("|"):
            header = None if not line.strip() else header
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == "IP":
            header = cells
            continue
        if header is None or set(cells[0]) <= set("-: "):
            continue
        for ip in cells[0].split(","):
            rows[ip.strip()] = dict(zip(header[1:], cells[1:]))
    return rows


ROWS = _expected_rows()


def _expected_country(cell: str):
    if cell.startswith("same"):
        return "same"
    m = re.match(r"^([A-Z]{2})/([A-Z]{2})/([A-Z]{2})", cell)
    return m.group(1) if m else None  # "-" and "no country, ..." give nothing


def _expected_asn(cell: str):
    m = re.match(r"^(\d+)(?:,? (.*?))? \(/\d+\)$", cell)
    if not m:
        return None
    org = m.group(2)
    return int(m.group(1)), (None if org in (None, "no org name") else org)


class FakeEngine:
    def __init__(self, props):
        self.props = props
        self.subsystems = {"geo": GeoService(props)}


def _engine(country_db: str = COUNTRY_DBS[0], **extra):
    props = {
        "geo.country": str(GEOIP / f"{country_db}.mmdb"),
        "geo.asn": str(GEOIP / "GeoLite2-ASN-Test.mmdb"),
    }
    props.update(extra)
    return FakeEngine(props)


def test_the_readme_table_was_read():
    assert len(ROWS) >= 30
    assert "89.160.20.112" in ROWS and "8.8.8.8" in ROWS


@pytest.mark.parametrize("db", COUNTRY_DBS)
def test_country_codes_match_the_readme(db):
    eng = _engine(db)
    key = compile_key("country:ipsource", eng).extract
    checked = 0
    for ip, cols in ROWS.items():
        want = _expected_country(cols[db])
        if want == "same":
            want = _expected_country(cols[COUNTRY_DBS[0]])
        attr = "ip6source" if ":" in ip else "ipsource"
        k = key if attr == "ipsource" else compile_key("country:ip6source", eng).extract
        assert k({attr: ip}) == want, (db, ip, cols[db])
        checked += 1
    assert checked == len(ROWS)


def test_asn_number_descr_and_both_match_the_readme():
    eng = _engine()
    number = compile_key("asn:ipsource", eng).extract
    explicit = compile_key("asn:ipsource:number", eng).extract
    descr = compile_key("asn:ipsource:descr", eng).extract
    both = compile_key("asn:ipsource:both", eng).extract
    answered = 0
    for ip, cols in ROWS.items():
        want = _expected_asn(cols["GeoLite2-ASN-Test"])
        attrs = {"ipsource": ip}
        if want is None:
            assert number(attrs) is None and descr(attrs) is None and both(attrs) is None, ip
            continue
        answered += 1
        n, org = want
        assert number(attrs) == n and explicit(attrs) == n
        assert descr(attrs) == org
        assert both(attrs) == (f"{n} {org}" if org else str(n))
    assert answered >= 12


def test_country_name_and_both():
    eng = _engine()
    name = compile_key("country:ipsource:name", eng).extract
    both = compile_key("country:ipsource:both", eng).extract
    assert name({"ipsource": "89.160.20.112"}) == "Sweden"
    assert both({"ipsource": "89.160.20.112"}) == "SE Sweden"
    assert name({"ipsource": "10.0.0.1"}) is None


def test_country_is_where_used_not_where_registered():
    # 81.2.69.142: country GB, registered_country US
    assert compile_key("country:ipsource", _engine()).extract({"ipsource": "81.2.69.142"}) == "GB"


def test_missing_or_non_address_values_give_nothing():
    eng = _engine()
    key = compile_key("country:ipsource", eng).extract
    assert key({}) is None
    assert key({"ipsource": "not-an-address"}) is None
    assert key({"ipsource": 12345}) is None
    asn = compile_key("asn:ipdestination", eng).extract
    assert asn({"ipdestination": "999.1.1.1"}) is None


def test_answers_are_cached_and_the_cache_is_bounded():
    eng = _engine(**{"geo.cache.size": "3"})
    key = compile_key("country:ipsource", eng).extract
    lookup = eng.subsystems["geo"].lookup("country")
    assert key({"ipsource": "89.160.20.112"}) == "SE"
    assert "89.160.20.112" in lookup.cache
    # a second extractor shares the cache
    both = compile_key("country:ipsource:both", eng).extract
    assert both({"ipsource": "89.160.20.112"}) == "SE Sweden"
    for ip in ("216.160.83.56", "67.43.156.1", "2001:218::1", "10.0.0.1"):
        key({"ipsource": ip})
    assert len(lookup.cache) == 3
    assert "89.160.20.112" not in lookup.cache  # oldest evicted
    assert key({"ipsource": "89.160.20.112"}) == "SE"


def test_separate_ipv6_database():
    # geo.country6 answers IPv6 addresses; geo.country keeps IPv4
    eng = _engine(
        "GeoLite2-Country-Test", **{"geo.country6": str(GEOIP / "GeoIP2-Country-Test.mmdb")}
    )
    key = compile_key("or:[country:ipsource]:[country:ip6source]", eng).extract
    assert key({"ipsource": "175.16.199.1"}) is None  # only in GeoIP2-Country-Test
    assert key({"ip6source": "2001:220::1"}) == "KR"
    assert key({"ipsource": "89.160.20.112"}) == "SE"


def test_nested_key_functions():
    eng = _engine()
    key = compile_key(
        "if:[first:stack:.:ip:ip6]:ip:[country:ipsource]:[country:ip6source]", eng
    ).extract
    assert key({"stack": "eth.ip.tcp", "ipsource": "89.160.20.112"}) == "SE"
    assert key({"stack": "eth.ip6.udp", "ip6source": "2001:218::1"}) == "JP"
    pair = compile_key("concat:-:[country:ipsource]:[asn:ipsource]", eng).extract
    assert pair({"ipsource": "216.160.83.56"}) == "US-209"
    fallback = compile_key("null:[asn:ipsource:descr]:unknown", eng).extract
    assert fallback({"ipsource": "216.160.83.56"}) == "unknown"  # AS209 has no org name


def test_bad_arguments_and_files_are_clear_errors(tmp_path):
    eng = _engine()
    with pytest.raises(KeyFunctionError, match="unknown attribute"):
        compile_key("country:ipsource:planet", eng)
    with pytest.raises(KeyFunctionError, match="asn"):
        compile_key("asn:ipsource:number:extra", eng)
    bad = tmp_path / "bogus.mmdb"
    bad.write_bytes(b"this is not a database")
    broken = FakeEngine({"geo.country": str(bad), "geo.asn": str(tmp_path / "missing.mmdb")})
    with pytest.raises(KeyFunctionError, match="not a MaxMind DB file"):
        compile_key("country:ipsource", broken)
    with pytest.raises(KeyFunctionError, match="no such file"):
        compile_key("asn:ipsource", broken)
    legacy = tmp_path / "GeoIP.dat"  # as in sFlow-RT 2.x articles
    legacy.write_bytes(b"\0" * 64 + b"\xff\xff\xff\x01")
    with pytest.raises(KeyFunctionError, match="legacy GeoIP .dat"):
        compile_key("country:ipsource", FakeEngine({"geo.country": str(legacy)}))


def test_relative_paths_resolve_against_the_engine_home(tmp_path):
    (tmp_path / "geo").mkdir()
    (tmp_path / "geo" / "c.mmdb").write_bytes((GEOIP / "GeoLite2-Country-Test.mmdb").read_bytes())
    svc = GeoService({"geo.country": "geo/c.mmdb"}, home=tmp_path)
    lookup = svc.lookup("country")
    assert lookup.miss("67.43.156.1")[0] == "BT"


def test_bundled_databases_answer_out_of_the_box():
    eng = FakeEngine({})
    assert eng.subsystems["geo"].path_of("geo.country") == BUNDLED["geo.country"]
    country = compile_key("country:ipsource", eng).extract
    asn = compile_key("asn:ipsource", eng).extract
    country6 = compile_key("country:ip6source", eng).extract
    # RIPE NCC's own address space: stable registrations in any edition of the data
    assert country({"ipsource": "193.0.6.139"}) == "NL"
    assert asn({"ipsource": "193.0.6.139"}) == 3333
    assert country6({"ip6source": "2001:67c:2e8::1"}) == "NL"
    assert country({"ipsource": "10.1.2.3"}) is None
    info = eng.subsystems["geo"].json()
    assert info["geo.country"]["type"].startswith("flowrt-Country")


def test_bundled_databases_read_with_geoip2_too():
    import geoip2.database

    with geoip2.database.Reader(str(BUNDLED["geo.country"])) as r:
        assert r.country("193.0.6.139").country.iso_code == "NL"
    with geoip2.database.Reader(str(BUNDLED["geo.asn"])) as r:
        assert r.asn("193.0.6.139").autonomous_system_number == 3333
