"""JSON in and out of the REST API, with errors a person can read."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from vigremote.storage import Conflict, NotFound

MAX_JSON_BODY = 64 * 1024
MAX_JSON_DEPTH = 16


class BadJson(ValueError):
    """Input that is not JSON we accept; the message says why, for a person."""


def decode_json(raw: bytes | str) -> Any:
    """Parse JSON from a browser: no deep nesting, no text that cannot be stored (a lone
    surrogate such as "\ud800" is valid JSON but not valid UTF-8, and would fail later)."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise BadJson("the JSON is nested too deeply") from None
    except (ValueError, UnicodeDecodeError):
        raise BadJson("not valid JSON") from None
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            raise BadJson("the JSON is nested too deeply")
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_text(key)
                pending.append((child, depth + 1))
        elif isinstance(item, list):
            pending.extend((child, depth + 1) for child in item)
    return value


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadJson("the JSON holds text that is not valid Unicode") from None


_STATUS_CLASSES: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest,
    401: web.HTTPUnauthorized,
    403: web.HTTPForbidden,
    404: web.HTTPNotFound,
    409: web.HTTPConflict,
    415: web.HTTPUnsupportedMediaType,
    429: web.HTTPTooManyRequests,
    500: web.HTTPInternalServerError,
}


def error(status: int, code: str, message: str) -> web.HTTPException:
    """An HTTP error whose body is {"error": {"code", "message"}}."""
    body = json.dumps({"error": {"code": code, "message": message}})
    if status == 413:
        return web.HTTPRequestEntityTooLarge(
            max_size=MAX_JSON_BODY, actual_size=0, text=body, content_type="application/json"
        )
    return _STATUS_CLASSES[status](text=body, content_type="application/json")


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 400/413 that says what is wrong."""
    if request.content_length is not None and request.content_length > MAX_JSON_BODY:
        raise error(413, "too-large", "the request body is too large")
    # read(n) returns what has arrived so far, not n bytes: keep reading to the end of the body
    # (or just past the limit), or a body sent in several packets would be cut short.
    raw = b""
    while len(raw) <= MAX_JSON_BODY:
        chunk = await request.content.read(MAX_JSON_BODY + 1 - len(raw))
        if not chunk:
            break
        raw += chunk
    if len(raw) > MAX_JSON_BODY:
        raise error(413, "too-large", "the request body is too large")
    try:
        body = decode_json(raw or b"{}")
    except BadJson as exc:
        raise error(400, "bad-json", f"the request body: {exc}") from None
    if not isinstance(body, dict):
        raise error(400, "bad-json", "the request body must be a JSON object")
    return body


def text_field(body: dict[str, Any], name: str, max_length: int = 200) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise error(400, "bad-field", f"'{name}' must be a non-empty string")
    value = value.strip()
    if len(value) > max_length:
        raise error(400, "bad-field", f"'{name}' must be at most {max_length} characters")
    return value


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn domain exceptions into JSON errors for API routes."""
    try:
        return await handler(request)
    except NotFound as exc:
        raise error(404, "not-found", str(exc)) from None
    except Conflict as exc:
        raise error(409, "conflict", str(exc)) from None
