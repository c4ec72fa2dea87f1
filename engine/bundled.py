"""Where the files that ship with flowrt are: web UI, /inc assets, API document, GeoIP data.

They are the checkout's resources/ folder, installed as the package ``flowrt_resources``
(setup.py maps the folder to that name), so a wheel in site-packages and the editable install
that ./start.sh and ./test.sh make find them the same way, through importlib.resources.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

PACKAGE = "flowrt_resources"


def resources_dir() -> Path:
    """The installed resources folder as a real directory (aiohttp serves files from it and
    maxminddb memory-maps the databases, so a zipped install cannot work)."""
    try:
        root = files(PACKAGE)
    except ModuleNotFoundError:
        raise RuntimeError(
            f"flowrt is not installed properly: package {PACKAGE} is missing; "
            "reinstall it (pip install flowrt, or ./start.sh in a checkout)"
        ) from None
    if not isinstance(root, Path) or not root.is_dir():
        raise RuntimeError(
            f"flowrt resources must be installed as files, not in an archive: {root}"
        )
    return root


RESOURCES = resources_dir()


def example_conf() -> Path:
    """The commented example conf.d/flowrt.conf (every property and its default): a wheel
    carries a copy in its resources (setup.py puts it there); an editable install reads the
    checkout's own."""
    packaged = RESOURCES / "conf.d" / "flowrt.conf"
    return packaged if packaged.is_file() else RESOURCES.parent / "conf.d" / "flowrt.conf"
