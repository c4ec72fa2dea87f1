"""flowrt entry point: ./start.sh -Dname=value ..."""
from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from . import __version__, collector, log, props
from .core import Engine
from .http_server import HttpServer


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
    transport = server = None
    try:
        transport, _ = await collector.start(engine)
        server = HttpServer(engine)
        host = p.get_str("http.hostname", "") or None
        port = await server.start(host, p.get_int("http.port", 8008))
        log.info(f"Listening, HTTP port {port}" + (" (HTTPS)" if server.tls else ""))
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
    except (OSError, props.PropertyError) as exc:
        log.severe(f"cannot start: {exc}")
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
