"""The family's consent, purpose by purpose, given on their page before anything is recorded."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from vigremote.consent.store import PURPOSES, Consent
from vigremote.errors import UserError
from vigremote.rooms import Participant, Room
from vigremote.state import CONSENT_WORDING, CONSENTS, STORE


def parse_purposes(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise UserError("bad-consent", "purposes must be a list of purpose names")
    unknown = [p for p in value if p not in PURPOSES]
    if unknown:
        raise UserError("bad-consent", f"unknown purpose {unknown[0][:40]!r}")
    return [p for p in PURPOSES if p in value]


def consent_message(consent: Consent | None) -> dict[str, Any]:
    return {"type": "consent", "consent": consent.to_json() if consent else None}


async def handle_consent(
    app: web.Application, room: Room, participant: Participant, message: dict[str, Any]
) -> None:
    """{"type": "consent", "version", "purposes": [...]}: the family agrees, or changes its mind.

    An empty list withdraws everything; the recorder (a system participant) hears the
    broadcast and stops recording if the analysis purpose is gone.
    """
    if participant.role != "family":
        raise UserError("not-allowed", "only the family can give or change consent")
    wording = app[CONSENT_WORDING]
    if message.get("version") != wording["version"]:
        raise UserError("stale-wording", "the consent text has changed: reload the page")
    purposes = parse_purposes(message.get("purposes"))
    consent = app[CONSENTS].record(
        room.session_id, room.case_id, purposes, wording["version"], participant.id
    )
    app[STORE].audit(
        participant.id, "consent-given", f"session:{room.session_id}", purposes=purposes
    )
    await room.broadcast(consent_message(consent))


async def on_join(app: web.Application, room: Room, participant: Participant) -> None:
    """Tell a newcomer what the family agreed to (and show the family the wording)."""
    message = consent_message(app[CONSENTS].current(room.session_id))
    if participant.role == "family":
        message["wording"] = app[CONSENT_WORDING]
    participant.outbox.send(message)
