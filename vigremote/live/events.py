"""Events every server process must act on, because the room they concern may live in any of
them: a REST request on one process changes what a room on another must do.

Each is a small frozen dataclass, sent as JSON ({"event": name, ...fields}) between processes;
`decode` refuses anything else. The handlers live with their domain (consent, cases, review...)
and are registered by create_app.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ConsentChanged:
    """The family's consent changed: rooms of the case say so, recorders and players act."""

    case_id: str


@dataclass(frozen=True)
class SessionEnded:
    """The practitioner (or the call's trainee or supervisor) ended the session."""

    session_id: str


@dataclass(frozen=True)
class FamilyLinkReplaced:
    """A new family link was issued: whoever holds the old one is hung up on."""

    session_id: str


@dataclass(frozen=True)
class LoggedOut:
    """A login ended: sockets opened with it are closed."""

    login_id: str


@dataclass(frozen=True)
class ItemsRemoved:
    """Clips or stills were deleted: they leave every running review of the case."""

    case_id: str
    items: tuple[tuple[str, str], ...]  # (kind, id)
    notice: str


@dataclass(frozen=True)
class CaseErased:
    """The case is being erased: its rooms end and their recorders finish their files."""

    case_id: str


ClusterEvent = (
    ConsentChanged | SessionEnded | FamilyLinkReplaced | LoggedOut | ItemsRemoved | CaseErased
)
EVENT_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        ConsentChanged,
        SessionEnded,
        FamilyLinkReplaced,
        LoggedOut,
        ItemsRemoved,
        CaseErased,
    )
}


def encode(event: ClusterEvent) -> str:
    return json.dumps({"event": type(event).__name__, **dataclasses.asdict(event)})


def decode(text: str | bytes) -> ClusterEvent:
    """An event from its JSON; ValueError for anything that is not one."""
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("event") not in EVENT_TYPES:
        raise ValueError("not a cluster event")
    cls = EVENT_TYPES[data.pop("event")]
    names = {f.name for f in dataclasses.fields(cls)}
    if set(data) != names:
        raise ValueError(f"a {cls.__name__} has fields {sorted(names)}")
    if cls is ItemsRemoved:
        data["items"] = tuple((str(kind), str(item)) for kind, item in data["items"])
    event: ClusterEvent = cls(**data)
    return event
