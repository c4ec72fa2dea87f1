"""get-app: install an sFlow-RT app from GitHub (or a zip URL/file) into HOME/apps/<name>.

    flowrt get-app USER PROJECT      https://github.com/USER/PROJECT/archive/master.zip, or the
    (./get-app.sh USER PROJECT)      repository's default branch when there is no master
    flowrt get-app url URL|FILE.zip  any zip: an http(s):// or file:// URL or a path (the app
                                     is named after the zip's top folder, with a -master/-main
                                     suffix removed)

HOME is the engine's home (engine.main: --home, FLOWRT_HOME, else the current directory;
./get-app.sh uses its checkout).

The zip's single top folder is stripped. An existing apps/<name> is never overwritten, and a
zip holding absolute paths, '..' or links is refused before anything is written. Stdlib only
(runs before the virtual environment exists). FLOWRT_GITHUB_URL / FLOWRT_GITHUB_API override
https://github.com / https://api.github.com (tests point them at a loopback server).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import stat
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

USAGE = """Usage   : {prog} <github-user> <github-project>
          {prog} url <zip: http(s):// or file:// URL, or a path>
Example : {prog} sflow-rt browse-flows
Catalog : https://sflow-rt.com/download.php#applications"""

TIMEOUT = 60
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class GetAppError(Exception):
    pass


def fetch(url: str) -> bytes:
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler(
            {k: v for k, v in urllib.request.getproxies().items()}
            if os.environ.get("FLOWRT_USE_PROXY")
            else {}
        )
    )
    req = urllib.request.Request(url, headers={"User-Agent": "flowrt-get-app"})
    with opener.open(req, timeout=TIMEOUT) as resp:
        return resp.read()


def github_zip(user: str, project: str) -> bytes:
    base = os.environ.get("FLOWRT_GITHUB_URL", "https://github.com").rstrip("/")
    api = os.environ.get("FLOWRT_GITHUB_API", "https://api.github.com").rstrip("/")
    try:
        return fetch(f"{base}/{user}/{project}/archive/master.zip")
    except urllib.error.HTTPError as exc:
        if exc.code != 404:
            raise GetAppError(f"download failed: HTTP {exc.code}") from None
    try:
        info = json.loads(fetch(f"{api}/repos/{user}/{project}"))
        branch = info["default_branch"]
    except urllib.error.HTTPError as exc:
        raise GetAppError(f"no such repository {user}/{project} (HTTP {exc.code})") from None
    except (ValueError, KeyError):
        raise GetAppError(f"cannot find the default branch of {user}/{project}") from None
    try:
        return fetch(f"{base}/{user}/{project}/archive/refs/heads/{branch}.zip")
    except urllib.error.HTTPError as exc:
        raise GetAppError(f"download failed: HTTP {exc.code}") from None


def read_source(source: str) -> bytes:
    """The zip named by ``url``'s argument: an http(s) URL, a file:// URL or a file path."""
    if re.match(r"^https?://", source, re.I):
        return fetch(source)
    if re.match(r"^file:", source, re.I):
        parts = urllib.parse.urlsplit(source)
        if parts.netloc not in ("", "localhost"):
            raise GetAppError(f"{source}: file URLs must name a local file (file:///path/app.zip)")
        path = Path(urllib.request.url2pathname(parts.path))
    elif re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", source):
        raise GetAppError(
            f"{source}: unsupported URL; give an http://, https:// or file:// URL "
            "or a path to a zip file"
        )
    else:
        path = Path(source)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise GetAppError(f"no such file {str(path)!r}") from None
    except IsADirectoryError:
        raise GetAppError(f"{str(path)!r} is a folder, not a zip file") from None


def check_members(zf: zipfile.ZipFile) -> tuple[str, list[tuple[zipfile.ZipInfo, PurePosixPath]]]:
    """Return (top folder, [(member, path below the top folder)]); refuse anything unsafe."""
    tops, members = set(), []
    for info in zf.infolist():
        name = info.filename.replace("\\", "/")
        path = PurePosixPath(name)
        if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in path.parts:
            raise GetAppError(f"refusing unsafe path in zip: {info.filename}")
        mode = (info.external_attr >> 16) & 0xFFFF
        if stat.S_ISLNK(mode):
            raise GetAppError(f"refusing link in zip: {info.filename}")
        if not path.parts:
            continue
        tops.add(path.parts[0])
        members.append((info, path))
    if len(tops) != 1:
        raise GetAppError("expected one top folder in the zip")
    top = tops.pop()
    return top, [(i, PurePosixPath(*p.parts[1:])) for i, p in members if len(p.parts) > 1]


def install(data: bytes, apps_dir: Path, name: str | None = None) -> Path:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise GetAppError("not a zip file") from None
    top, members = check_members(zf)
    if name is None:
        name = re.sub(r"-(master|main)$", "", top)
    if not _NAME.match(name):
        raise GetAppError(f"bad app name {name!r}")
    target = apps_dir / name
    if target.exists():
        raise GetAppError(f"{target} already exists; remove it first to reinstall")
    apps_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=apps_dir))
    try:
        for info, rel in members:
            dest = tmp.joinpath(*rel.parts)
            if info.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out)
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def main(argv: list[str] | None = None, home: Path | None = None, prog: str = "get-app.sh") -> int:
    argv = sys.argv[1:] if argv is None else argv
    home = Path(home or os.environ.get("FLOWRT_HOME") or os.getcwd())
    apps_dir = home / "apps"
    try:
        if len(argv) == 2 and argv[0] == "url":
            target = install(read_source(argv[1]), apps_dir)
        elif len(argv) == 2:
            user, project = argv
            if not (_NAME.match(user) and _NAME.match(project)):
                raise GetAppError("bad GitHub user or project name")
            target = install(github_zip(user, project), apps_dir, project)
        else:
            print(USAGE.format(prog=prog), file=sys.stderr)
            return 2
    except GetAppError as exc:
        print(f"get-app: {exc}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"get-app: {getattr(exc, 'reason', None) or exc}", file=sys.stderr)
        return 1
    print(f"Installed {target.relative_to(home) if target.is_relative_to(home) else target}")
    print("Restart flowrt to run application")
    return 0


if __name__ == "__main__":
    sys.exit(main())
