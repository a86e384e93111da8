"""Refuse state-changing requests that another web site made a browser send.

The CSRF header protects routes that need a login, but not the login itself (login CSRF: a
foreign page logs the victim's browser into the attacker's account, and what the victim then
films lands there). Browsers send `Origin` with every cross-origin POST, and
`Sec-Fetch-Site` with every request, so both are checked on every state-changing route. A
request without them (the command line, scripts, tests) is not a browser acting for another
site, and is let through to the route's own checks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from vigremote.httpjson import error
from vigremote.state import CONFIG

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def normalized(origin: str) -> str | None:
    """scheme://host[:port] in lower case without a default port, or None if not an origin."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:  # IPv6
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def own_origins(request: web.Request) -> set[str]:
    """The origins this server answers as: the one the request was made to, and the public
    URL's (behind a TLS proxy the request itself arrives over plain http)."""
    origins = {normalized(f"{request.scheme}://{request.host}")}
    public_url = request.app[CONFIG].public_url
    if public_url:
        origins.add(normalized(public_url))
    return {o for o in origins if o is not None}


@web.middleware
async def same_origin(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method in STATE_CHANGING:
        if request.headers.get("Sec-Fetch-Site", "").lower() == "cross-site":
            raise error(403, "cross-site", "this request came from another web site")
        origin = request.headers.get("Origin")
        if origin is not None and normalized(origin) not in own_origins(request):
            raise error(403, "cross-origin", "this request came from another web site")
    return await handler(request)
