#!/usr/bin/env python3
"""Rebuild the bundled country and ASN databases from the IPFire location database.

The bundled files (flowrt-country.mmdb, flowrt-asn.mmdb) are MaxMind DB files in the
GeoLite2-Country / GeoLite2-ASN layout, so the code that reads a user's MaxMind files reads
them too. Source: Debian's libloc-database package (the IPFire location database,
CC BY-SA 4.0), read with Debian's python3-location; written with PyPI mmdb-writer (MIT).

    apt-get install libloc-database python3-location
    pip install mmdb-writer
    PYTHONPATH=/usr/lib/python3/dist-packages python resources/geo/build_from_libloc.py

Takes a few minutes. Adjacent networks with the same answer are merged first, which keeps
the files small.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
# libloc's special "countries" (anonymous proxy, satellite, anycast, ...) are not countries
NOT_COUNTRIES = {"", "A1", "A2", "A3", "A4", "A5", "A6", "XD", "XX"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default="/var/lib/location/database.db")
    ap.add_argument("--out", default=str(HERE))
    args = ap.parse_args(argv)

    import location  # Debian python3-location
    from mmdb_writer import MMDBWriter, MmdbU32
    from netaddr import IPSet

    db = location.Database(args.db)
    created = time.strftime("%Y-%m-%d", time.gmtime(db.created_at))
    countries = {c.code: (c.name, c.continent_code) for c in db.countries}
    by_country: dict[str, list[str]] = defaultdict(list)
    by_asn: dict[int, list[str]] = defaultdict(list)
    t0 = time.time()
    for net in db.networks_flattened:
        cidr = str(net)
        if net.country_code in countries and net.country_code not in NOT_COUNTRIES:
            by_country[net.country_code].append(cidr)
        if net.asn:
            by_asn[net.asn].append(cidr)
    print(
        f"read {db.vendor} database of {created}: {len(by_country)} countries, "
        f"{len(by_asn)} ASes in {time.time() - t0:.0f}s",
        file=sys.stderr,
    )

    credit = (
        f"IPFire location database of {created} ({db.license}), "
        "https://location.ipfire.org/, converted by flowrt"
    )

    w = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        languages=["en"],
        database_type="flowrt-Country (compat=Country)",
        description=credit,
    )
    for code, nets in sorted(by_country.items()):
        name, continent = countries[code]
        record = {"country": {"iso_code": code, "names": {"en": name}}}
        if continent:
            record["continent"] = {"code": continent}
        w.insert_network(IPSet(nets), record)
    _write(w, Path(args.out) / "flowrt-country.mmdb")
    print(f"country done {time.time() - t0:.0f}s", file=sys.stderr)

    w = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        languages=["en"],
        database_type="flowrt-ASN (compat=GeoLite2-ASN)",
        description=credit,
    )
    for asn, nets in sorted(by_asn.items()):
        record = {"autonomous_system_number": MmdbU32(asn)}
        a = db.get_as(asn)
        if a is not None and a.name:
            record["autonomous_system_organization"] = a.name
        w.insert_network(IPSet(nets), record)
    _write(w, Path(args.out) / "flowrt-asn.mmdb")
    print(f"asn done {time.time() - t0:.0f}s", file=sys.stderr)
    return 0


def _write(writer, dest: Path) -> None:
    # written uncompressed: the reader maps the file (git compresses it in the repository)
    tmp = dest.with_suffix(".tmp")
    writer.to_db_file(str(tmp))
    os.replace(tmp, dest)
    print(f"wrote {dest} ({dest.stat().st_size} bytes)", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
