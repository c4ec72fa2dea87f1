"""Country and ASN answers from MaxMind DB (.mmdb) files, cached per address.

Any MaxMind DB layout that carries the fields works: GeoLite2/GeoIP2 Country, City and ASN,
DB-IP lite, IPinfo lite, and the bundled IPFire-derived files (resources/geo/). Records are
read with ``maxminddb`` (the reader under ``geoip2``) as plain dicts, so a City database
answers country: as well as a Country database does.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import maxminddb


class GeoError(ValueError):
    pass


class CachedLookup:
    """``lookup(ip) -> answer | None`` with a bounded dict in front (answers never change while
    the file is open, so entries do not expire; the oldest goes when the cache is full)."""

    __slots__ = ("cache", "size", "_answer")

    def __init__(self, answer, size: int):
        self.cache: OrderedDict = OrderedDict()  # popitem(last=False) is O(1), unlike a dict's
        self.size = max(1, size)
        self._answer = answer

    def miss(self, ip):
        try:
            value = self._answer(ip)
        except (ValueError, TypeError):
            value = None  # not an address: remember that too
        cache = self.cache
        if len(cache) >= self.size:
            cache.popitem(last=False)
        cache[ip] = value
        return value


class GeoDatabase:
    """One opened .mmdb file."""

    def __init__(self, path: Path | str):
        self.path = str(path)
        try:
            self.reader = maxminddb.open_database(self.path)
        except FileNotFoundError:
            raise GeoError(f"{self.path}: no such file") from None
        except (OSError, maxminddb.InvalidDatabaseError, ValueError) as exc:
            hint = ""
            if self.path.lower().endswith(".dat"):
                # sFlow-RT 2.x articles use geo.country=resources/config/GeoIP.dat
                hint = "; legacy GeoIP .dat files are not read, use a GeoLite2/GeoIP2 .mmdb file"
            raise GeoError(f"{self.path}: not a MaxMind DB file ({exc}){hint}") from None
        meta = self.reader.metadata()
        self.database_type = meta.database_type
        self.ip_version = meta.ip_version
        self.build_epoch = meta.build_epoch

    def record(self, ip):
        if not isinstance(ip, str):
            ip = str(ip)
        if self.ip_version == 4 and ":" in ip:
            return None  # an IPv4-only file has no IPv6 answers
        return self.reader.get(ip)

    def close(self) -> None:
        self.reader.close()

    def describe(self) -> dict:
        return {
            "file": self.path,
            "type": self.database_type,
            "ipVersion": self.ip_version,
            "buildEpoch": self.build_epoch,
        }


def country_answer(record) -> tuple[str, str | None] | None:
    """(ISO code, English name) of a record: the country where the address is used, else the
    country it is registered in (MaxMind leaves ``country`` out for some anycast and
    satellite networks). IPinfo-style flat ``country_code`` records are understood too."""
    if not record:
        return None
    for field in ("country", "registered_country"):
        c = record.get(field)
        if c and c.get("iso_code"):
            return c["iso_code"], (c.get("names") or {}).get("en")
    code = record.get("country_code")
    if isinstance(code, str) and code:
        return code, record.get("country")
    return None


def asn_answer(record) -> tuple[int, str | None] | None:
    """(AS number, organization) of a record (MaxMind/DB-IP, or IPinfo ``asn: "AS15169"``)."""
    if not record:
        return None
    number = record.get("autonomous_system_number")
    org = record.get("autonomous_system_organization")
    if number is None:
        text = record.get("asn")
        if isinstance(text, str) and text[:2].upper() == "AS" and text[2:].isdigit():
            number = int(text[2:])
        elif isinstance(text, int):
            number = text
        org = org or record.get("as_name")
    if number is None:
        return None
    return int(number), (org or None)
