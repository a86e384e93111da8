"""create_app(config): the one place that wires stores, rooms and routes together."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from vigremote import accounts, cases, openapi, origin, pages, presence, signalling
from vigremote.audit import AUDIT_SEAL_KEY
from vigremote.auth import Passwords, TokenSigner
from vigremote.clips import analysis_api, clips_api
from vigremote.clips.store import ClipStore
from vigremote.config import Config, ensure_private_dir, load_secret
from vigremote.consent import api as consent_api
from vigremote.consent import messages as consent_messages
from vigremote.consent.store import ConsentStore, load_wording, load_wordings
from vigremote.httpjson import json_errors
from vigremote.keys import derive
from vigremote.media import passthrough
from vigremote.media.feeds import Feed
from vigremote.recording import control as recording_control
from vigremote.recording import deletion as recording_deletion
from vigremote.recording.store import RecordingStore
from vigremote.review import control as review_control
from vigremote.review import replay as review_replay
from vigremote.review.store import ReviewStore
from vigremote.rooms import Rooms
from vigremote.state import (
    CLIPS,
    CONFIG,
    CONSENT_WORDING,
    CONSENT_WORDINGS,
    CONSENTS,
    JOIN_HOOKS,
    MEDIA_LOCKS,
    MESSAGE_HANDLERS,
    PASSWORDS,
    RECORDINGS,
    REVIEWS,
    ROOMS,
    SIGNER,
    STORE,
    JoinHook,
    MessageHandler,
)
from vigremote.storage import Store


def create_app(config: Config) -> web.Application:
    app = web.Application(
        middlewares=[pages.security_headers, origin.same_origin, json_errors],
        client_max_size=64 * 1024,
    )
    app[CONFIG] = config
    app[PASSWORDS] = Passwords()
    app[SIGNER] = TokenSigner(load_secret(config.data_dir))
    app[ROOMS] = Rooms(Feed)
    app[CONSENT_WORDING] = load_wording()
    app[CONSENT_WORDINGS] = load_wordings()
    handlers: dict[str, MessageHandler] = {
        "consent": consent_messages.handle_consent,
        "record": recording_control.handle_record,
        "bookmark": recording_control.handle_bookmark,
        "review": review_control.handle_review,
        "muted": presence.handle_muted,
    }
    app[MESSAGE_HANDLERS] = handlers
    join_hooks: list[JoinHook] = [
        consent_messages.on_join,
        recording_control.on_join,
        review_control.on_join,
    ]
    app[JOIN_HOOKS] = join_hooks
    app.cleanup_ctx.append(_stores)
    app.cleanup_ctx.append(_rooms)
    app.on_shutdown.append(_hang_up)
    app[MEDIA_LOCKS] = {}
    for module in (
        accounts,
        cases,
        recording_control,
        recording_deletion,
        consent_api,
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
    ensure_private_dir(config.data_dir)
    store = Store(config.db_path, audit_key=derive(config.master_key, AUDIT_SEAL_KEY))
    app[STORE] = store
    app[CONSENTS] = ConsentStore(store.db)
    app[RECORDINGS] = RecordingStore(store.db)
    app[CLIPS] = ClipStore(store.db)
    app[REVIEWS] = ReviewStore(store.db)
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
