"""The family's consent in a call, and how a change of mind reaches every live room at once.

The family answers on their page at the start of each session, with what they agreed before
already ticked; a change (in the call, on their link after the call, or written down by the
practitioner) is recorded once for the case and then told to every open room of that case, so
a recorder stops and a review player drops what may no longer be shown.

The family's page asks for the wording in its own language over REST (consent/api.py,
`?language=`, also while the call runs, so switching language needs no reconnection); the copy
sent at join is English. The family's answer says which language it was given in.
"""

from __future__ import annotations

from typing import Any, cast

from aiohttp import web

from vigremote.consent.policy import recorded_for
from vigremote.consent.store import PURPOSES, Consent, family_wording, shipped_language
from vigremote.errors import UserError
from vigremote.live.events import ConsentChanged
from vigremote.messages import ConsentState, ConsentWording
from vigremote.rooms import Participant, Room
from vigremote.state import (
    CONFIG,
    CONSENT_WORDING,
    CONSENT_WORDINGS,
    CONSENTS,
    LIVE,
    ROOMS,
    STORE,
)


def parse_purposes(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise UserError("bad-consent", "purposes must be a list of purpose names")
    if len(value) > len(PURPOSES):
        raise UserError("bad-consent", "purposes lists a purpose more than once")
    unknown = [p for p in value if p not in PURPOSES]
    if unknown:
        raise UserError("bad-consent", f"unknown purpose {unknown[0][:40]!r}")
    return [p for p in PURPOSES if p in value]


def consent_message(consent: Consent | None, room: Room, confirmed: bool) -> ConsentState:
    """What everyone in the room is told: the current consent and what this session records."""
    return {
        "type": "consent",
        "consent": consent.to_json() if consent else None,
        "records": recorded_for(room.kind),
        "confirmed": confirmed,
    }


async def handle_consent(
    app: web.Application, room: Room, participant: Participant, message: dict[str, Any]
) -> None:
    """{"type": "consent", "version", "purposes": [...], "language"?}: the family agrees, or
    changes its mind, in the language it read the question in (unknown: English).

    An empty list withdraws everything.
    """
    if participant.role != "family":
        raise UserError("not-allowed", "only the family can give or change consent")
    wording = app[CONSENT_WORDING]
    if message.get("version") != wording["version"]:
        raise UserError("stale-wording", "the consent text has changed: reload the page")
    purposes = parse_purposes(message.get("purposes"))
    language = shipped_language(app[CONSENT_WORDINGS], message.get("language"))
    app[CONSENTS].record(
        room.case_id,
        purposes,
        wording["version"],
        participant.id,
        session_id=room.session_id,
        language=language,
    )
    app[STORE].audit(
        participant.id,
        "consent-given",
        f"case:{room.case_id}",
        session=room.session_id,
        purposes=purposes,
        how="in-call",
        language=language,
    )
    await announce_change(app, room.case_id)


async def announce_change(app: web.Application, case_id: str) -> None:
    """The case's consent changed: every process tells its rooms (on_consent_changed)."""
    await app[LIVE].publish(ConsentChanged(case_id))


async def on_consent_changed(app: web.Application, event: ConsentChanged) -> None:
    """Tell every open room of this case here: people see it, recorders and players act on it."""
    consents = app[CONSENTS]
    consent = consents.current(event.case_id)
    if consent is None:
        return
    for room in app[ROOMS].of_case(event.case_id):
        confirmed = consents.confirmed_in(room.session_id)
        await room.broadcast(consent_message(consent, room, confirmed))
        await room.consent_changed(tuple(consent.purposes))
    # Supervision calls show several families' material: each call re-checks its items.
    for room in app[ROOMS].all():
        if room.kind == "supervision":
            await room.consent_changed(tuple(consent.purposes))


async def on_join(app: web.Application, room: Room, participant: Participant) -> None:
    """Tell a newcomer the current consent; the family also gets the wording for this session."""
    consents = app[CONSENTS]
    message = consent_message(
        consents.current(room.case_id), room, consents.confirmed_in(room.session_id)
    )
    if participant.role == "family":
        wording = family_wording(app[CONSENT_WORDINGS], None, room.kind, app[CONFIG])
        # The wording file's keys are checked against ConsentWording by tests/test_messages.py.
        message["wording"] = cast(ConsentWording, wording)
    participant.outbox.send(message)
