"""The two kinds of error on the signalling socket."""

from __future__ import annotations

CLOSE_PROTOCOL_ERROR = 1002


class ProtocolError(Exception):
    """The browser broke the protocol: the socket is closed with this code and reason."""

    def __init__(self, reason: str, code: int = CLOSE_PROTOCOL_ERROR) -> None:
        super().__init__(reason)
        self.code = code


class UserError(Exception):
    """A request that cannot be done: sent back as an error message; nothing changes."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
