"""flowrt entry point: ./start.sh -Dname=value ..."""
from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
from pathlib import Path

from aiohttp import web

from . import __version__, collector, log, props
from .core import Engine


async def run(engine: Engine, ready: asyncio.Event | None = None,
              stop: asyncio.Event | None = None) -> None:
    p = engine.props
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    await engine.start()
    transport, _ = await collector.start(engine)
    runner = web.AppRunner(__import__("engine.rest", fromlist=["build_app"]).build_app(engine),
                           access_log=None, handle_signals=False)
    await runner.setup()
    host = p.get_str("http.hostname", "") or None
    port = p.get_int("http.port", 8008)
    site = web.TCPSite(runner, host=host, port=port, reuse_address=True)
    await site.start()
    log.info(f"Listening, HTTP port {port}")
    engine.http_port = port
    # what start-up made (modules, apps, scripts' bridges) lives as long as the process: out of
    # the collector's sight, so a full collection walks only what ingest and queries keep
    gc.collect()
    gc.freeze()
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        log.info("Stopping")
        transport.close()
        await runner.cleanup()
        await engine.stop()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    home = Path(os.environ.get("FLOWRT_HOME", Path(__file__).resolve().parent.parent))
    try:
        properties, rest = props.load(argv, home=home)
    except props.PropertyError as exc:
        print(f"flowrt: {exc}", file=sys.stderr)
        return 2
    if rest:
        print(f"flowrt: unexpected arguments {rest}; properties are given as -Dname=value",
              file=sys.stderr)
        return 2
    log.setup(properties.get_str("log.level", "INFO") or "INFO")
    os.chdir(home)  # relative paths (apps/, store/, script.file) resolve against home, as in sFlow-RT
    log.info(f"Starting flowrt {__version__}")
    try:
        engine = Engine(properties, home)
        asyncio.run(run(engine))
    except OSError as exc:
        log.severe(f"cannot start: {exc}")
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
