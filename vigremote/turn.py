"""Short-lived TURN credentials, so families behind mobile carriers' NATs still get media.

A phone on a carrier network often cannot reach the server directly; it relays its media
through a TURN server (coturn). A fixed TURN password handed to every browser could be copied
and used by anyone, so coturn runs with `use-auth-secret` and vigremote signs credentials
per participant with the secret both share (coturn's "TURN REST API" scheme):

    username = "<unix expiry>:<participant id>"
    password = base64(HMAC-SHA1(secret, username))

coturn recomputes the password from the username and refuses it once the expiry has passed.
The credentials travel in the signalling handshake (`welcome.iceServers`); a browser that
reconnects gets fresh ones. They must outlast a call (coturn checks them again each time an
allocation is refreshed), hence the default of the participant token's lifetime.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from vigremote.config import Config, IceServer, TurnSettings


def password_for(secret: str, username: str) -> str:
    """coturn's password for a REST-API username: base64 of HMAC-SHA1 keyed by the secret."""
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def credentials_for(
    settings: TurnSettings, participant_id: str, now: float | None = None
) -> list[IceServer]:
    """One participant's TURN servers with credentials valid for `settings.ttl_s` seconds."""
    expiry = int(time.time() if now is None else now) + settings.ttl_s
    # coturn takes the expiry from before the first ":"; the rest only names who it was for.
    username = f"{expiry}:{participant_id.replace(':', '_')}"
    password = password_for(settings.secret, username)
    return [IceServer(url, username, password) for url in settings.urls]


def ice_servers_for(config: Config, participant_id: str) -> list[IceServer]:
    """What one browser is told to use: the fixed STUN/TURN servers, then its own TURN login."""
    signed = [] if config.turn is None else credentials_for(config.turn, participant_id)
    return [*config.ice_servers, *signed]
