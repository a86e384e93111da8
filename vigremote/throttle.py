"""Login throttling: password guessing is refused early, before any Argon2 hash is computed.

Every attempt is counted up front (so a burst of concurrent guesses is cut off at once, not
after all of them were hashed) and three counts are kept:

- per account and address: the tightest; the right password from that address clears it;
- per address: one address guessing many accounts;
- per account: many addresses guessing one account. It is looser and its back-off is shorter,
  and it never applies to an address that has logged in to that account before: an attacker
  spread over many addresses must not be able to lock the real person out.

Past its free attempts a count blocks for an exponentially growing time (1 s, 2 s, 4 s...),
capped, and it is forgotten after a quiet while. Memory is bounded: each table keeps at most
`max_entries` entries and forgets the least recently used.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

TRUST_S = 30 * 24 * 3600


@dataclass(frozen=True)
class Limit:
    """How many attempts are free, and the back-off after them."""

    free: int
    base_s: float
    cap_s: float
    forget_s: float

    def backoff_s(self, over: int) -> float:
        """The wait after the `over`-th attempt past the free ones (0-based)."""
        return min(self.cap_s, self.base_s * 2.0 ** min(over, 32))


PER_PAIR = Limit(free=5, base_s=1.0, cap_s=60.0, forget_s=15 * 60)
PER_ADDRESS = Limit(free=20, base_s=1.0, cap_s=60.0, forget_s=15 * 60)
PER_ACCOUNT = Limit(free=50, base_s=1.0, cap_s=30.0, forget_s=15 * 60)


@dataclass
class _Count:
    attempts: int = 0
    blocked_until: float = 0.0
    last: float = 0.0
    trusted_until: float = 0.0  # pair counts only: this address logged in to this account


class _Table:
    """One kind of count, keyed by a string; least recently used entries go first."""

    def __init__(self, limit: Limit, max_entries: int) -> None:
        self.limit = limit
        self._max = max_entries
        self._counts: OrderedDict[str, _Count] = OrderedDict()

    def __len__(self) -> int:
        return len(self._counts)

    def get(self, key: str, now: float) -> _Count:
        count = self._counts.get(key)
        if count is None:
            count = _Count(last=now)
            self._counts[key] = count
            while len(self._counts) > self._max:
                self._counts.popitem(last=False)
        else:
            self._counts.move_to_end(key)
            quiet = now - count.last > self.limit.forget_s and now >= count.blocked_until
            if quiet:
                count.attempts, count.blocked_until = 0, 0.0
        return count

    def count(self, count: _Count, now: float) -> None:
        count.attempts += 1
        count.last = now
        over = count.attempts - self.limit.free
        if over >= 0:
            count.blocked_until = max(count.blocked_until, now + self.limit.backoff_s(over))


@dataclass(frozen=True)
class Attempt:
    """A login attempt that was let through: report how it ended with `succeeded`."""

    account: str
    address: str
    counted_for_account: bool


class Refused(Exception):
    """Too many attempts: try again after `retry_after_s` seconds."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"too many login attempts: try again in {math.ceil(retry_after_s)} s")
        self.retry_after_s = retry_after_s


class LoginThrottle:
    """The three counts; held on the Application (see state.THROTTLE)."""

    def __init__(
        self,
        per_pair: Limit = PER_PAIR,
        per_address: Limit = PER_ADDRESS,
        per_account: Limit = PER_ACCOUNT,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pairs = _Table(per_pair, max_entries)
        self._addresses = _Table(per_address, max_entries)
        self._accounts = _Table(per_account, max_entries)
        self.clock = clock

    def __len__(self) -> int:
        """Entries held, all tables together (bounded by 3 * max_entries)."""
        return len(self._pairs) + len(self._addresses) + len(self._accounts)

    def admit(self, account: str, address: str) -> Attempt:
        """Count an attempt, or raise Refused (without counting it) while a back-off lasts."""
        now = self.clock()
        account, address = _account_key(account), address_key(address)
        pair = self._pairs.get(f"{account}\n{address}", now)
        by_address = self._addresses.get(address, now)
        by_account = self._accounts.get(account, now)
        counts = [(self._pairs, pair), (self._addresses, by_address)]
        trusted = pair.trusted_until > now
        if not trusted:
            counts.append((self._accounts, by_account))
        wait = max(count.blocked_until - now for _, count in counts)
        if wait > 0:
            raise Refused(wait)
        for table, count in counts:
            table.count(count, now)
        return Attempt(account, address, counted_for_account=not trusted)

    def succeeded(self, attempt: Attempt) -> None:
        """The right password: this address is trusted for this account, its count cleared.

        The address and account counts only take this attempt back, so an attacker cannot
        reset their address's count by logging in to an account of their own.
        """
        now = self.clock()
        pair = self._pairs.get(f"{attempt.account}\n{attempt.address}", now)
        pair.attempts, pair.blocked_until, pair.trusted_until = 0, 0.0, now + TRUST_S
        taken_back = [(self._addresses, attempt.address)]
        if attempt.counted_for_account:
            taken_back.append((self._accounts, attempt.account))
        for table, key in taken_back:
            count = table.get(key, now)
            count.attempts = max(0, count.attempts - 1)
            if count.attempts < table.limit.free:  # the block was this attempt's own doing
                count.blocked_until = 0.0


def _account_key(username: str) -> str:
    return username.strip().casefold()[:200]


def address_key(address: str) -> str:
    """IPv6 clients are counted per /64: one host can use a whole /64 of addresses."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:100]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


# Short family links (/j/<code>): a wrong code now and then is a typo; many are someone guessing.
CODE_GUESSES = Limit(free=10, base_s=2.0, cap_s=300.0, forget_s=15 * 60)


class GuessThrottle:
    """Counts wrong short-link codes per address; past `limit.free` that address must wait
    (growing back-off) before any code is looked up again, right or wrong, so ~40 bits cannot
    be searched from one address."""

    def __init__(
        self,
        limit: Limit = CODE_GUESSES,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._misses = _Table(limit, max_entries)
        self.clock = clock

    def wait_s(self, address: str) -> float:
        """How long this address must still wait (0: it may try a code now)."""
        now = self.clock()
        return max(0.0, self._misses.get(address_key(address), now).blocked_until - now)

    def missed(self, address: str) -> None:
        now = self.clock()
        key = address_key(address)
        self._misses.count(self._misses.get(key, now), now)
