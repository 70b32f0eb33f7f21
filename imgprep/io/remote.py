"""Inputs given as fsspec URLs (``file://``, ``s3://``, ``gs://``, ``memory://`` ...).

A path with a scheme (``NAME://``) is listed, stat'ed and read through fsspec, by whichever
process reads it (the workers of either engine); every other path is a local path and never
touches fsspec. fsspec comes with the ``dask`` extra; a backend (``s3fs``, ``gcsfs``, ...)
must be installed for its scheme, and a missing one is a one-line usage error saying which.

A directory URL is listed once, recursively (one paginated listing on object stores, where
folders are only prefixes), and the listing follows the local discovery rules (class
folders, hidden and non-image files ignored and counted, sorted order). A file's size and
modification time (from the store's metadata: ``mtime``, ``LastModified``, ``updated``)
enter the provenance hash as for local files; -1 when the store gives none.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from typing import Any

from imgprep.errors import DecodeError, InputError

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_MTIME_KEYS = ("mtime", "LastModified", "last_modified", "updated", "modified", "created")


def is_url(path: str) -> bool:
    """Whether ``path`` names a scheme (``s3://bucket/x``), i.e. is read through fsspec."""
    return bool(_SCHEME.match(path))


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem for ``url`` and the path within it."""
    try:
        import fsspec
    except ImportError as exc:
        raise InputError(
            f"{url}: URL inputs are read through fsspec: pip install 'imgprep[dask]' (or "
            "fsspec) and the backend for this scheme (s3fs, gcsfs, ...)"
        ) from exc
    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:  # unknown scheme, backend not installed
        raise InputError(f"{url}: {exc}") from exc


def join_url(root: str, rel: str) -> str:
    return root.rstrip("/") + "/" + rel


def url_exists(url: str) -> bool:
    fs, path = filesystem(url)
    return bool(fs.exists(path))


def url_is_dir(url: str) -> bool:
    fs, path = filesystem(url)
    return bool(fs.isdir(path))


def list_files(url: str) -> list[str]:
    """Every file under the directory ``url``, as "/"-separated paths relative to it."""
    fs, path = filesystem(url)
    base = path.rstrip("/") + "/"
    try:
        found = fs.find(path, withdirs=False, detail=False)
    except OSError as exc:
        raise InputError(f"cannot list {url}: {exc}") from exc
    return [name[len(base) :] for name in found if name.startswith(base)]


def read_url(url: str) -> tuple[bytes, int]:
    """The bytes of ``url`` and its modification time in ns (-1 when unknown)."""
    fs, path = filesystem(url)
    try:
        with fs.open(path, "rb") as handle:
            data = handle.read()
            details = getattr(handle, "details", None)
        if not isinstance(details, dict):
            details = fs.info(path)
    except (OSError, ValueError) as exc:
        raise DecodeError(url, f"cannot read: {exc}") from exc
    return data, mtime_ns(details)


def file_stat(path: str) -> tuple[int, int]:
    """(size, modification time in ns) of a local path or a URL; (-1, -1) if unavailable."""
    if is_url(path):
        return url_stat(path)
    try:
        info = os.stat(path)
    except OSError:
        return -1, -1
    return info.st_size, info.st_mtime_ns


def url_stat(url: str) -> tuple[int, int]:
    """(size, modification time in ns) of ``url``, (-1, -1) when it cannot be stat'ed."""
    try:
        fs, path = filesystem(url)
        info = fs.info(path)
    except (OSError, ValueError, InputError):
        return -1, -1
    size = info.get("size")
    return (int(size) if isinstance(size, int) else -1), mtime_ns(info)


def mtime_ns(info: dict[str, Any]) -> int:
    """A store's modification time in integer nanoseconds, whatever its spelling."""
    for key in _MTIME_KEYS:
        value = info.get(key)
        if value is None:
            continue
        if isinstance(value, (int, float)):
            return round(value * 1e9)
        if isinstance(value, _dt.datetime):
            return round(value.timestamp() * 1e9)
        if isinstance(value, str):
            try:
                return round(
                    _dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1e9
                )
            except ValueError:
                continue
    return -1
