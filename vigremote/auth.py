"""Who is asking: password hashes, and signed tokens that carry a participant's identity.

A token is the only source of identity on the signalling socket: the session id, role and
participant id inside it are signed by the server, so a browser cannot claim to be anyone else.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

log = logging.getLogger(__name__)

# Families and system participants have no account; the others log in.
PARTICIPANT_ROLES = ("family", "practitioner", "observer", "supervisor")
_ALGORITHM = "HS256"
T = TypeVar("T")


class InvalidToken(Exception):
    """A token that is forged, expired, malformed or for something else."""


@dataclass(frozen=True)
class Identity:
    """A participant of one session, as vouched for by a signed token."""

    session_id: str
    role: str
    participant_id: str
    name: str
    expires_at: float
    token_id: str = ""  # the link's id: a re-issued family link revokes the older ones
    login_id: str | None = None  # a practitioner's login: the token dies with logout


class PasswordsBusy(Exception):
    """Too many password checks are already waiting: refuse rather than queue without end."""


class Passwords:
    """Argon2id: memory-hard, so a stolen database is slow to brute-force.

    One check costs ~0.12 s on 2 cores, and already uses 4 threads (parallelism 4). The server
    uses the `*_async` methods: they run on at most `workers` checks at once (by default one
    per 4 cores), on threads of their own at a lower CPU priority than the event loop, so a
    login flood queues (at most `max_waiting` deep) instead of freezing live video. The plain
    methods are for the command line and tests.
    """

    def __init__(self, workers: int | None = None, max_waiting: int = 64) -> None:
        self._hasher = PasswordHasher()
        self._workers = workers or max(1, (os.cpu_count() or 1) // 4)
        self._max_waiting = max_waiting
        self._pending = 0
        self._executor: ThreadPoolExecutor | None = None

    def hash(self, password: str) -> str:
        if len(password) < 8:
            raise ValueError("a password needs at least 8 characters")
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def dummy_verify(self) -> None:
        """Spend the same time for an unknown user as for a wrong password."""
        self.verify(_DUMMY_HASH, "not the password")

    async def hash_async(self, password: str) -> str:
        return await self._off_loop(self.hash, password)

    async def verify_async(self, password_hash: str, password: str) -> bool:
        return await self._off_loop(self.verify, password_hash, password)

    async def dummy_verify_async(self) -> None:
        await self._off_loop(self.dummy_verify)

    @property
    def pending(self) -> int:
        """Checks running or waiting for a worker."""
        return self._pending

    def close(self) -> None:
        """Stop the worker threads (checks already queued still finish)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    async def _off_loop(self, work: Callable[..., T], *args: str) -> T:
        if self._pending >= self._workers + self._max_waiting:
            raise PasswordsBusy("too many password checks waiting")
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                self._workers, thread_name_prefix="argon2", initializer=_lower_priority
            )
        self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, work, *args)
        finally:
            self._pending -= 1


def _lower_priority() -> None:
    """Argon2 threads (and the threads libargon2 starts from them) yield the CPU to the event
    loop: on Linux the nice value is per thread and inherited by the threads it creates."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (OSError, AttributeError) as exc:  # not Linux: the threads still keep off the loop
        log.debug("could not lower the Argon2 threads' priority: %s", exc)


_DUMMY_HASH = PasswordHasher().hash("dummy password for timing")


class TokenSigner:
    """Issues and checks join tokens (JWT, HS256 only: `alg: none` and others are refused)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def issue(
        self,
        session_id: str,
        role: str,
        participant_id: str,
        name: str,
        ttl_s: int,
        *,
        token_id: str | None = None,
        login_id: str | None = None,
    ) -> str:
        if role not in PARTICIPANT_ROLES:
            raise ValueError(f"unknown role {role!r}")
        now = int(time.time())
        claims: dict[str, Any] = {
            "typ": "join",
            "sid": session_id,
            "role": role,
            "sub": participant_id,
            "name": name,
            "iat": now,
            "exp": now + ttl_s,
            "jti": token_id or secrets.token_urlsafe(8),
        }
        if login_id is not None:
            claims["lid"] = login_id
        return jwt.encode(claims, self._key, algorithm=_ALGORITHM)

    def verify(self, token: str, expired_grace_s: int = 0) -> Identity:
        """Check a token; `expired_grace_s` accepts one that expired that long ago (used only
        for a family's withdrawal of consent after their link's call is over)."""
        if not isinstance(token, str) or len(token) > 4096:
            raise InvalidToken("malformed token")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],
                options={"require": ["exp", "iat", "sid", "role", "sub", "typ"]},
                leeway=expired_grace_s,
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("this link has expired") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken("this link is not valid") from exc
        if claims.get("typ") != "join" or claims.get("role") not in PARTICIPANT_ROLES:
            raise InvalidToken("this link is not valid")
        return Identity(
            session_id=str(claims["sid"]),
            role=str(claims["role"]),
            participant_id=str(claims["sub"]),
            name=str(claims.get("name", "")),
            expires_at=float(claims["exp"]),
            token_id=str(claims.get("jti", "")),
            login_id=str(claims["lid"]) if "lid" in claims else None,
        )


def new_login_secret() -> tuple[str, str]:
    """A login cookie value and the digest stored for it (a leaked database holds no cookies)."""
    value = secrets.token_urlsafe(32)
    return value, login_digest(value)


def login_digest(cookie_value: str) -> str:
    return hashlib.sha256(cookie_value.encode()).hexdigest()
