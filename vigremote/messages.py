"""Every signalling message, defined once: what browsers send and what the server sends.

Each message is a JSON object whose "type" names it. This module is the only definition:
- the server's senders are typed with it (an Outbox, a room broadcast, a system participant
  only take a `ServerMessage`, so mypy checks every message the server builds);
- the server refuses a message whose type is not a `ClientMessage` here ("unknown-type");
- the browser's types are generated from it (the pages' JSDoc imports them, tsc checks them):

      .venv/bin/python -m vigremote.messages_ts > web/messages.d.ts

  tests/test_messages.py fails when web/messages.d.ts is stale, and checks every message a
  real session sends against these definitions.

The socket's life (handshake, close codes, reconnecting) is described at the top of
web/protocol.js; what each handler accepts and refuses is in the module that handles it.
Browser messages are checked by hand where they are handled: these types say what a browser
should send, never that it did.
"""

# No `from __future__ import annotations` here: which keys are NotRequired is read at run time
# (messages_ts.py, tests/test_messages.py), and Python 3.11 loses it from string annotations.
import typing
from typing import Literal, NotRequired, TypedDict

# -- names used in several messages ------------------------------------------------------

MediaKind = Literal["audio", "video"]
RecordAction = Literal["start", "pause", "resume", "stop"]
RecordingState = Literal["idle", "recording", "paused", "stopping", "stopped", "failed"]
ReviewAction = Literal[
    "play",
    "pause",
    "seek",
    "step",
    "speed",
    "loop",
    "select",
    "accept-pause",
    "dismiss-pause",
    "request-pause",
    "hand-over",
]
ReviewPlayState = Literal["empty", "still", "playing", "paused"]
MEDIA_KINDS: tuple[MediaKind, ...] = ("audio", "video")


class Participant(TypedDict):
    """One member of the call as the roster lists them: a person, or the server's recorder or
    player (role "recorder", "player"). `media` is the state of their video connection (for
    the recorder and player, their own state); `muted` lists what they turned off."""

    id: str
    role: str
    name: str
    media: str
    muted: NotRequired[list[str]]


class SessionInfo(TypedDict):
    id: str
    kind: str  # "filming" or "review"


class Slot(TypedDict):
    """One media line of the browser's connection, in order: "camera" (people) or "clip" (the
    review player); `send` says whether the browser's own camera or microphone goes out on it."""

    name: str
    kind: MediaKind
    send: bool


class IceServer(TypedDict):
    urls: str
    username: NotRequired[str]
    credential: NotRequired[str]


class IceCandidate(TypedDict, total=False):
    """A browser's RTCIceCandidate.toJSON()."""

    candidate: str
    sdpMid: str | None
    sdpMLineIndex: int | None
    usernameFragment: str | None


class Consent(TypedDict):
    """The family's current consent for the case (their latest word), purpose by purpose."""

    id: str
    purposes: list[str]
    wording_version: str
    given_by: str
    how: str
    given_at: float
    language: str | None  # the language the family answered in (None: a practitioner's entry)


class PurposeWording(TypedDict):
    id: str
    label: str
    detail: str
    required_for_recording: bool


class AfterCallWording(TypedDict):
    title: str
    intro: str
    saved: str


class ConsentWording(TypedDict):
    """The consent question as the family reads it (vigremote/data/consent-wording.json, with
    this kind of session's texts and the organisation's own lines)."""

    version: str
    title: str
    purposes: list[PurposeWording]
    intro: str
    records: str
    will_record: str
    will_not_record: str
    after_call: AfterCallWording
    retention_text: str
    withdraw_text: str
    contact_text: str
    language: str  # the language of these texts (web/i18n, vigremote/data/consent-wording.*)


class ReviewItem(TypedDict):
    kind: str  # "clip", "still" or "recording" (a recorded shared review, in a supervision call)
    id: str
    title: str


class PauseRequest(TypedDict):
    """The family asked to pause on `frame` (the clip frame they saw), at `at` (Unix time)."""

    frame: int
    by: str
    at: float


# -- browser -> server -------------------------------------------------------------------


class Hello(TypedDict):
    """The handshake: first on every socket, with the signed token from the link or login."""

    type: Literal["hello"]
    version: int
    token: str


class Offer(TypedDict):
    """A new RTCPeerConnection's offer, one m-line per slot of the welcome."""

    type: Literal["offer"]
    sdp: str


class Candidate(TypedDict):
    """A trickled ICE candidate; null ends the candidates."""

    type: Literal["candidate"]
    candidate: IceCandidate | None


class Ping(TypedDict):
    """Keeps a quiet socket alive; the server answers pong."""

    type: Literal["ping"]


class Control(TypedDict):
    """The practitioner asks the family's phone to switch camera; the server passes it on to
    the family as is."""

    type: Literal["control"]
    action: Literal["switch-camera"]


class End(TypedDict):
    """The practitioner ends the session for everyone."""

    type: Literal["end"]


class GiveConsent(TypedDict):
    """The family agrees, or changes its mind, for the wording `version` they were shown; an
    empty list withdraws everything."""

    type: Literal["consent"]
    version: str
    purposes: list[str]
    language: NotRequired[str]  # the language the question was read in (unknown: English)


class Record(TypedDict):
    """Start, pause, resume or stop the recording (the family may pause and resume)."""

    type: Literal["record"]
    action: RecordAction


class Bookmark(TypedDict):
    """The practitioner marks this moment of the running recording."""

    type: Literal["bookmark"]
    note: NotRequired[str]


class ReviewCommand(TypedDict):
    """Drive the shared review's player (the practitioner); the family may only send
    request-pause. seek takes `frame`, step `delta` (-1 or 1), speed `speed` (0.25, 0.5, 1),
    loop `on`, select `item` (an index in the playlist). In a supervision call the driver drives,
    and hand-over gives that to the participant `to`."""

    type: Literal["review"]
    action: ReviewAction
    frame: NotRequired[int]
    delta: NotRequired[int]
    speed: NotRequired[float]
    on: NotRequired[bool]
    item: NotRequired[int]
    to: NotRequired[str]


class Muted(TypedDict):
    """What this browser turned off; sent again after every welcome (a new connection starts
    with nothing off)."""

    type: Literal["muted"]
    off: list[MediaKind]


# -- server -> browser -------------------------------------------------------------------


class Welcome(TypedDict):
    """The handshake's answer: who you are, the session, ICE servers and the media slots to
    offer, in order."""

    type: Literal["welcome"]
    version: int
    you: Participant
    session: SessionInfo
    iceServers: list[IceServer]
    slots: list[Slot]


class Answer(TypedDict):
    """The answer to an offer, and the video codec chosen."""

    type: Literal["answer"]
    sdp: str
    codec: str | None


class Pong(TypedDict):
    type: Literal["pong"]


class Participants(TypedDict):
    """The roster, to everyone, whenever someone joins, leaves or changes state."""

    type: Literal["participants"]
    participants: list[Participant]


class Ended(TypedDict):
    """The session is over; the socket closes with 4002."""

    type: Literal["ended"]


class ConsentState(TypedDict):
    """The family's current consent (null: never asked), what this session records
    ("analysis" or "supervision") and whether the family has answered in this session. The
    family's copy at join carries the wording of the question."""

    type: Literal["consent"]
    consent: Consent | None
    records: str
    confirmed: bool
    wording: NotRequired[ConsentWording]


class RecordingStatus(TypedDict):
    """The recording's state, to everyone in the room (also at join: "idle" when none runs);
    `message` says why it stopped or failed."""

    type: Literal["recording"]
    state: RecordingState
    paused_by: str | None
    recording_id: str | None
    elapsed_s: float
    message: str | None


class Bookmarked(TypedDict):
    """The practitioner's bookmark was kept, `t_s` seconds into the recording."""

    type: Literal["bookmarked"]
    t_s: float
    note: str


class Driver(TypedDict):
    """Who drives the player in a supervision call (their participant id and name)."""

    type: Literal["driver"]
    id: str
    name: str


class ReviewState(TypedDict):
    """The shared review's player: which item of the playlist shows (-1: none), which frame of
    how many, the first frame's number in the recording, speed, loop, the family's pending
    pause request, and a notice (why an item was taken off the screen)."""

    type: Literal["review-state"]
    state: ReviewPlayState
    item: int
    items: list[ReviewItem]
    frame: int
    frames: int
    first_frame: int
    cameras: list[str]  # a recorded review's cameras ("family", "practitioner") shown beside it
    speed: float
    loop: bool
    pause_request: PauseRequest | None
    notice: str | None
    notice_code: str | None  # the notice as a stable key: the family's page says it in its language


class ErrorMessage(TypedDict):
    """A user error: the message of type `about` changed nothing; the socket stays open."""

    type: Literal["error"]
    code: str
    message: str
    about: str


# Every message a browser may send, and every message the server sends ("control" goes both
# ways: the server passes the practitioner's on to the family).
ClientMessage = (
    Hello
    | Offer
    | Candidate
    | Ping
    | Control
    | End
    | GiveConsent
    | Record
    | Bookmark
    | ReviewCommand
    | Muted
)
ServerMessage = (
    Welcome
    | Answer
    | Pong
    | Control
    | Participants
    | Ended
    | ConsentState
    | RecordingStatus
    | Bookmarked
    | ReviewState
    | Driver
    | ErrorMessage
)


def message_type(definition: type) -> str:
    """The "type" a message definition declares (its Literal)."""
    (name,) = typing.get_args(definition.__annotations__["type"])
    return str(name)


CLIENT_TYPES = frozenset(message_type(m) for m in typing.get_args(ClientMessage))
SERVER_TYPES = frozenset(message_type(m) for m in typing.get_args(ServerMessage))
