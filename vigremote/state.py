"""Typed keys for what lives on the aiohttp Application (no module-level globals)."""

from __future__ import annotations

from aiohttp import web

from vigremote.auth import Passwords, TokenSigner
from vigremote.config import Config
from vigremote.rooms import Rooms
from vigremote.storage import Store

CONFIG = web.AppKey("config", Config)
STORE = web.AppKey("store", Store)
SIGNER = web.AppKey("signer", TokenSigner)
PASSWORDS = web.AppKey("passwords", Passwords)
ROOMS = web.AppKey("rooms", Rooms)
