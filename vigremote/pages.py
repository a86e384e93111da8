"""The browser pages and their static files, with headers that keep family links private."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

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
        if exc.status >= 400 and _wants_page(request):
            response = error_page(exc.status)  # a person, not a script: a page with a way back
        else:
            _protect(exc)
            raise
    _protect(response)
    return response


def _wants_page(request: web.Request) -> bool:
    """A browser opening an address (not the API, the signalling socket or a script)."""
    path = request.path
    return (
        request.method in ("GET", "HEAD")
        and not path.startswith(("/api/", "/ws"))
        and "text/html" in request.headers.get("Accept", "")
    )


_ERRORS = {
    403: ("You cannot open this page", "This page is not yours to open."),
    404: (
        "Page not found",
        "There is no page at this address: it may have been typed or copied wrongly.",
    ),
}
_ERROR_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title} · vigremote</title>
  <link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="/static/style.css">
</head>
<body class="practitioner error-page">
  <header><strong>vigremote</strong></header>
  <main>
    <h1>{title}</h1>
    <p>{text}</p>
    <p><a class="button primary" href="/app">Back to your cases</a></p>
    <p class="hint">Were you sent a link for a video call? Open the whole link from the message
      you were sent, by tapping on it, or ask your practitioner to send it again.</p>
  </main>
</body>
</html>
"""


def error_page(status: int) -> web.Response:
    """An error as a page a person can read, with a way back (never a bare "404: Not Found")."""
    title, text = _ERRORS.get(status, ("Something went wrong", "This page cannot be shown."))
    html = _ERROR_PAGE.format(title=escape(title), text=escape(text))
    return web.Response(status=status, text=html, content_type="text/html")


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


def family_languages(web_dir: Path) -> list[dict[str, str]]:
    """The family page's languages, English first: one web/i18n/<code>.json each, named in
    itself by its "language.name" (adding a language adds no code)."""
    found: list[dict[str, str]] = []
    for path in sorted((web_dir / "i18n").glob("*.json")):
        try:
            texts = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        name = texts.get("language.name") if isinstance(texts, dict) else None
        if isinstance(name, str) and name.strip():
            found.append({"code": path.stem, "name": name.strip()})
    return sorted(found, key=lambda language: language["code"] != "en")


def _languages(web_dir: Path) -> Handler:
    body = {"languages": family_languages(web_dir), "default": "en"}

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response(body)

    return handler


def add_routes(app: web.Application) -> None:
    web_dir = app[CONFIG].web_dir
    app.router.add_get("/", root)
    app.router.add_get("/app", _page("practitioner.html"))
    app.router.add_get("/f/{token}", _page("family.html"))
    # A cut or mangled link still opens the family page, which says what went wrong (no 404).
    app.router.add_get("/f", _page("family.html"))
    app.router.add_get("/f/", _page("family.html"))
    app.router.add_get("/f/{rest:.+}", _page("family.html"))
    app.router.add_get("/i18n/languages.json", _languages(web_dir))
    app.router.add_get("/analysis/{recording_id}", _page("analysis.html"))
    app.router.add_get("/review/{session_id}", _page("review.html"))
    app.router.add_get("/replay/{recording_id}", _page("replay.html"))
    app.router.add_get("/audit", _page("audit.html"))
    app.router.add_get("/supervision", _page("supervision.html"))
    app.router.add_get("/progress", _page("progress.html"))
    app.router.add_get("/supervision-call/{call_id}", _page("supervision-call.html"))
    app.router.add_static("/static/", web_dir, follow_symlinks=False)
