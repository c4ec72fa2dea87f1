"""Address and MAC enrichment: ``country:``, ``asn:`` and ``oui:`` key functions.

``attach(engine)`` returns a :class:`GeoService` (``engine.subsystems["geo"]``). Databases open
on first use (a flow that uses the key function), so an engine that never asks pays nothing:
  - ``geo.country`` / ``geo.asn``: MaxMind DB files (GeoLite2/GeoIP2 Country or City, ASN, or
    compatible); default: the bundled IPFire-derived files in resources/geo/.
  - ``geo.country6`` / ``geo.asn6``: optional separate files for IPv6 addresses.
  - ``geo.cache.size``: answers cached per database (default 100000).
  - ``oui.names``: OUI registry file; default: the IEEE registry shipped in PyPI netaddr.
Details: docs/enrichment.md.
"""

from __future__ import annotations

import threading
from pathlib import Path

from .. import log
from ..bundled import RESOURCES as _BUNDLED
from . import keyfuncs  # noqa: F401  registers country:, asn:, oui:
from .mmdb import CachedLookup, GeoDatabase, GeoError, asn_answer, country_answer
from .oui import OuiError, OuiTable

RESOURCES = _BUNDLED / "geo"
BUNDLED = {
    "geo.country": RESOURCES / "flowrt-country.mmdb",
    "geo.asn": RESOURCES / "flowrt-asn.mmdb",
}
DEFAULT_CACHE_SIZE = 100000


class GeoService:
    def __init__(self, props=None, home: Path | str = "."):
        self.props = props if props is not None else {}
        self.home = Path(home)
        value = self.props.get("geo.cache.size") or DEFAULT_CACHE_SIZE
        try:
            self.cache_size = int(float(value))
        except ValueError:
            self.cache_size = -1
        if self.cache_size < 1:
            log.severe(
                f"property geo.cache.size={value!r} is not a positive number; "
                f"using {DEFAULT_CACHE_SIZE}"
            )
            self.cache_size = DEFAULT_CACHE_SIZE
        self._lock = threading.Lock()
        self._opened: dict[str, GeoDatabase | GeoError | None] = {}  # by property
        self._lookups: dict[str, CachedLookup | GeoError] = {}  # "country" / "asn"
        self._oui: OuiTable | OuiError | None = None

    # -- files -------------------------------------------------------------------------------
    def path_of(self, prop: str) -> Path | None:
        value = (self.props.get(prop) or "").strip()
        if not value:
            return BUNDLED.get(prop)
        path = Path(value)
        return path if path.is_absolute() else self.home / path

    def _database(self, prop: str) -> GeoDatabase | None:
        if prop not in self._opened:
            path = self.path_of(prop)
            if path is None:
                self._opened[prop] = None
            else:
                try:
                    db = GeoDatabase(path)
                    log.info(f"{prop}: {db.database_type} database {path}")
                    self._opened[prop] = db
                except GeoError as exc:
                    log.warning(f"{prop}: {exc}")
                    self._opened[prop] = GeoError(f"{prop}={path}: {str(exc).split(': ', 1)[-1]}")
        db = self._opened[prop]
        if isinstance(db, GeoError):
            raise db
        return db

    def lookup(self, kind: str) -> CachedLookup:
        """The cached lookup for ``country`` or ``asn``: ``.cache`` (ip -> answer) and
        ``.miss(ip)``. An answer is a tuple (code/number, name/org, both) or None.
        Raises GeoError when the configured file cannot be used."""
        with self._lock:
            found = self._lookups.get(kind)
            if found is None:
                try:
                    found = self._build(kind)
                except GeoError as exc:
                    found = exc
                self._lookups[kind] = found
        if isinstance(found, GeoError):
            raise found
        return found

    def _build(self, kind: str) -> CachedLookup:
        prop = "geo." + kind
        main = self._database(prop)
        v6 = self._database(prop + "6") if self.props.get(prop + "6") else None
        if main is None and v6 is None:
            raise GeoError(f"{kind}: no database (set {prop})")
        decode = country_answer if kind == "country" else asn_answer

        def answer(ip):
            db = v6 if v6 is not None and ":" in str(ip) else main
            if db is None:
                return None
            found = decode(db.record(ip))
            if found is None:
                return None
            first, second = found
            both = f"{first} {second}" if second else str(first)
            return first, second, both

        return CachedLookup(answer, self.cache_size)

    def oui(self) -> OuiTable:
        with self._lock:
            if self._oui is None:
                value = (self.props.get("oui.names") or "").strip()
                path = None
                if value:
                    path = Path(value) if Path(value).is_absolute() else self.home / value
                try:
                    self._oui = OuiTable(path)
                    log.fine(f"oui: {len(self._oui)} vendors from {self._oui.path}")
                except OuiError as exc:
                    log.warning(str(exc))
                    self._oui = exc
        if isinstance(self._oui, OuiError):
            raise self._oui
        return self._oui

    # -- engine ------------------------------------------------------------------------------
    async def stop(self) -> None:
        for db in self._opened.values():
            if isinstance(db, GeoDatabase):
                db.close()

    def json(self) -> dict:
        out: dict = {}
        for prop, db in self._opened.items():
            out[prop] = db.describe() if isinstance(db, GeoDatabase) else str(db)
        for kind, lk in self._lookups.items():
            if isinstance(lk, CachedLookup):
                out[kind + "Cached"] = len(lk.cache)
        if isinstance(self._oui, OuiTable):
            out["oui"] = {"file": self._oui.path, "entries": len(self._oui)}
        return out


def attach(engine) -> GeoService:
    return GeoService(engine.props, getattr(engine, "home", "."))
