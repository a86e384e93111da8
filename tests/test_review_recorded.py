"""review/recorded.py's timeline rules: what the review's player showed at a moment, and which
frame a camera shows then (the playing itself is tested over sockets and in Chromium)."""

from __future__ import annotations

from vigremote.review.recorded import clip_on_screen, frame_at

EVENTS = (
    {"t_s": 0.0, "action": "select", "kind": "clip", "id": "a"},
    {"t_s": 1.0, "action": "play", "frame": 0, "speed": 1},
    {"t_s": 2.0, "action": "speed", "speed": 0.5},
    {"t_s": 3.0, "action": "pause", "frame": 45},
    {"t_s": 4.0, "action": "select", "kind": "still", "id": "s"},
    {"t_s": 5.0, "action": "removed", "kind": "still", "id": "s"},
)


def test_the_clip_on_screen_follows_the_recorded_events() -> None:
    assert clip_on_screen(EVENTS, -0.1).kind is None  # before anything was shown
    held = clip_on_screen(EVENTS, 0.5)
    assert (held.kind, held.id, held.frame, held.playing) == ("clip", "a", 0, False)
    playing = clip_on_screen(EVENTS, 2.5)
    assert playing.playing and playing.since_s == 1.0 and playing.speed == 0.5
    paused = clip_on_screen(EVENTS, 3.0)  # an event applies from its own moment
    assert (paused.frame, paused.playing) == (45, False)
    assert clip_on_screen(EVENTS, 4.5).kind == "still"
    assert clip_on_screen(EVENTS, 6.0).kind is None  # taken off screen (consent, deletion)


def test_a_camera_shows_its_last_frame_at_or_before_a_moment() -> None:
    times = [500.0, 533.0, 567.0]
    assert frame_at(times, 0.0) == 0  # before it starts: its first frame
    assert frame_at(times, 532.0) == 0
    assert frame_at(times, 532.8) == 1  # half a millisecond: timestamps are whole ms
    assert frame_at(times, 10_000.0) == 2
