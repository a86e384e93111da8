"""Cases (a family, under a pseudonymous label) and their sessions, for their practitioner only."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from vigremote import family_links
from vigremote.accounts import current_login_id, current_user
from vigremote.auth import TokenSigner
from vigremote.config import Config
from vigremote.httpjson import error, read_json, text_field
from vigremote.live.events import FamilyLinkReplaced, SessionEnded
from vigremote.live.keeper import roster_of
from vigremote.rooms import CLOSE_POLICY, end_room
from vigremote.state import CONFIG, CONSENTS, LIVE, ROOMS, SIGNER, STORE
from vigremote.storage import Case, Session, Store, User, new_id

FAMILY_PARTICIPANT_ID = "family"


def family_link(store: Store, config: Config, signer: TokenSigner, session: Session) -> str:
    """The link a family opens on their phone: it alone says who they are and where to go.

    Only the newest link of a session works: issuing one revokes those issued before (a link
    sent to the wrong phone is replaced, not left valid until it expires).
    """
    link_id = new_id()
    token = signer.issue(
        session.id,
        "family",
        FAMILY_PARTICIPANT_ID,
        "Family",
        config.family_link_ttl_s,
        token_id=link_id,
    )
    store.set_family_link(session.id, link_id)
    link = f"{config.base_url}/f/{token}"
    family_links.replace_code(store.db, session.id, link)  # the short form, replaced with it
    return link


def short_form(store: Store, config: Config, session: Session) -> dict[str, str]:
    """The short link and code of the session's current family link (for the case page)."""
    code = family_links.code_of_session(store.db, session.id) or ""
    return {"code": code, "short_link": family_links.short_link(config.base_url, code)}


def link_in_force(session: Session, token_id: str) -> bool:
    """Whether a family token is the session's current link (not revoked by a newer one)."""
    return session.family_link_id is None or session.family_link_id == token_id


def open_session(store: Store, config: Config, signer: TokenSigner, case: Case) -> dict[str, Any]:
    """Create a filming session for a case; returns its JSON with the family link."""
    session = store.add_session(case.id, "filming")
    store.audit(case.owner_id, "session-created", f"session:{session.id}", case=case.id)
    link = family_link(store, config, signer, session)
    return {"session": session.to_json(), "family_link": link} | short_form(store, config, session)


def owned_case(store: Store, user: User, case_id: str) -> Case:
    """The case, if this user is its practitioner; 403 otherwise (and the attempt is audited)."""
    case = store.case(case_id)
    if case.owner_id != user.id:
        store.audit(user.id, "access-denied", f"case:{case_id}")
        raise error(403, "forbidden", "this case belongs to another practitioner")
    return case


def case_for_records_work(store: Store, user: User, case_id: str) -> Case:
    """The case, if this user is its practitioner or an admin (holds, exports, erasure and
    copies are often a records officer's task); 403 otherwise, audited."""
    if user.role == "admin":
        return store.case(case_id)
    return owned_case(store, user, case_id)


def owned_session(store: Store, user: User, session_id: str) -> tuple[Case, Session]:
    session = store.session(session_id)
    return owned_case(store, user, session.case_id), session


async def list_cases(request: web.Request) -> web.Response:
    user = current_user(request)
    cases = request.app[STORE].cases_of(user.id)
    return web.json_response({"cases": [c.to_json() for c in cases]})


async def create_case(request: web.Request) -> web.Response:
    user = current_user(request)
    if user.role != "practitioner":
        raise error(403, "forbidden", "only practitioners hold cases")
    label = text_field(await read_json(request), "label", 80)
    store = request.app[STORE]
    case = store.add_case(user.id, label)
    store.audit(user.id, "case-created", f"case:{case.id}")
    return web.json_response({"case": case.to_json()}, status=201)


async def get_case(request: web.Request) -> web.Response:
    user = current_user(request)
    store = request.app[STORE]
    case = owned_case(store, user, request.match_info["case_id"])
    sessions = [s.to_json() for s in store.sessions_of(case.id)]
    consent = request.app[CONSENTS].current(case.id)
    return web.json_response(
        {
            "case": case.to_json(),
            "sessions": sessions,
            # The family's current consent (their latest word), not the first they gave.
            "consent": consent.to_json() if consent else None,
        }
    )


async def create_session(request: web.Request) -> web.Response:
    user = current_user(request)
    store = request.app[STORE]
    case = owned_case(store, user, request.match_info["case_id"])
    created = open_session(store, request.app[CONFIG], request.app[SIGNER], case)
    return web.json_response(created, status=201)


async def get_session(request: web.Request) -> web.Response:
    user = current_user(request)
    _, session = owned_session(request.app[STORE], user, request.match_info["session_id"])
    participants = await roster_of(request.app, session.id)  # on whichever process has it
    return web.json_response({"session": session.to_json(), "participants": participants})


async def new_family_link(request: web.Request) -> web.Response:
    user = current_user(request)
    store = request.app[STORE]
    _, session = owned_session(store, user, request.match_info["session_id"])
    if not session.is_open:
        raise error(409, "session-ended", "this session has ended")
    link = family_link(store, request.app[CONFIG], request.app[SIGNER], session)
    store.audit(user.id, "family-link-issued", f"session:{session.id}", revokes="older links")
    await request.app[LIVE].publish(FamilyLinkReplaced(session.id))
    short = short_form(store, request.app[CONFIG], session)
    return web.json_response({"family_link": link} | short)


async def family_link_qr(request: web.Request) -> web.Response:
    """The current short family link as a QR code, for the family to scan off the screen."""
    user = current_user(request)
    store = request.app[STORE]
    _, session = owned_session(store, user, request.match_info["session_id"])
    code = family_links.code_of_session(store.db, session.id)
    if code is None or not session.is_open:
        raise error(404, "no-family-link", "this session has no family link in force")
    svg = family_links.qr_svg(family_links.short_link(request.app[CONFIG].base_url, code))
    return web.Response(body=svg, content_type="image/svg+xml")


async def join_token(request: web.Request) -> web.Response:
    """A short-lived token for the practitioner's own signalling socket."""
    user = current_user(request)
    store, config = request.app[STORE], request.app[CONFIG]
    _, session = owned_session(store, user, request.match_info["session_id"])
    if not session.is_open:
        raise error(409, "session-ended", "this session has ended")
    token = request.app[SIGNER].issue(
        session.id,
        "practitioner",
        user.id,
        user.display_name,
        config.participant_token_ttl_s,
        login_id=current_login_id(request),
    )
    return web.json_response({"token": token})


async def end_session(request: web.Request) -> web.Response:
    user = current_user(request)
    store = request.app[STORE]
    _, session = owned_session(store, user, request.match_info["session_id"])
    session = store.end_session(session.id)
    store.audit(user.id, "session-ended", f"session:{session.id}")
    await request.app[LIVE].publish(SessionEnded(session.id))
    return web.json_response({"session": session.to_json()})


async def on_link_replaced(app: web.Application, event: FamilyLinkReplaced) -> None:
    """Whoever holds an older family link is in the call here: hang up on them."""
    room = app[ROOMS].get(event.session_id)
    if room is not None:
        for member in await room.members():
            if member.role == "family":
                member.disconnect(CLOSE_POLICY, "this link was replaced by a newer one")


async def on_session_ended(app: web.Application, event: SessionEnded) -> None:
    """A session (or a supervision call) ended: if its room is here, everyone is told."""
    room = app[ROOMS].get(event.session_id)
    if room is not None:
        await end_room(room)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/cases", list_cases)
    app.router.add_post("/api/cases", create_case)
    app.router.add_get("/api/cases/{case_id}", get_case)
    app.router.add_post("/api/cases/{case_id}/sessions", create_session)
    app.router.add_get("/api/sessions/{session_id}", get_session)
    app.router.add_post("/api/sessions/{session_id}/family-link", new_family_link)
    app.router.add_get("/api/sessions/{session_id}/family-link.svg", family_link_qr)
    family_links.add_routes(app)
    app.router.add_post("/api/sessions/{session_id}/join-token", join_token)
    app.router.add_post("/api/sessions/{session_id}/end", end_session)
