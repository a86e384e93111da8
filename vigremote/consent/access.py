"""The consent check at the HTTP edge: every route that touches a family's media calls it.

It reads the family's *current* consent for the case (see policy.py for what each use needs),
audits a refusal, and answers 403 "no-consent" with a sentence a practitioner can act on.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from vigremote.consent import policy
from vigremote.httpjson import error
from vigremote.recording.store import Recording
from vigremote.state import CONSENTS, STORE


def recording_kind(app: web.Application, recording: Recording) -> str:
    """The kind of session a recording was made in ("filming" or "review")."""
    return app[STORE].session(recording.session_id).kind


def current_purposes(app: web.Application, case_id: str) -> tuple[str, ...]:
    consent = app[CONSENTS].current(case_id)
    return tuple(consent.purposes) if consent else ()


def require(app: web.Application, actor: str, recording: Recording, use: str) -> None:
    """Refuse (403, audited) unless the family's current consent covers this use."""
    purposes = current_purposes(app, recording.case_id)
    try:
        policy.check(purposes, recording_kind(app, recording), use)
    except policy.ConsentRefused as exc:
        app[STORE].audit(
            actor, "access-denied", f"recording:{recording.id}", reason="consent", use=use
        )
        raise error(403, "no-consent", f"Not available: {exc}.") from None


def uses_of(app: web.Application, recording: Recording) -> dict[str, Any]:
    """What the current consent allows for this recording, for pages to show or hide actions."""
    purposes = current_purposes(app, recording.case_id)
    kind = recording_kind(app, recording)
    return {
        "kind": kind,
        "allowed": {use: policy.allows(purposes, kind, use) for use in policy.USES},
    }
