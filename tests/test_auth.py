"""Password hashes and signed join tokens, without a server."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import sys
import threading
import time

import jwt
import pytest

from vigremote.auth import (
    Identity,
    InvalidToken,
    Passwords,
    PasswordsBusy,
    TokenSigner,
    login_digest,
    new_login_secret,
)

KEY = bytes(range(32))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    base: dict[str, object] = {
        "typ": "join",
        "sid": "S1",
        "role": "family",
        "sub": "family",
        "name": "Family",
        "iat": now,
        "exp": now + 600,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


# passwords -----------------------------------------------------------------------------------
def test_password_hashes_are_argon2id_salted_and_verify() -> None:
    passwords = Passwords()
    first = passwords.hash("correct horse battery")
    second = passwords.hash("correct horse battery")
    assert first.startswith("$argon2id$")
    assert first != second  # a fresh salt each time
    assert "correct horse" not in first
    assert passwords.verify(first, "correct horse battery")
    assert passwords.verify(second, "correct horse battery")
    assert not passwords.verify(first, "correct horse batterY")
    assert not passwords.verify(first, "")


@pytest.mark.parametrize("password", ["", "short", "7 chars"])
def test_a_short_password_is_refused(password: str) -> None:
    with pytest.raises(ValueError, match="at least 8 characters"):
        Passwords().hash(password)
    assert Passwords().hash("8 chars!").startswith("$argon2id$")


@pytest.mark.parametrize(
    "stored", ["", "not a hash", "$argon2id$v=19$m=65536,t=3,p=4$garbage", "$2b$12$" + "a" * 53]
)
def test_verify_against_a_broken_hash_is_false_not_an_error(stored: str) -> None:
    assert Passwords().verify(stored, "correct horse battery") is False


def test_dummy_verify_runs_without_error() -> None:
    Passwords().dummy_verify()


# tokens --------------------------------------------------------------------------------------
def test_token_round_trip_carries_the_identity() -> None:
    signer = TokenSigner(KEY)
    before = time.time()
    token = signer.issue(
        "S1", "practitioner", "U1", "Alice Smith", ttl_s=600, token_id="L1", login_id="D1"
    )
    identity = signer.verify(token)
    assert identity == Identity(
        "S1", "practitioner", "U1", "Alice Smith", identity.expires_at, "L1", "D1"
    )
    assert before + 599 <= identity.expires_at <= time.time() + 601
    header = json.loads(unb64url(token.split(".")[0]))
    assert header["alg"] == "HS256"
    # An expired token is refused unless a grace period covers it (a family's withdrawal).
    expired = signer.issue("S1", "family", "family", "Family", ttl_s=-100)
    assert signer.verify(expired, expired_grace_s=3600).role == "family"
    with pytest.raises(InvalidToken):
        signer.verify(expired, expired_grace_s=10)
    # Each token is distinct even for the same participant (jti), and both verify.
    again = signer.issue("S1", "practitioner", "U1", "Alice Smith", ttl_s=600)
    assert again != token
    assert signer.verify(again).participant_id == "U1"


@pytest.mark.parametrize("role", ["family", "practitioner", "observer", "supervisor"])
def test_every_participant_role_round_trips(role: str) -> None:
    signer = TokenSigner(KEY)
    assert signer.verify(signer.issue("S9", role, "P", "N", 60)).role == role


@pytest.mark.parametrize("role", ["admin", "trainee", "", "Family"])
def test_issuing_for_a_role_that_is_not_a_participant_is_refused(role: str) -> None:
    with pytest.raises(ValueError, match="unknown role"):
        TokenSigner(KEY).issue("S1", role, "P", "N", 60)


@pytest.mark.parametrize(
    "field, value",
    [("sid", "S2"), ("role", "practitioner"), ("sub", "someone-else"), ("exp", 4102444800)],
)
def test_a_tampered_payload_fails(field: str, value: object) -> None:
    signer = TokenSigner(KEY)
    token = signer.issue("S1", "family", "family", "Family", ttl_s=600)
    header, payload, signature = token.split(".")
    body = json.loads(unb64url(payload))
    body[field] = value
    forged = ".".join([header, b64url(json.dumps(body).encode()), signature])
    with pytest.raises(InvalidToken, match="not valid"):
        signer.verify(forged)
    assert signer.verify(token).session_id == "S1"  # the genuine one still works


def test_a_tampered_signature_fails() -> None:
    signer = TokenSigner(KEY)
    token = signer.issue("S1", "family", "family", "Family", ttl_s=600)
    head, _, signature = token.rpartition(".")
    # The first character is all signature bits (the last one carries padding bits too).
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    with pytest.raises(InvalidToken):
        signer.verify(f"{head}.{flipped}")


def test_an_expired_token_fails_with_a_readable_reason() -> None:
    signer = TokenSigner(KEY)
    with pytest.raises(InvalidToken, match="expired"):
        signer.verify(signer.issue("S1", "family", "family", "Family", ttl_s=-5))


def test_a_token_signed_with_another_key_fails() -> None:
    token = TokenSigner(b"another key entirely, 32 bytes!!").issue("S1", "family", "f", "F", 600)
    with pytest.raises(InvalidToken, match="not valid"):
        TokenSigner(KEY).verify(token)


def test_alg_none_is_refused() -> None:
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = b64url(json.dumps(claims()).encode())
    with pytest.raises(InvalidToken, match="not valid"):
        TokenSigner(KEY).verify(f"{header}.{payload}.")


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_other_algorithms_with_the_right_key_are_refused(algorithm: str) -> None:
    token = jwt.encode(claims(), KEY, algorithm=algorithm)
    with pytest.raises(InvalidToken, match="not valid"):
        TokenSigner(KEY).verify(token)


@pytest.mark.parametrize(
    "overrides",
    [
        {"typ": "login"},
        {"typ": None},
        {"role": "admin"},
        {"sid": None},
        {"sub": None},
        {"exp": None},
        {"iat": None},
        {"iat": int(time.time()) + 3600},  # issued in the future
    ],
    ids=["typ", "no-typ", "role", "no-sid", "no-sub", "no-exp", "no-iat", "future-iat"],
)
def test_correctly_signed_tokens_with_wrong_claims_fail(overrides: dict[str, object]) -> None:
    token = jwt.encode(claims(**overrides), KEY, algorithm="HS256")
    with pytest.raises(InvalidToken):
        TokenSigner(KEY).verify(token)
    # Control: the same claims without the override verify.
    assert TokenSigner(KEY).verify(jwt.encode(claims(), KEY, algorithm="HS256")).role == "family"


@pytest.mark.parametrize(
    "token", ["", "garbage", "a.b.c", "a.b", "....", None, 42, ["x"], "x" * 5000]
)
def test_garbage_tokens_fail_with_invalid_token(token: object) -> None:
    with pytest.raises(InvalidToken):
        TokenSigner(KEY).verify(token)  # type: ignore[arg-type]


def test_login_secret_is_stored_only_as_its_digest() -> None:
    value, digest = new_login_secret()
    assert digest == hashlib.sha256(value.encode()).hexdigest() == login_digest(value)
    assert value not in digest
    assert new_login_secret()[0] != value


# password checks off the event loop -------------------------------------------------------------
class CountingPasswords(Passwords):
    """Records how many checks run at once (the real Argon2 check, then a short hold)."""

    def __init__(self, workers: int = 2, max_waiting: int = 64) -> None:
        super().__init__(workers, max_waiting)
        self.lock = threading.Lock()
        self.running = 0
        self.most_at_once = 0
        self.threads: set[int] = set()

    def verify(self, password_hash: str, password: str) -> bool:
        with self.lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self.threads.add(threading.get_native_id())
        try:
            result = super().verify(password_hash, password)
            time.sleep(0.02)
            return result
        finally:
            with self.lock:
                self.running -= 1


async def test_async_checks_give_the_same_answers() -> None:
    passwords = Passwords()
    try:
        stored = await passwords.hash_async("correct horse battery")
        assert await passwords.verify_async(stored, "correct horse battery") is True
        assert await passwords.verify_async(stored, "wrong horse battery") is False
        assert await passwords.verify_async("not a hash", "correct horse battery") is False
        await passwords.dummy_verify_async()
    finally:
        passwords.close()


async def test_checks_run_off_the_loop_and_at_most_workers_at_once() -> None:
    """A flood of checks queues on two threads while the event loop keeps running."""
    passwords = CountingPasswords(workers=2)
    stored = passwords.hash("correct horse battery")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0)
            ticks += 1

    beat = asyncio.create_task(ticker())
    try:
        checks = [passwords.verify_async(stored, f"guess {i}") for i in range(8)]
        assert await asyncio.gather(*checks) == [False] * 8
    finally:
        beat.cancel()
        passwords.close()
    assert passwords.most_at_once == 2
    assert threading.get_native_id() not in passwords.threads
    assert ticks > 100  # the loop went round while the checks ran


async def test_too_many_waiting_checks_are_refused_not_queued() -> None:
    passwords = CountingPasswords(workers=1, max_waiting=2)
    stored = passwords.hash("correct horse battery")
    try:
        results = await asyncio.gather(
            *(passwords.verify_async(stored, "guess") for _ in range(6)), return_exceptions=True
        )
    finally:
        passwords.close()
    assert results.count(False) == 3  # one running, two waiting
    assert all(isinstance(r, PasswordsBusy) for r in results if r is not False)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
async def test_password_threads_yield_the_cpu_to_the_event_loop() -> None:
    passwords = Passwords()
    try:
        nice = await passwords._off_loop(lambda: str(os.getpriority(os.PRIO_PROCESS, 0)))
    finally:
        passwords.close()
    assert int(nice) >= os.getpriority(os.PRIO_PROCESS, 0) + 10 or int(nice) == 19
