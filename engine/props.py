"""System properties, read the way sFlow-RT reads them.

Precedence, lowest to highest (a later source overrides an earlier one):
  1. built-in defaults (DEFAULTS below)
  2. conf.d/*.conf in file-name order
  3. files named by system.propertyFiles (comma separated, in order)
  4. -D items in the RTPROP environment variable
  5. -D arguments on the command line
This mirrors start.sh in sFlow-RT, which passes ${RTPROP} before "$@" to the JVM, so
command-line arguments win.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Iterable, Mapping

DEFAULTS: dict[str, str] = {
    "http.hostname": "",
    "http.port": "8008",
    "http.log": "no",
    "http.html": "yes",
    "http.readonly": "no",
    "sflow.hostname": "",
    "sflow.port": "6343",
    "sflow.rcvpktsbuffer": "2048000",
    "script.store": "store",
    "events.max": "1000",
    "flows.max": "1000",
}


class PropertyError(ValueError):
    pass


def parse_conf_text(text: str, source: str = "<conf>") -> dict[str, str]:
    """Java-properties style: name=value (or name: value), '#' or '!' comments."""
    out: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        sep = min((i for i in (line.find("="), line.find(":")) if i > 0), default=-1)
        if sep < 0:
            raise PropertyError(f"{source}:{lineno}: expected name=value, got {raw!r}")
        out[line[:sep].strip()] = line[sep + 1 :].strip()
    return out


def parse_d_args(args: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """Split -Dname=value items from the rest; returns (properties, leftovers)."""
    props: dict[str, str] = {}
    rest: list[str] = []
    for arg in args:
        if arg.startswith("-D") and len(arg) > 2:
            name, _, value = arg[2:].partition("=")
            props[name.strip()] = value
        else:
            rest.append(arg)
    return props, rest


class Properties(Mapping[str, str]):
    """Read-only property registry; getSystemProperty() and every module read from it."""

    def __init__(self, values: Mapping[str, str]):
        self._values = dict(values)

    def __getitem__(self, name: str) -> str:
        return self._values[name]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def get_str(self, name: str, default: str | None = None) -> str | None:
        return self._values.get(name, default)

    def get_int(self, name: str, default: int = 0) -> int:
        value = self._values.get(name)
        if value is None or value == "":
            return default
        try:
            return int(float(value))
        except ValueError:
            raise PropertyError(f"property {name}={value!r} is not a number") from None

    def get_float(self, name: str, default: float = 0.0) -> float:
        value = self._values.get(name)
        if value is None or value == "":
            return default
        try:
            return float(value)
        except ValueError:
            raise PropertyError(f"property {name}={value!r} is not a number") from None

    def get_bool(self, name: str, default: bool = False) -> bool:
        value = self._values.get(name)
        if value is None or value == "":
            return default
        return value.strip().lower() in ("yes", "true", "on", "1")

    def names(self) -> list[str]:
        return sorted(self._values)


def load(
    argv: Iterable[str] = (), environ: Mapping[str, str] | None = None, home: Path | str = "."
) -> tuple[Properties, list[str]]:
    """Gather properties from every source; returns (properties, non -D arguments)."""
    environ = os.environ if environ is None else environ
    home = Path(home)
    cli, rest = parse_d_args(argv)
    rtprop, _ = parse_d_args(shlex.split(environ.get("RTPROP", "")))

    merged = dict(DEFAULTS)
    conf_dir = home / "conf.d"
    if conf_dir.is_dir():
        for path in sorted(conf_dir.glob("*.conf")):
            merged.update(parse_conf_text(path.read_text(), str(path)))

    files = (
        cli.get("system.propertyFiles")
        or rtprop.get("system.propertyFiles")
        or merged.get("system.propertyFiles")
    )
    if files:
        for name in (f.strip() for f in files.split(",")):
            if not name:
                continue
            path = Path(name) if Path(name).is_absolute() else home / name
            try:
                merged.update(parse_conf_text(path.read_text(), str(path)))
            except OSError as exc:
                raise PropertyError(f"cannot read property file {path}: {exc.strerror}") from None

    merged.update(rtprop)
    merged.update(cli)
    return Properties(merged), rest
