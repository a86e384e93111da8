"""Server configuration: one immutable object built by the CLI or by tests."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from vigremote import messages

PROTOCOL_VERSION = 1


@dataclass(frozen=True)
class IceServer:
    """One STUN or TURN server handed to browsers and to aiortc alike."""

    urls: str
    username: str | None = None
    credential: str | None = None

    def to_json(self) -> messages.IceServer:
        out: messages.IceServer = {"urls": self.urls}
        if self.username is not None:
            out["username"] = self.username
        if self.credential is not None:
            out["credential"] = self.credential
        return out


@dataclass(frozen=True)
class TurnSettings:
    """TURN servers (turn:/turns: URLs) sharing `secret` with vigremote (see turn.py)."""

    urls: tuple[str, ...]
    secret: str = field(repr=False)  # never in a log line
    ttl_s: int = 12 * 3600

    def __post_init__(self) -> None:
        if not self.urls:
            raise ValueError("a TURN secret needs at least one --turn-url")
        bad = [u for u in self.urls if not u.startswith(("turn:", "turns:"))]
        if bad:
            raise ValueError(f"not a turn: or turns: URL: {', '.join(bad)}")
        if not self.secret:
            raise ValueError("the TURN secret is empty")
        if self.ttl_s <= 0:
            raise ValueError("the TURN credential lifetime must be positive")


def default_web_dir() -> Path:
    """The pages and scripts the server hands to browsers.

    A wheel ships them inside the package (vigremote/web, see pyproject.toml); a source checkout
    or an editable install serves the top-level web/ folder itself, so edits show on reload.
    (Not `importlib.resources.files("vigremote.web")`: setuptools' editable installs cannot import
    a package mapped onto a folder without an __init__.py.)
    """
    package = Path(__file__).resolve().parent
    installed = package / "web"
    return installed if installed.is_dir() else package.parent / "web"


@dataclass(frozen=True)
class Config:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    # No public STUN host is assumed: families behind NAT need a TURN server configured here.
    ice_servers: tuple[IceServer, ...] = ()
    # With a TURN secret, each participant gets its own short-lived TURN credentials.
    turn: TurnSettings | None = None
    redis_url: str | None = None  # live state shared through Redis (several processes)
    # This process among the server's workers: its id, and the address other workers relay a
    # browser's socket to when a room lives here ("" when one process serves everything).
    worker_id: str = "local"
    internal_url: str = ""
    live_namespace: str = "vigremote"  # the start of its Redis keys (one Redis, several services)
    # From outside the data folder (keys.load_master_key, done by the CLI). A Config made in
    # code without one gets a fresh random key: fine for a test, not for data that must last.
    master_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    # Family links stay valid for a week: sessions are booked ahead and sent by text message.
    family_link_ttl_s: int = 7 * 24 * 3600
    participant_token_ttl_s: int = 12 * 3600
    login_ttl_s: int = 12 * 3600
    max_message_bytes: int = 64 * 1024
    max_sdp_lines: int = 1000
    heartbeat_s: float = 10.0
    outgoing_queue_size: int = 128
    # Server-wide codec order: every peer gets the same video codec so frames forward unchanged.
    video_codecs: tuple[str, ...] = ("VP8", "H264")
    web_dir: Path = field(default_factory=default_web_dir)
    secure_cookies: bool = False
    # Retention (governance/retention.py): a filming's raw recording is deleted this many days
    # after the shared review that follows it; a closed case (clips, stills, all of it) this many
    # days after it was closed; a recorded shared review this many days after it was made; the
    # audit trail after this many days. Practitioners are warned `retention_warn_days` ahead.
    retain_raw_days_after_review: int = 30
    retain_days_after_close: int = 365
    retain_review_recording_days: int = 180
    retain_audit_days: int = 7 * 365
    retention_warn_days: int = 14
    retention_sweep_every_s: float = 24 * 3600
    # Downloads are off unless the organisation allows them; a family gets copies of its clips
    # only if it also agreed to keep copies (consent purpose "copies"), for this many days.
    downloads_allowed: bool = False
    family_copies_days: int = 30
    # Supervision: the organisation's rating scale and accreditation scheme (None: the shipped
    # placeholders in vigremote/data).
    sds_scale_file: Path | None = None
    accreditation_file: Path | None = None
    # Told to families with the consent question (plain sentences; each organisation sets its own;
    # {raw_days} and {closed_days} are replaced by the retention periods above).
    retention_text: str = (
        "The film of your family is deleted {raw_days} days after the shared review that uses "
        "it, and the short clips {closed_days} days after your practitioner closes your case."
    )
    withdraw_text: str = (
        "You can change your mind at any time, also after the call: open this same link again "
        "and untick what you no longer agree to, or tell your practitioner."
    )
    contact_text: str = "If you have a question or a worry, ask your practitioner."

    def consent_notes(self) -> dict[str, str]:
        """The organisation's own lines sent with the consent wording (kept, withdraw, contact)."""
        return {
            "retention_text": self.retention_text,  # fill_periods() fills in the numbers
            "withdraw_text": self.withdraw_text,
            "contact_text": self.contact_text,
        }

    def fill_periods(self, text: str) -> str:
        """`text` with {raw_days} and {closed_days} replaced (other braces left alone)."""
        periods = {
            "{raw_days}": str(self.retain_raw_days_after_review),
            "{closed_days}": str(self.retain_days_after_close),
        }
        for placeholder, value in periods.items():
            text = text.replace(placeholder, value)
        return text

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "localhost" if self.host in ("127.0.0.1", "0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "vigremote.sqlite3"


def ensure_private_dir(path: Path) -> Path:
    """Create a folder only its owner can read: it holds families' data."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def load_secret(data_dir: Path) -> bytes:
    """The signing key for links and cookies, made once per data folder and kept 0600.

    Written to a temporary file and linked into place, so two processes starting on a fresh
    folder agree on one key and never read a half-written one.
    """
    ensure_private_dir(data_dir)
    key_path = data_dir / "secret.key"
    if not key_path.exists():
        tmp = data_dir / f".secret.key.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, key_path)  # fails if another process won the race: use theirs
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    key = bytes.fromhex(key_path.read_text().strip())
    if len(key) < 32:
        raise RuntimeError(f"{key_path} does not hold a usable key")
    return key
