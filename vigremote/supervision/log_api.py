"""REST routes for the supervision log, VIG-SDS ratings, progress and the portfolio.

Who may see a trainee's log, ratings and progress: the trainee, their current supervisor, an
admin. A supervisor enters face-to-face and peer supervisions; each side rates (the trainee
rates themself, the supervisor rates); both agree strengths and next steps; the supervisor signs
off. The scale is the organisation's data (supervision/ratings.py): an admin can load another.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from vigremote.accounts import current_user
from vigremote.httpjson import error, read_json, text_field
from vigremote.state import CONFIG, RATINGS, RECORDS, STORE, SUPERVISION
from vigremote.storage import User
from vigremote.supervision import portfolio
from vigremote.supervision.progress import load_thresholds, progress
from vigremote.supervision.ratings import BadScale, SignedOff, Supervision, check_scale

MAX_MINUTES = 8 * 60


def _may_see(request: web.Request, trainee_id: str) -> User:
    """The asker, if they are the trainee, the trainee's supervisor now, or an admin."""
    user = current_user(request)
    if user.id == trainee_id or user.role == "admin":
        return user
    if request.app[SUPERVISION].supervisor_of(trainee_id) == user.id:
        return user
    request.app[STORE].audit(user.id, "access-denied", f"trainee:{trainee_id}")
    raise error(403, "forbidden", "only the trainee, their supervisor or an admin can see this")


def _entry(request: web.Request) -> tuple[User, Supervision]:
    entry = request.app[RATINGS].get(request.match_info["supervision_id"])
    return _may_see(request, entry.trainee_id), entry


def _entry_json(request: web.Request, entry: Supervision) -> dict[str, Any]:
    store = request.app[STORE]
    return entry.to_json() | {
        "supervisor": store.user(entry.supervisor_id).display_name,
        "ratings": request.app[RATINGS].ratings(entry.id),
    }


async def get_scale(request: web.Request) -> web.Response:
    current_user(request)
    scale_id, scale = request.app[RATINGS].current_scale()
    return web.json_response({"id": scale_id, "scale": scale})


async def put_scale(request: web.Request) -> web.Response:
    """An admin loads the organisation's scale (JSON); ratings already made keep theirs."""
    user = current_user(request)
    if user.role != "admin":
        raise error(403, "forbidden", "only an admin loads the rating scale")
    try:
        scale = check_scale(await read_json(request))
    except BadScale as exc:
        raise error(400, "bad-scale", str(exc)) from None
    scale_id = request.app[RATINGS].load_scale(scale)
    request.app[STORE].audit(user.id, "sds-scale-loaded", f"scale:{scale_id}", name=scale["name"])
    return web.json_response({"id": scale_id, "scale": scale})


async def add_supervision(request: web.Request) -> web.Response:
    """{"kind": face-to-face|peer, "duration_minutes", "held_at"?}: entered by the supervisor."""
    trainee_id = request.match_info["trainee_id"]
    user = _may_see(request, trainee_id)
    if request.app[SUPERVISION].supervisor_of(trainee_id) != user.id:
        raise error(403, "forbidden", "only the trainee's supervisor enters a supervision")
    body = await read_json(request)
    kind, minutes = body.get("kind"), body.get("duration_minutes")
    if kind not in ("face-to-face", "peer"):
        raise error(400, "bad-field", "'kind' is face-to-face or peer (calls are measured)")
    if (
        not isinstance(minutes, int | float)
        or isinstance(minutes, bool)
        or not 0 < minutes <= MAX_MINUTES
    ):
        raise error(400, "bad-field", f"'duration_minutes' must be 1 to {MAX_MINUTES}")
    held_at = body.get("held_at", time.time())
    if not isinstance(held_at, int | float) or held_at > time.time() + 60:
        raise error(400, "bad-field", "'held_at' must be a past time (epoch seconds)")
    entry = request.app[RATINGS].add(
        trainee_id, user.id, kind, float(held_at), minutes * 60, user.id
    )
    request.app[STORE].audit(user.id, "supervision-entered", f"supervision:{entry.id}", kind=kind)
    return web.json_response({"supervision": _entry_json(request, entry)}, status=201)


async def list_supervisions(request: web.Request) -> web.Response:
    trainee_id = request.match_info["trainee_id"]
    _may_see(request, trainee_id)
    log = [_entry_json(request, e) for e in request.app[RATINGS].of_trainee(trainee_id)]
    return web.json_response({"supervisions": log})


async def rate(request: web.Request) -> web.Response:
    """{"values": {item id: level}}: the trainee's self-rating, or the supervisor's rating."""
    user, entry = _entry(request)
    if user.id == entry.trainee_id:
        rater = "self"
    elif user.id == entry.supervisor_id:
        rater = "supervisor"
    else:
        raise error(403, "forbidden", "only the trainee and their supervisor rate")
    try:
        request.app[RATINGS].rate(entry, rater, user.id, (await read_json(request)).get("values"))
    except SignedOff as exc:
        raise error(409, "signed-off", str(exc)) from None
    except ValueError as exc:
        raise error(400, "bad-field", str(exc)) from None
    return web.json_response({"supervision": _entry_json(request, entry)})


async def agree(request: web.Request) -> web.Response:
    """{"strengths", "next_steps"}: agreed at the end, by either side."""
    user, entry = _entry(request)
    if user.id not in (entry.trainee_id, entry.supervisor_id):
        raise error(403, "forbidden", "only the trainee and their supervisor agree these")
    body = await read_json(request)
    strengths, next_steps = (
        text_field(body, "strengths", 4000),
        text_field(body, "next_steps", 4000),
    )
    try:
        request.app[RATINGS].agree(entry, strengths, next_steps)
    except SignedOff as exc:
        raise error(409, "signed-off", str(exc)) from None
    entry = request.app[RATINGS].get(entry.id)
    return web.json_response({"supervision": _entry_json(request, entry)})


async def sign_off(request: web.Request) -> web.Response:
    user, entry = _entry(request)
    if user.id != entry.supervisor_id:
        raise error(403, "forbidden", "only the supervisor signs a supervision off")
    try:
        entry = request.app[RATINGS].sign_off(entry)
    except SignedOff as exc:
        raise error(409, "signed-off", str(exc)) from None
    except ValueError as exc:
        raise error(409, "not-ready", str(exc)) from None
    request.app[STORE].audit(user.id, "supervision-signed-off", f"supervision:{entry.id}")
    return web.json_response({"supervision": _entry_json(request, entry)})


def _progress(request: web.Request, trainee_id: str) -> dict[str, Any]:
    thresholds = load_thresholds(request.app[CONFIG].accreditation_file)
    return progress(request.app[RECORDS], trainee_id, thresholds)


async def get_progress(request: web.Request) -> web.Response:
    trainee_id = request.match_info["trainee_id"]
    _may_see(request, trainee_id)
    trainee = request.app[STORE].user(trainee_id)
    body = _progress(request, trainee_id) | {
        "trainee": {"id": trainee.id, "name": trainee.display_name}
    }
    return web.json_response(body)


async def ratings_chart(request: web.Request) -> web.Response:
    trainee_id = request.match_info["trainee_id"]
    _may_see(request, trainee_id)
    records = request.app[RECORDS]
    svg = portfolio.ratings_chart_svg(
        portfolio.ratings_history(records, trainee_id), records.ratings.current_scale()[1]
    )
    return web.Response(text=svg, content_type="image/svg+xml")


async def get_portfolio(request: web.Request) -> web.Response:
    trainee_id = request.match_info["trainee_id"]
    user = _may_see(request, trainee_id)
    html = portfolio.portfolio_html(
        request.app[RECORDS], trainee_id, _progress(request, trainee_id)
    )
    request.app[STORE].audit(user.id, "portfolio-exported", f"trainee:{trainee_id}")
    headers = {"Content-Disposition": f'attachment; filename="portfolio-{trainee_id}.html"'}
    return web.Response(text=html, content_type="text/html", headers=headers)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/sds/scale", get_scale)
    app.router.add_put("/api/sds/scale", put_scale)
    app.router.add_post("/api/trainees/{trainee_id}/supervisions", add_supervision)
    app.router.add_get("/api/trainees/{trainee_id}/supervisions", list_supervisions)
    app.router.add_put("/api/supervisions/{supervision_id}/ratings", rate)
    app.router.add_put("/api/supervisions/{supervision_id}/agreement", agree)
    app.router.add_post("/api/supervisions/{supervision_id}/sign-off", sign_off)
    app.router.add_get("/api/trainees/{trainee_id}/progress", get_progress)
    app.router.add_get("/api/trainees/{trainee_id}/ratings.svg", ratings_chart)
    app.router.add_get("/api/trainees/{trainee_id}/portfolio.html", get_portfolio)


def openapi_paths(op: Any, param: Any) -> dict[str, Any]:
    trainee, entry = [param("trainee_id")], [param("supervision_id")]
    return {
        "/api/sds/scale": {
            "get": op("The rating scale in use", write=False),
            "put": op("Load the organisation's rating scale (admins)"),
        },
        "/api/trainees/{trainee_id}/supervisions": {
            "parameters": trainee,
            "get": op("The trainee's supervision log with ratings", write=False),
            "post": op("Enter a face-to-face or peer supervision (the supervisor)", ok=201),
        },
        "/api/supervisions/{supervision_id}/ratings": {
            "parameters": entry,
            "put": op("Rate: the trainee rates themself, the supervisor rates"),
        },
        "/api/supervisions/{supervision_id}/agreement": {
            "parameters": entry,
            "put": op("Strengths and next steps agreed at the end"),
        },
        "/api/supervisions/{supervision_id}/sign-off": {
            "parameters": entry,
            "post": op("The supervisor signs the supervision off"),
        },
        "/api/trainees/{trainee_id}/progress": {
            "parameters": trainee,
            "get": op("Progress toward accreditation, derived from the records", write=False),
        },
        "/api/trainees/{trainee_id}/ratings.svg": {
            "parameters": trainee,
            "get": op("Each rated item over time, as a picture", write=False),
        },
        "/api/trainees/{trainee_id}/portfolio.html": {
            "parameters": trainee,
            "get": op("The trainee's portfolio as one HTML file", write=False),
        },
    }
