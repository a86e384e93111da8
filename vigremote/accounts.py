"""Practitioner, supervisor and admin logins: cookie sessions with a CSRF token.

Families never log in: they hold a signed link instead (see auth.TokenSigner).
"""

from __future__ import annotations

import hmac
import secrets
import time

from aiohttp import web

from vigremote.auth import login_digest, new_login_secret
from vigremote.httpjson import error, read_json, text_field
from vigremote.state import CONFIG, PASSWORDS, STORE
from vigremote.storage import User

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


def user_json(user: User) -> dict[str, str]:
    return {"id": user.id, "username": user.username, "name": user.display_name, "role": user.role}


async def login(request: web.Request) -> web.Response:
    body = await read_json(request)
    username = text_field(body, "username", 100)
    password = text_field(body, "password", 1000)
    store, passwords = request.app[STORE], request.app[PASSWORDS]
    user = store.user_by_name(username)
    if user is None:
        passwords.dummy_verify()
    if user is None or not passwords.verify(user.password_hash, password):
        store.audit(username, "login-failed", f"user:{username}")
        raise error(401, "bad-login", "wrong username or password")
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
    cookie = request.cookies.get(COOKIE, "")
    request.app[STORE].delete_login(login_digest(cookie))
    response = web.json_response({"ok": True})
    response.del_cookie(COOKIE, path="/")
    return response


async def me(request: web.Request) -> web.Response:
    cookie = request.cookies.get(COOKIE)
    login_record = request.app[STORE].login(login_digest(cookie)) if cookie else None
    if login_record is None:
        raise error(401, "not-logged-in", "please log in")
    return web.json_response({"user": user_json(login_record.user), "csrf": login_record.csrf})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/login", login)
    app.router.add_post("/api/logout", logout)
    app.router.add_get("/api/me", me)
