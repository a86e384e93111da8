"""Who is asking: password hashes, and signed tokens that carry a participant's identity.

A token is the only source of identity on the signalling socket: the session id, role and
participant id inside it are signed by the server, so a browser cannot claim to be anyone else.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# Families and system participants have no account; the others log in.
PARTICIPANT_ROLES = ("family", "practitioner", "observer")
_ALGORITHM = "HS256"


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


class Passwords:
    """Argon2id: memory-hard, so a stolen database is slow to brute-force."""

    def __init__(self) -> None:
        self._hasher = PasswordHasher()

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


_DUMMY_HASH = PasswordHasher().hash("dummy password for timing")


class TokenSigner:
    """Issues and checks join tokens (JWT, HS256 only: `alg: none` and others are refused)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def issue(self, session_id: str, role: str, participant_id: str, name: str, ttl_s: int) -> str:
        if role not in PARTICIPANT_ROLES:
            raise ValueError(f"unknown role {role!r}")
        now = int(time.time())
        claims = {
            "typ": "join",
            "sid": session_id,
            "role": role,
            "sub": participant_id,
            "name": name,
            "iat": now,
            "exp": now + ttl_s,
            "jti": secrets.token_urlsafe(8),
        }
        return jwt.encode(claims, self._key, algorithm=_ALGORITHM)

    def verify(self, token: str) -> Identity:
        if not isinstance(token, str) or len(token) > 4096:
            raise InvalidToken("malformed token")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],
                options={"require": ["exp", "iat", "sid", "role", "sub", "typ"]},
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
        )


def new_login_secret() -> tuple[str, str]:
    """A login cookie value and the digest stored for it (a leaked database holds no cookies)."""
    value = secrets.token_urlsafe(32)
    return value, login_digest(value)


def login_digest(cookie_value: str) -> str:
    return hashlib.sha256(cookie_value.encode()).hexdigest()
