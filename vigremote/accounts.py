"""Practitioner, supervisor and admin logins: cookie sessions with a CSRF token.

Families never log in: they hold a signed link instead (see auth.TokenSigner).
"""

from __future__ import annotations

import hmac
import math
import secrets
import time

from aiohttp import web

from vigremote.auth import PasswordsBusy, login_digest, new_login_secret
from vigremote.httpjson import error, read_json, text_field
from vigremote.live.events import LoggedOut
from vigremote.rooms import CLOSE_POLICY
from vigremote.state import CONFIG, LIVE, PASSWORDS, ROOMS, STORE, THROTTLE
from vigremote.storage import User
from vigremote.throttle import LoginThrottle, Refused

COOKIE = "vig_login"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def current_user(request: web.Request) -> User:
    """The logged-in user; for state-changing requests the CSRF header must match too."""
    cookie = request.cookies.get(COOKIE)
    login = request.app[STORE].login(login_digest(cookie)) if cookie else None
    if login is None:
        raise error(401, "not-logged-in", "please log in")
    if request.method not in _SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), login.csrf.encode()):
            raise error(403, "csrf", "missing or wrong CSRF token: reload the page")
    return login.user


def current_login_id(request: web.Request) -> str:
    """The id of the asker's login (a digest of their cookie): tokens tied to it die with it."""
    current_user(request)
    return login_digest(request.cookies.get(COOKIE, ""))


def user_json(user: User) -> dict[str, str]:
    return {"id": user.id, "username": user.username, "name": user.display_name, "role": user.role}


async def login(request: web.Request) -> web.Response:
    """Check a password: throttled first, then hashed off the event loop (see auth.Passwords).

    Only JSON is taken: a form or text/plain body is what another site can make a browser
    send without asking (login CSRF: the victim would be logged in as the attacker).
    """
    if request.content_type != "application/json":
        raise error(415, "json-required", "send the login as JSON (application/json)")
    body = await read_json(request)
    username = text_field(body, "username", 100)
    password = text_field(body, "password", 1000)
    try:
        attempt = request.app[THROTTLE].admit(username, request.remote or "")
    except Refused as exc:
        raise _too_many("too-many-attempts", str(exc), exc.retry_after_s) from None
    store, passwords = request.app[STORE], request.app[PASSWORDS]
    user = store.user_by_name(username)
    try:
        if user is None:
            await passwords.dummy_verify_async()
        right = user is not None and await passwords.verify_async(user.password_hash, password)
    except PasswordsBusy:
        message = "the server is busy checking logins: try again in a moment"
        raise _too_many("busy", message, 1.0) from None
    if user is None or not right:
        store.audit(username, "login-failed", f"user:{username}")
        raise error(401, "bad-login", "wrong username or password")
    request.app[THROTTLE].succeeded(attempt)
    config = request.app[CONFIG]
    cookie, digest = new_login_secret()
    csrf = secrets.token_urlsafe(24)
    store.add_login(digest, user.id, csrf, time.time() + config.login_ttl_s)
    store.audit(user.id, "login", f"user:{user.id}")
    response = web.json_response({"user": user_json(user), "csrf": csrf})
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=config.login_ttl_s,
        httponly=True,
        samesite="Strict",
        secure=config.secure_cookies,
        path="/",
    )
    return response


async def logout(request: web.Request) -> web.Response:
    current_user(request)
    login_id = login_digest(request.cookies.get(COOKIE, ""))
    request.app[STORE].delete_login(login_id)
    await request.app[LIVE].publish(LoggedOut(login_id))
    response = web.json_response({"ok": True})
    response.del_cookie(COOKIE, path="/")
    return response


async def me(request: web.Request) -> web.Response:
    cookie = request.cookies.get(COOKIE)
    login_record = request.app[STORE].login(login_digest(cookie)) if cookie else None
    if login_record is None:
        raise error(401, "not-logged-in", "please log in")
    return web.json_response({"user": user_json(login_record.user), "csrf": login_record.csrf})


def _too_many(code: str, message: str, retry_after_s: float) -> web.HTTPException:
    refused = error(429, code, message)
    refused.headers["Retry-After"] = str(max(1, math.ceil(retry_after_s)))
    return refused


async def _stop_password_workers(app: web.Application) -> None:
    app[PASSWORDS].close()


async def on_logged_out(app: web.Application, event: LoggedOut) -> None:
    """Signalling tokens made for this login die with it, including sockets already open."""
    for room in app[ROOMS].all():
        for member in await room.members():
            if member.login_id == event.login_id:
                member.disconnect(CLOSE_POLICY, "you logged out")


def add_routes(app: web.Application) -> None:
    """The login routes, the login throttle they share, and the end of the Argon2 workers."""
    app[THROTTLE] = LoginThrottle()
    app.on_cleanup.append(_stop_password_workers)
    app.router.add_post("/api/login", login)
    app.router.add_post("/api/logout", logout)
    app.router.add_get("/api/me", me)
