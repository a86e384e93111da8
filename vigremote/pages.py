"""The browser pages and their static files, with headers that keep family links private."""

from __future__ import annotations

from aiohttp import web

from vigremote.httpjson import Handler
from vigremote.state import CONFIG

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'"
)


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # errors and redirects get the same protection
        _protect(exc)
        raise
    _protect(response)
    return response


def _protect(response: web.StreamResponse) -> None:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    # A family link carries its token in the path: never leak it to another site.
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("Cache-Control", "no-store")
    # The camera and microphone are for this site only.
    response.headers.setdefault("Permissions-Policy", "camera=(self), microphone=(self)")


def _page(name: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(request.app[CONFIG].web_dir / name)

    return handler


async def root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/app")


def add_routes(app: web.Application) -> None:
    web_dir = app[CONFIG].web_dir
    app.router.add_get("/", root)
    app.router.add_get("/app", _page("practitioner.html"))
    app.router.add_get("/f/{token}", _page("family.html"))
    # A cut or mangled link still opens the family page, which says what went wrong (no 404).
    app.router.add_get("/f", _page("family.html"))
    app.router.add_get("/f/", _page("family.html"))
    app.router.add_get("/f/{rest:.+}", _page("family.html"))
    app.router.add_get("/analysis/{recording_id}", _page("analysis.html"))
    app.router.add_get("/review/{session_id}", _page("review.html"))
    app.router.add_get("/replay/{recording_id}", _page("replay.html"))
    app.router.add_static("/static/", web_dir, follow_symlinks=False)
