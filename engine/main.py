"""flowrt entry point: `flowrt [--home DIR] -Dname=value ...` (./start.sh in a checkout),
`flowrt get-app USER PROJECT`; `flowrt --help` lists the options."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import signal
import sys
from pathlib import Path

from . import __version__, bundled, collector, log, props
from .core import Engine
from .http_server import HttpServer


async def run(
    engine: Engine, ready: asyncio.Event | None = None, stop: asyncio.Event | None = None
) -> None:
    p = engine.props
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    await engine.start()
    transport = server = None
    try:
        transport, _ = await collector.start(engine)
        server = HttpServer(engine)
        host = p.get_str("http.hostname", "") or None
        port = await server.start(host, p.get_int("http.port", 8008))
        log.info(f"Listening, HTTP port {port}" + (" (HTTPS)" if server.tls else ""))
        # what start-up made (modules, apps, scripts' bridges) lives as long as the process:
        # out of the collector's sight, so a full collection walks only what ingest and
        # queries keep
        gc.collect()
        gc.freeze()
        if ready is not None:
            ready.set()
        await stop.wait()
    finally:
        log.info("Stopping")
        if transport is not None:
            transport.close()
        if server is not None:
            await server.stop()
        await engine.stop()


EPILOG = """\
commands:
  get-app USER PROJECT   install the sFlow-RT app github.com/USER/PROJECT into HOME/apps/
  get-app url ZIP        install an app from a zip URL or file (restart flowrt to run it)

home directory (apps/, store/, conf.d/): --home DIR, else $FLOWRT_HOME, else the current
directory (./start.sh in a checkout uses the checkout).

properties, lowest to highest precedence: built-in defaults, HOME/conf.d/*.conf (name=value
lines), -Dsystem.propertyFiles=a.conf,b.conf, -D items in $RTPROP, -D arguments. Every
property and its default: the Configuration table in README.md, and the commented example
{example}
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowrt",
        allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="flowrt [--home DIR] [-Dname=value ...]\n       flowrt [--home DIR] get-app "
        "USER PROJECT | get-app url ZIP\n       flowrt --version | --help",
        description="flowrt: real-time sFlow analytics, a drop-in replacement for sFlow-RT "
        "(sFlow on UDP 6343, REST API and web UI on http://localhost:8008/).",
        epilog=EPILOG.format(example=bundled.example_conf()),
    )
    parser.add_argument("--version", action="version", version=f"flowrt {__version__}")
    parser.add_argument(
        "--home",
        metavar="DIR",
        help="home directory (default: $FLOWRT_HOME, else the current directory)",
    )
    parser.add_argument(
        "-D",
        dest="properties",
        action="append",
        default=[],
        metavar="name=value",
        help="set a system property, as in sFlow-RT (-Dhttp.port=8008)",
    )
    parser.add_argument("command", nargs="*", help=argparse.SUPPRESS)
    return parser


def home_dir(option: str | None, environ=os.environ) -> Path:
    """--home, else FLOWRT_HOME, else the current directory (absolute, symlinks kept)."""
    chosen = option or environ.get("FLOWRT_HOME") or os.getcwd()
    return Path(os.path.abspath(os.path.expanduser(chosen)))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    home = home_dir(args.home)
    if args.command[:1] == ["get-app"]:
        from jsapi import getapp

        return getapp.main(args.command[1:], home=home, prog="flowrt get-app")
    if args.command:
        print(
            f"flowrt: unexpected arguments {args.command}; properties are given as "
            "-Dname=value (flowrt --help)",
            file=sys.stderr,
        )
        return 2
    if not home.is_dir():
        print(f"flowrt: home directory {home} does not exist", file=sys.stderr)
        return 2
    try:
        properties, _ = props.load([f"-D{item}" for item in args.properties], home=home)
    except props.PropertyError as exc:
        print(f"flowrt: {exc}", file=sys.stderr)
        return 2
    log.setup(properties.get_str("log.level", "INFO") or "INFO")
    os.chdir(
        home
    )  # relative paths (apps/, store/, script.file) resolve against home, as in sFlow-RT
    log.info(f"Starting flowrt {__version__}, home {home}")
    try:
        engine = Engine(properties, home)
        asyncio.run(run(engine))
    except (OSError, props.PropertyError) as exc:
        log.severe(f"cannot start: {exc}")
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
