"""create_app(config): the one place that wires stores, rooms and routes together."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from vigremote import accounts, cases, openapi, origin, pages, presence, signalling
from vigremote.auth import Passwords, TokenSigner
from vigremote.clips import analysis_api, clips_api
from vigremote.config import Config, load_secret
from vigremote.consent import api as consent_api
from vigremote.consent import messages as consent_messages
from vigremote.consent.store import load_wording, load_wordings
from vigremote.governance import api as governance_api
from vigremote.governance import copies as family_copies
from vigremote.governance import erasure, retention
from vigremote.httpjson import json_errors
from vigremote.live.events import (
    CaseErased,
    ConsentChanged,
    FamilyLinkReplaced,
    ItemsRemoved,
    LoggedOut,
    SessionEnded,
)
from vigremote.live.keeper import live_state, make_live_state
from vigremote.live.state import RosterWriter
from vigremote.media import passthrough
from vigremote.media.feeds import Feed
from vigremote.recording import control as recording_control
from vigremote.recording import deletion as recording_deletion
from vigremote.records import open_records
from vigremote.review import control as review_control
from vigremote.review import replay as review_replay
from vigremote.rooms import Rooms
from vigremote.state import (
    CLIPS,
    CONFIG,
    CONSENT_WORDING,
    CONSENT_WORDINGS,
    CONSENTS,
    EVENT_HANDLERS,
    JOIN_HOOKS,
    LIVE,
    MEDIA_LOCKS,
    MESSAGE_HANDLERS,
    PASSWORDS,
    RATINGS,
    RECORDINGS,
    RECORDS,
    REVIEWS,
    ROOM_SYSTEMS,
    ROOMS,
    ROSTERS,
    SIGNER,
    STORE,
    SUPERVISION,
    VAULT,
    EventHandler,
    JoinHook,
    MessageHandler,
    SystemFactory,
)
from vigremote.supervision import api as supervision_api
from vigremote.supervision import call as supervision_call
from vigremote.supervision import log_api as supervision_log_api
from vigremote.supervision.ratings import read_scale_file


def create_app(config: Config) -> web.Application:
    app = web.Application(
        middlewares=[pages.security_headers, origin.same_origin, json_errors],
        client_max_size=64 * 1024,
    )
    app[CONFIG] = config
    app[PASSWORDS] = Passwords()
    app[SIGNER] = TokenSigner(load_secret(config.data_dir))
    app[LIVE] = live = make_live_state(config)
    app[ROSTERS] = rosters = RosterWriter()
    app[ROOMS] = Rooms(Feed, rosters.put, live.release)
    event_handlers: dict[type, EventHandler] = {
        ConsentChanged: consent_messages.on_consent_changed,
        SessionEnded: cases.on_session_ended,
        FamilyLinkReplaced: cases.on_link_replaced,
        LoggedOut: accounts.on_logged_out,
        ItemsRemoved: review_control.on_items_removed,
        CaseErased: erasure.on_case_erased,
    }
    app[EVENT_HANDLERS] = event_handlers
    app[CONSENT_WORDING] = load_wording()
    app[CONSENT_WORDINGS] = load_wordings()
    handlers: dict[str, MessageHandler] = {
        "consent": consent_messages.handle_consent,
        "record": recording_control.handle_record,
        "bookmark": recording_control.handle_bookmark,
        "review": supervision_call.handle_command,  # shared reviews and supervision calls
        "muted": presence.handle_muted,
    }
    app[MESSAGE_HANDLERS] = handlers
    join_hooks: list[JoinHook] = [
        consent_messages.on_join,
        recording_control.on_join,
        review_control.on_join,
        supervision_call.on_join,
    ]
    app[JOIN_HOOKS] = join_hooks
    # What each kind of session's room holds besides people, made when the room opens.
    room_systems: dict[str, list[SystemFactory]] = {
        "filming": [recording_control.carry_on],
        "review": [recording_control.carry_on, review_control.player_of],
        "supervision": [supervision_call.player_of],
    }
    app[ROOM_SYSTEMS] = room_systems
    app.cleanup_ctx.append(_stores)
    app.cleanup_ctx.append(retention.retention_job)
    app.cleanup_ctx.append(_rooms)
    app.cleanup_ctx.append(live_state)
    app.on_shutdown.append(_hang_up)
    app[MEDIA_LOCKS] = {}
    for module in (
        accounts,
        cases,
        recording_control,
        recording_deletion,
        consent_api,
        governance_api,
        family_copies,
        supervision_api,
        supervision_log_api,
        supervision_call,
        analysis_api,
        clips_api,
        review_control,
        review_replay,
        signalling,
        openapi,
        pages,
    ):
        module.add_routes(app)
    return app


async def _stores(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    records = open_records(config)
    store = records.store
    app[RECORDS] = records
    app[STORE] = store
    app[VAULT] = records.vault
    app[CONSENTS] = records.consents
    app[RECORDINGS] = records.recordings
    app[CLIPS] = records.clips
    app[REVIEWS] = records.reviews
    app[SUPERVISION] = records.supervision
    app[RATINGS] = records.ratings
    if config.sds_scale_file is not None:  # the organisation's scale, current from now on
        records.ratings.load_scale(read_scale_file(config.sds_scale_file))
    await recording_control.recover_interrupted(app)
    yield
    store.log_audit_head()  # into the server's log, outside the data folder (audit.py)
    store.close()


async def _hang_up(app: web.Application) -> None:
    """On shutdown, close every socket and let recorders finish their files before the server
    waits for handlers: an open socket would otherwise hold a stop (SIGTERM) for many seconds."""
    await app[ROOMS].close_all()


async def _rooms(app: web.Application) -> AsyncIterator[None]:
    # The server relays encoded frames and never decodes live video (see media/passthrough.py).
    passthrough.install()
    yield
    await app[ROOMS].close_all()
