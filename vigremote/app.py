"""create_app(config): the one place that wires stores, rooms and routes together."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from vigremote import accounts, cases, openapi, pages, signalling
from vigremote.auth import Passwords, TokenSigner
from vigremote.config import Config, ensure_private_dir, load_secret
from vigremote.httpjson import json_errors
from vigremote.media import passthrough
from vigremote.media.feeds import Feed
from vigremote.rooms import Rooms
from vigremote.state import CONFIG, PASSWORDS, ROOMS, SIGNER, STORE
from vigremote.storage import Store


def create_app(config: Config) -> web.Application:
    app = web.Application(
        middlewares=[pages.security_headers, json_errors], client_max_size=64 * 1024
    )
    app[CONFIG] = config
    app[PASSWORDS] = Passwords()
    app[SIGNER] = TokenSigner(load_secret(config.data_dir))
    app[ROOMS] = Rooms(Feed)
    app.cleanup_ctx.append(_store)
    app.cleanup_ctx.append(_rooms)
    for module in (accounts, cases, signalling, openapi, pages):
        module.add_routes(app)
    return app


async def _store(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    ensure_private_dir(config.data_dir)
    app[STORE] = Store(config.db_path)
    yield
    app[STORE].close()


async def _rooms(app: web.Application) -> AsyncIterator[None]:
    # The server relays encoded frames and never decodes live video (see media/passthrough.py).
    passthrough.install()
    yield
    await app[ROOMS].close_all()
