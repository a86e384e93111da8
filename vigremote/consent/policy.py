"""What each consent purpose allows: one table, checked by every route, media endpoint and player.

A recording is made for one purpose, set by its kind of session:
- a filming session records the family for the practitioner's **analysis**;
- a shared review records both cameras and the playback for the practitioner's **supervision**.
Every use of a recording, or of a clip or still cut from it, needs that purpose *and* the
purposes of the use, in the family's current consent (their latest word, for the whole case):

| use       | what it covers                                                    | needs          |
|-----------|-------------------------------------------------------------------|----------------|
| analyse   | open, stream, thumbnail a recording; cut, fetch, re-trim clips     | analysis       |
|           | and stills (the practitioner's own micro-analysis)                 |                |
| review    | show a clip or still to the family in a shared review              | analysis +     |
|           |                                                                    | shared_review  |
| replay    | replay a recorded shared review (both cameras, the playback)       | (its purpose)  |
| supervise | show material to a supervisor (issue 10)                           | supervision    |

Withdrawing a purpose therefore takes effect at once, everywhere: nothing here is remembered
from the time of recording. "training" gates nothing yet: no feature uses material for training.
"copies" lets the family have a page with their clips, if the organisation allows downloads
(governance/copies.py).
"""

from __future__ import annotations

from collections.abc import Collection

RECORDED_FOR = {"filming": "analysis", "review": "supervision"}
USES: dict[str, frozenset[str]] = {
    "analyse": frozenset({"analysis"}),
    "review": frozenset({"analysis", "shared_review"}),
    "replay": frozenset(),
    "supervise": frozenset({"supervision"}),
}
PURPOSE_NAMES = {
    "analysis": "analysis by the practitioner",
    "shared_review": "shared review with the family",
    "supervision": "supervision",
    "training": "training",
    "copies": "copies of clips for the family",
}


class ConsentRefused(Exception):
    """The family's current consent does not cover this use; the message says what is missing."""


def recorded_for(session_kind: str) -> str:
    """The purpose a session of this kind is recorded for."""
    return RECORDED_FOR.get(session_kind, "analysis")


def needed(session_kind: str, use: str) -> frozenset[str]:
    """The purposes a use of material recorded in this kind of session needs."""
    return USES[use] | {recorded_for(session_kind)}


def missing(purposes: Collection[str] | None, session_kind: str, use: str) -> list[str]:
    have = set(purposes or ())
    return sorted(needed(session_kind, use) - have)


def allows(purposes: Collection[str] | None, session_kind: str, use: str) -> bool:
    return not missing(purposes, session_kind, use)


def check(purposes: Collection[str] | None, session_kind: str, use: str) -> None:
    """Raise ConsentRefused, naming what the family has not agreed to (or has withdrawn)."""
    lacking = missing(purposes, session_kind, use)
    if lacking:
        names = " and ".join(PURPOSE_NAMES.get(p, p) for p in lacking)
        raise ConsentRefused(f"the family has not agreed to {names} (or has withdrawn it)")
