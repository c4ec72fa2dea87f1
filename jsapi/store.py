"""Persistent per-script key/value store: one file per key under store/<script id>/.

Values are JSON (one-space indent, as sFlow-RT writes them). A write goes to a temporary file
that is fsynced and renamed over the old one (then the folder is fsynced), so a crash or
kill -9 leaves either the old or the new value, never a torn file.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from urllib.parse import quote, unquote


def _file_name(key: str) -> str:
    name = quote(key, safe="")
    if not name or name.startswith("."):
        name = "%2E" + name[1:] if name else "%00"
    return name


TMP_PREFIX = ".tmp-"


def remove_leftovers(store_dir: Path) -> int:
    """Delete the temporary files of writes a crash or ``kill -9`` cut short (they never
    replaced a value, so nothing is lost); returns how many. Run before scripts start."""
    removed = 0
    try:
        folders = [p for p in Path(store_dir).iterdir() if p.is_dir()]
    except OSError:
        return 0
    for folder in folders:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if name.startswith(TMP_PREFIX):
                try:
                    os.unlink(folder / name)
                    removed += 1
                except OSError:
                    pass
    return removed


class Store:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._lock = threading.Lock()

    def set(self, key: str, value) -> None:
        text = json.dumps(value, indent=1, ensure_ascii=False)
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=TMP_PREFIX)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(text)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.folder / _file_name(key))
            except BaseException:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise
            dfd = os.open(self.folder, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)

    def get_text(self, key: str) -> str | None:
        try:
            text = (self.folder / _file_name(key)).read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            json.loads(text)
        except ValueError:
            return None  # not ours (or damaged by hand): behave as absent
        return text

    def get(self, key: str):
        text = self.get_text(key)
        return None if text is None else json.loads(text)

    def delete(self, key: str) -> None:
        with self._lock:
            try:
                (self.folder / _file_name(key)).unlink()
            except FileNotFoundError:
                pass

    def keys(self) -> list[str]:
        try:
            names = os.listdir(self.folder)
        except FileNotFoundError:
            return []
        return sorted(
            unquote(n) if n != "%00" else "" for n in names if not n.startswith(TMP_PREFIX)
        )
