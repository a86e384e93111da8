"""Typed keys for what lives on the aiohttp Application (no module-level globals)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from vigremote.auth import Passwords, TokenSigner
from vigremote.clips.store import ClipStore
from vigremote.config import Config
from vigremote.consent.store import ConsentStore
from vigremote.live.state import LiveState, RosterWriter
from vigremote.recording.store import RecordingStore
from vigremote.records import Records
from vigremote.review.store import ReviewStore
from vigremote.rooms import Participant, Room, Rooms
from vigremote.storage import Store
from vigremote.supervision.ratings import RatingsStore
from vigremote.supervision.store import SupervisionStore
from vigremote.throttle import GuessThrottle, LoginThrottle
from vigremote.vault.files import Vault

CONFIG = web.AppKey("config", Config)
STORE = web.AppKey("store", Store)
SIGNER = web.AppKey("signer", TokenSigner)
PASSWORDS = web.AppKey("passwords", Passwords)
THROTTLE = web.AppKey("login_throttle", LoginThrottle)
CODE_GUESSES = web.AppKey("short_code_guesses", GuessThrottle)
ROOMS = web.AppKey("rooms", Rooms)
# The durable records together (records.py), for work that spans them (export, retention).
RECORDS = web.AppKey("records", Records)
# Every family file (media, caches, exports) is sealed through it (vault/).
VAULT = web.AppKey("vault", Vault)

# Extra signalling messages handled by domain modules (recording, consent): type -> handler.
MessageHandler = Callable[[web.Application, Room, Participant, dict[str, Any]], Awaitable[None]]
MESSAGE_HANDLERS: web.AppKey[dict[str, MessageHandler]] = web.AppKey("message_handlers")
CONSENTS = web.AppKey("consents", ConsentStore)
CONSENT_WORDING: web.AppKey[dict[str, Any]] = web.AppKey("consent_wording")
# The same wording in every shipped language, by language code ("en" is CONSENT_WORDING).
CONSENT_WORDINGS: web.AppKey[dict[str, dict[str, Any]]] = web.AppKey("consent_wordings")
RECORDINGS = web.AppKey("recordings", RecordingStore)
# Called after a participant joins a room, to send them the room's current state.
JoinHook = Callable[[web.Application, Room, Participant], Awaitable[None]]
JOIN_HOOKS: web.AppKey[list[JoinHook]] = web.AppKey("join_hooks")
# Each session kind's system participants (recorder, player), made when its room opens here.
SystemFactory = Callable[[web.Application, Room], Awaitable[Any]]
ROOM_SYSTEMS: web.AppKey[dict[str, list[SystemFactory]]] = web.AppKey("room_systems")
CLIPS = web.AppKey("clips", ClipStore)
# One media job (remux, thumbnails, cut) at a time per recording.
MEDIA_LOCKS: web.AppKey[dict[str, asyncio.Lock]] = web.AppKey("media_locks")
REVIEWS = web.AppKey("reviews", ReviewStore)
# Who supervises whom, shares and comments (supervision/).
SUPERVISION = web.AppKey("supervision", SupervisionStore)
# The supervision log and VIG-SDS ratings (supervision/ratings.py).
RATINGS = web.AppKey("ratings", RatingsStore)

# The live state shared by the server's processes (live/): room leases, rosters, events.
LIVE: web.AppKey[LiveState] = web.AppKey("live")
# What this process does for each cluster event (live/events.py): event class -> handler.
EventHandler = Callable[[web.Application, Any], Awaitable[None]]
EVENT_HANDLERS: web.AppKey[dict[type, EventHandler]] = web.AppKey("event_handlers")
ROSTERS = web.AppKey("rosters", RosterWriter)
