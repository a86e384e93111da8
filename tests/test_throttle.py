"""Login throttling on its own, with a clock the test moves (no waiting)."""

from __future__ import annotations

import pytest

from vigremote.throttle import (
    PER_ACCOUNT,
    PER_PAIR,
    GuessThrottle,
    Limit,
    LoginThrottle,
    Refused,
    address_key,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def refused_for(throttle: LoginThrottle, account: str, address: str) -> float:
    with pytest.raises(Refused) as refused:
        throttle.admit(account, address)
    return refused.value.retry_after_s


def test_a_burst_from_one_address_is_cut_off_before_any_hash(clock: Clock) -> None:
    """Attempts are counted when admitted: of 40 at once, only the free ones get through."""
    throttle = LoginThrottle(clock=clock)
    admitted = 0
    for _ in range(40):
        try:
            throttle.admit("alice", "203.0.113.9")
            admitted += 1
        except Refused as refused:
            assert 0 < refused.retry_after_s <= PER_PAIR.cap_s
    assert admitted == PER_PAIR.free


def test_back_off_doubles_and_is_capped(clock: Clock) -> None:
    throttle = LoginThrottle(clock=clock)
    for _ in range(PER_PAIR.free):
        throttle.admit("alice", "203.0.113.9")
    waits = []
    for _ in range(9):
        wait = refused_for(throttle, "alice", "203.0.113.9")
        waits.append(wait)
        clock.now += wait
        throttle.admit("alice", "203.0.113.9")  # one more guess once the wait is over
    assert waits[:6] == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
    assert waits[6:] == [60.0, 60.0, 60.0]


def test_the_right_person_from_another_address_is_not_locked_out(clock: Clock) -> None:
    throttle = LoginThrottle(clock=clock)
    for _ in range(100):
        try:
            throttle.admit("alice", "203.0.113.9")
        except Refused:
            pass
    attempt = throttle.admit("alice", "198.51.100.7")  # alice herself, during the attack
    throttle.succeeded(attempt)


def test_an_attack_spread_over_many_addresses_blocks_the_account_for_a_capped_time(
    clock: Clock,
) -> None:
    throttle = LoginThrottle(clock=clock)
    # alice logged in from her usual address last week.
    throttle.succeeded(throttle.admit("alice", "198.51.100.7"))
    clock.now += 7 * 24 * 3600
    admitted = 0
    for index in range(200):  # a botnet: one guess per address
        try:
            throttle.admit("alice", f"10.0.{index // 250}.{index % 250}")
            admitted += 1
        except Refused:
            pass
    assert admitted == PER_ACCOUNT.free
    # A new address (alice on her phone's network) waits out a short back-off, no more...
    wait = refused_for(throttle, "alice", "192.0.2.50")
    assert wait <= PER_ACCOUNT.cap_s
    # ...and the address she logged in from before is let in at once.
    throttle.succeeded(throttle.admit("alice", "198.51.100.7"))
    clock.now += wait
    throttle.succeeded(throttle.admit("alice", "192.0.2.50"))


def test_once_the_burst_is_over_the_back_off_ends(clock: Clock) -> None:
    throttle = LoginThrottle(clock=clock)
    for index in range(300):
        try:
            throttle.admit("alice", f"10.1.{index // 250}.{index % 250}")
        except Refused:
            pass
    clock.now += PER_ACCOUNT.cap_s
    throttle.succeeded(throttle.admit("alice", "192.0.2.50"))


def test_a_success_clears_only_its_own_address_and_account(clock: Clock) -> None:
    """An attacker cannot reset their address's count by logging in to their own account."""
    limit = Limit(free=3, base_s=1.0, cap_s=60.0, forget_s=900)
    throttle = LoginThrottle(per_pair=limit, per_address=limit, per_account=limit, clock=clock)
    throttle.admit("alice", "203.0.113.9")
    throttle.admit("bob", "203.0.113.9")
    throttle.succeeded(throttle.admit("mallory", "203.0.113.9"))  # taken back: 2 counted
    throttle.admit("carol", "203.0.113.9")  # the third counted attempt: blocks the address
    refused_for(throttle, "dave", "203.0.113.9")


def test_counts_are_forgotten_after_a_quiet_while(clock: Clock) -> None:
    throttle = LoginThrottle(clock=clock)
    for _ in range(PER_PAIR.free):
        throttle.admit("alice", "203.0.113.9")
    refused_for(throttle, "alice", "203.0.113.9")
    clock.now += PER_PAIR.forget_s + 1
    for _ in range(PER_PAIR.free):
        throttle.admit("alice", "203.0.113.9")


def test_memory_is_bounded(clock: Clock) -> None:
    throttle = LoginThrottle(max_entries=1000, clock=clock)
    for index in range(20_000):
        try:
            throttle.admit(
                f"user{index}", f"10.{index // 65536}.{index // 256 % 256}.{index % 256}"
            )
        except Refused:
            pass
    assert len(throttle) <= 3 * 1000


def test_ipv6_clients_are_counted_per_64() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::2")
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert address_key("192.0.2.1") == "192.0.2.1"


def test_wrong_short_codes_are_free_then_the_address_waits_longer_each_time() -> None:
    now = [1000.0]
    guesses = GuessThrottle(
        Limit(free=3, base_s=2.0, cap_s=60.0, forget_s=600), clock=lambda: now[0]
    )
    for _ in range(2):
        assert guesses.wait_s("198.51.100.7") == 0
        guesses.missed("198.51.100.7")
    guesses.missed("198.51.100.7")  # the third miss: the back-off starts
    assert guesses.wait_s("198.51.100.7") == pytest.approx(2.0)
    assert guesses.wait_s("198.51.100.8") == 0  # another address is not held up
    now[0] += 2.0
    assert guesses.wait_s("198.51.100.7") == 0
    guesses.missed("198.51.100.7")
    assert guesses.wait_s("198.51.100.7") == pytest.approx(4.0)
    now[0] += 601 + 4
    assert guesses.wait_s("198.51.100.7") == 0  # forgotten after a quiet while
    guesses.missed("198.51.100.7")
    assert guesses.wait_s("198.51.100.7") == 0
