"""Server recording of the family's stream: consent-gated, as sent, crash-safe.

- store: recordings, their segments and timeline marks (bookmarks, pauses, gaps) in SQLite;
- writer: a thread that muxes encoded frames into Matroska/WebM without re-encoding;
- recorder: the room's system participant that taps the family's feeds;
- control: the signalling messages and REST routes that drive and list recordings.
"""
