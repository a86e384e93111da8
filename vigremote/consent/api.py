"""Consent over REST: the family's page after the call, and withdrawals made by phone or letter.

A family can withdraw at any time, not only during a call: their link keeps opening a consent
page after the session has ended (withdrawal only: agreeing to more happens in a call, where
the practitioner can explain it). A practitioner records a withdrawal the family made another
way (who, when, how), never a new agreement on the family's behalf. Both reach every open room
of the case at once and are audited.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from vigremote.accounts import current_user
from vigremote.auth import Identity, InvalidToken
from vigremote.cases import link_in_force, owned_case
from vigremote.consent.messages import announce_change, parse_purposes
from vigremote.consent.policy import PURPOSE_NAMES, recorded_for
from vigremote.consent.store import (
    PRACTITIONER_CHANNELS,
    Consent,
    family_wording,
    shipped_language,
)
from vigremote.errors import UserError
from vigremote.httpjson import error, read_json
from vigremote.state import CONFIG, CONSENT_WORDING, CONSENT_WORDINGS, CONSENTS, SIGNER, STORE
from vigremote.storage import NotFound, Session

# A family's link expires a week after it is sent; withdrawing through it stays possible
# for a year after that (it can only take agreement away, never give it).
WITHDRAWAL_GRACE_S = 365 * 24 * 3600
MAX_NOTE = 500


def _holder(request: web.Request) -> tuple[Identity, Session]:
    """Who holds the link and its session, from the token (Authorization: Bearer <token>)."""
    header = request.headers.get("Authorization", "")
    token = header[7:] if header.startswith("Bearer ") else ""
    try:
        identity = request.app[SIGNER].verify(token, expired_grace_s=WITHDRAWAL_GRACE_S)
        session = request.app[STORE].session(identity.session_id)
    except (InvalidToken, NotFound):
        raise error(401, "bad-link", "it is not complete, or not valid any more") from None
    if identity.role == "family" and not link_in_force(session, identity.token_id):
        raise error(401, "link-replaced", "it was replaced by a newer link")
    return identity, session


def _family(request: web.Request) -> tuple[Identity, Session]:
    """The family and session named by the link; an observer's link may not change consent."""
    identity, session = _holder(request)
    if identity.role != "family":
        raise error(403, "not-family", "only the family can change what they agreed to")
    return identity, session


def _withdrawal_only(current: Consent | None, purposes: list[str]) -> None:
    agreed = set(current.purposes) if current else set()
    added = [p for p in purposes if p not in agreed]
    if added:
        raise error(
            400,
            "withdrawal-only",
            f"only a withdrawal can be made here; {PURPOSE_NAMES.get(added[0], added[0])} "
            "was not agreed to before",
        )


def _purposes(body: dict[str, Any]) -> list[str]:
    try:
        return parse_purposes(body.get("purposes"))
    except UserError as exc:
        raise error(400, exc.code, str(exc)) from None


async def family_consent(request: web.Request) -> web.Response:
    """What the family agreed to, with the wording in `?language=` (unknown: English), for the
    page their link opens (an observer opening the same page learns only whether the call is
    still open)."""
    identity, session = _holder(request)
    if identity.role != "family":
        return web.json_response({"session": {"kind": session.kind, "status": session.status}})
    consent = request.app[CONSENTS].current(session.case_id)
    language = request.query.get("language")
    wording = family_wording(
        request.app[CONSENT_WORDINGS], language, session.kind, request.app[CONFIG]
    )
    return web.json_response(
        {
            "session": {"kind": session.kind, "status": session.status},
            # An expired link still opens this page (to withdraw), never the call: say so first.
            "link": {"expired": identity.expires_at < time.time()},
            "consent": consent.to_json() if consent else None,
            "records": recorded_for(session.kind),
            "wording": wording,
        }
    )


async def family_withdraw(request: web.Request) -> web.Response:
    """{"version", "purposes", "language"?}: the purposes the family still agrees to (a subset
    of before), and the language they read the question in (unknown: English)."""
    identity, session = _family(request)
    body = await read_json(request)
    wording = request.app[CONSENT_WORDING]
    if body.get("version") != wording["version"]:
        raise error(409, "stale-wording", "the consent text has changed: reload the page")
    purposes = _purposes(body)
    consents = request.app[CONSENTS]
    _withdrawal_only(consents.current(session.case_id), purposes)
    consent = consents.record(
        session.case_id,
        purposes,
        wording["version"],
        identity.participant_id,
        session_id=session.id,
        how="family-link",
        language=shipped_language(request.app[CONSENT_WORDINGS], body.get("language")),
    )
    request.app[STORE].audit(
        identity.participant_id,
        "consent-withdrawn",
        f"case:{session.case_id}",
        session=session.id,
        purposes=purposes,
        how="family-link",
        language=consent.language,
    )
    await announce_change(request.app, session.case_id)
    return web.json_response({"consent": consent.to_json()})


async def case_consent(request: web.Request) -> web.Response:
    """The family's current consent and its whole history, for their practitioner."""
    user = current_user(request)
    case = owned_case(request.app[STORE], user, request.match_info["case_id"])
    consents = request.app[CONSENTS]
    current = consents.current(case.id)
    history = [dict(c.to_json(), note=c.note) for c in consents.history(case.id)]
    return web.json_response(
        {"consent": current.to_json() if current else None, "history": history}
    )


async def record_withdrawal(request: web.Request) -> web.Response:
    """{"purposes", "how": phone|letter|email|in-person, "note"?}: a withdrawal the family made
    another way, written down by their practitioner (who and when are recorded too)."""
    user = current_user(request)
    case = owned_case(request.app[STORE], user, request.match_info["case_id"])
    body = await read_json(request)
    purposes = _purposes(body)
    how = body.get("how")
    if how not in PRACTITIONER_CHANNELS:
        raise error(400, "bad-field", f"'how' must be one of {', '.join(PRACTITIONER_CHANNELS)}")
    note = body.get("note", "")
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise error(400, "bad-field", f"'note' must be text of at most {MAX_NOTE} characters")
    consents = request.app[CONSENTS]
    current = consents.current(case.id)
    _withdrawal_only(current, purposes)
    version = current.wording_version if current else request.app[CONSENT_WORDING]["version"]
    consent = consents.record(case.id, purposes, version, user.id, how=str(how), note=note.strip())
    request.app[STORE].audit(
        user.id, "consent-withdrawn", f"case:{case.id}", purposes=purposes, how=how
    )
    await announce_change(request.app, case.id)
    return web.json_response({"consent": consent.to_json()}, status=201)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/family/consent", family_consent)
    app.router.add_post("/api/family/consent", family_withdraw)
    app.router.add_get("/api/cases/{case_id}/consent", case_consent)
    app.router.add_post("/api/cases/{case_id}/consent", record_withdrawal)
