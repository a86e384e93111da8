"""Serve a sealed file over HTTP, decrypted on the way out, with byte ranges for seeking.

A browser's <video> seeks with Range requests; only the chunks a range touches are decrypted
(in a thread). A file that fails to authenticate is never sent: the request gets a clear error
and the server's log names the file (whatever was already sent of a long response is followed by
a broken connection, not by garbage).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path

from aiohttp import web

from vigremote.httpjson import error
from vigremote.vault.files import Vault
from vigremote.vault.sealed import SealedFile, Tampered

log = logging.getLogger(__name__)

PIECE = 256 * 1024
CONTENT_TYPES = {
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".mp4": "video/mp4",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".json": "application/json",
    ".zip": "application/zip",
}


def _range(request: web.Request, size: int) -> tuple[int, int] | None:
    """(start, stop) of the one range asked for, or None for the whole file."""
    if "Range" not in request.headers:
        return None
    try:
        asked = request.http_range
    except ValueError:
        raise _unsatisfiable(size) from None
    start, stop = asked.start, asked.stop
    if start is None and stop is None:
        return None
    if start is None:
        start = 0
    if start < 0:  # bytes=-N: the last N bytes
        start = max(0, size + start)
    stop = size if stop is None else min(stop, size)
    if start >= size or start >= stop:
        raise _unsatisfiable(size)
    return start, stop


def _unsatisfiable(size: int) -> web.HTTPException:
    return web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})


async def sealed_response(
    request: web.Request,
    vault: Vault,
    path: Path,
    headers: Mapping[str, str] | None = None,
    content_type: str | None = None,
) -> web.StreamResponse:
    """The file's plaintext (200) or the asked range of it (206)."""
    try:
        sealed = await asyncio.to_thread(vault.open, path)
    except FileNotFoundError:
        raise error(404, "not-found", "this file is not on the server") from None
    except Tampered as exc:
        log.error("refused to serve %s: %s", path, exc)
        raise error(
            500, "media-damaged", "this file was altered on disk; it is not served"
        ) from None
    response = web.StreamResponse()
    try:
        size = sealed.size
        span = _range(request, size)
        start, stop = span if span is not None else (0, size)
        response.set_status(206 if span is not None else 200)
        response.headers.update(headers or {})
        response.headers["Accept-Ranges"] = "bytes"
        response.headers["Content-Type"] = content_type or CONTENT_TYPES.get(
            path.suffix, "application/octet-stream"
        )
        if span is not None:
            response.headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
        response.content_length = stop - start
        first = await asyncio.to_thread(_read, sealed, start, min(PIECE, stop - start))
        await response.prepare(request)
        await response.write(first)
        position = start + len(first)
        while position < stop:
            piece = await asyncio.to_thread(_read, sealed, position, min(PIECE, stop - position))
            await response.write(piece)
            position += len(piece)
        await response.write_eof()
        return response
    except Tampered as exc:
        log.error("refused to serve %s: %s", path, exc)
        if response.prepared:  # cut the connection: the browser must not take it as complete
            if request.transport is not None:
                request.transport.close()
            return response
        raise error(
            500, "media-damaged", "this file was altered on disk; it is not served"
        ) from None
    finally:
        await asyncio.to_thread(sealed.close)


def _read(sealed: SealedFile, position: int, length: int) -> bytes:
    sealed.seek(position)
    return sealed.read(length)
