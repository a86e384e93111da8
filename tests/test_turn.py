"""TURN for real networks: per-participant credentials that a real coturn accepts, and a
Chromium that may only use relayed candidates still gets the family's video through."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import start_server
from tests.support.browser import (
    launch_browser,
    new_desktop_context,
    new_phone_context,
    wait_for_frame_numbers,
)
from tests.support.coturn import allocate, running_coturn
from tests.support.numbered_video import write_numbered_y4m
from tests.test_e2e_filming import practitioner_logs_in
from vigremote import cli
from vigremote.config import Config, TurnSettings
from vigremote.turn import credentials_for, ice_servers_for

# Every RTCPeerConnection the page makes may only use TURN relays, as behind a strict NAT.
RELAY_ONLY = """
(() => {
  const Native = window.RTCPeerConnection;
  window.__pcs = [];
  window.RTCPeerConnection = function (config) {
    const pc = new Native({ ...(config || {}), iceTransportPolicy: 'relay' });
    window.__pcs.push(pc);
    return pc;
  };
  window.RTCPeerConnection.prototype = Native.prototype;
})();
"""

SELECTED_PAIR_TYPES = """
async () => {
  const pc = window.__pcs[window.__pcs.length - 1];
  const stats = await pc.getStats();
  let pair = null;
  stats.forEach((s) => {
    if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s;
  });
  if (!pair) return null;
  return stats.get(pair.localCandidateId).candidateType;
}
"""


def test_credentials_follow_coturns_rest_scheme() -> None:
    turn = TurnSettings(("turn:turn.example.org:3478",), "s3cret", ttl_s=600)
    before = int(time.time())
    (server,) = credentials_for(turn, "family:1")
    expiry, who = server.username.split(":", 1)
    assert before + 600 <= int(expiry) <= int(time.time()) + 600
    assert who == "family_1"  # coturn reads the expiry up to the first ":"
    other = credentials_for(turn, "practitioner")[0]
    assert other.credential != server.credential
    assert "s3cret" not in repr(turn)


def test_each_browser_gets_the_fixed_servers_then_its_own_turn_login(tmp_path: Path) -> None:
    assert ice_servers_for(Config(data_dir=tmp_path), "p") == []
    config = Config(
        data_dir=tmp_path,
        turn=TurnSettings(("turn:a:3478", "turns:a:5349"), "k"),
    )
    servers = ice_servers_for(config, "p")
    assert [s.urls for s in servers] == ["turn:a:3478", "turns:a:5349"]
    assert all(s.username and s.username.endswith(":p") and s.credential for s in servers)


@pytest.mark.parametrize(
    ("urls", "secret", "ttl", "says"),
    [
        ((), "k", 60, "at least one"),
        (("stun:a:3478",), "k", 60, "not a turn"),
        (("turn:a:3478",), "", 60, "empty"),
        (("turn:a:3478",), "k", 0, "positive"),
    ],
)
def test_bad_turn_settings_are_refused(
    urls: tuple[str, ...], secret: str, ttl: int, says: str
) -> None:
    with pytest.raises(ValueError, match=says):
        TurnSettings(urls, secret, ttl)


async def test_coturn_accepts_our_credentials_and_refuses_expired_or_forged_ones(
    tmp_path: Path,
) -> None:
    async with running_coturn(tmp_path) as coturn:
        good = TurnSettings((coturn.url,), coturn.secret, ttl_s=600)
        (login,) = credentials_for(good, "family")
        assert login.username and login.credential
        host, port = await allocate(coturn.port, login.username, login.credential)
        assert host == "127.0.0.1" and port > 0

        (expired,) = credentials_for(good, "family", now=time.time() - 3600)
        assert expired.username and expired.credential
        with pytest.raises(Exception):  # noqa: B017 - aioice raises its own transaction error
            await allocate(coturn.port, expired.username, expired.credential)

        forged = TurnSettings((coturn.url,), "not-the-secret", ttl_s=600)
        (wrong,) = credentials_for(forged, "family")
        assert wrong.username and wrong.credential
        with pytest.raises(Exception):  # noqa: B017
            await allocate(coturn.port, wrong.username, wrong.credential)


async def test_a_relay_only_family_is_seen_through_coturn(tmp_path: Path) -> None:
    camera = tmp_path / "numbered.y4m"
    write_numbered_y4m(camera, frames=150, fps=15)
    async with running_coturn(tmp_path) as coturn:
        runner, server = await start_server(
            tmp_path / "data", turn=TurnSettings((coturn.url,), coturn.secret, ttl_s=600)
        )
        try:
            owner = server.add_user("alice")
            created = server.new_session(owner, "Family A")
            # The handshake hands this family its own TURN login.
            async with launch_browser(camera) as browser:
                family_ctx = await new_phone_context(browser)
                await family_ctx.add_init_script(RELAY_ONLY)
                desk_ctx = await new_desktop_context(browser)
                family = await family_ctx.new_page()
                practitioner = await desk_ctx.new_page()
                await practitioner_logs_in(practitioner, server, "alice")
                await practitioner.goto(f"{server.url}/app#live/{created['session']['id']}")
                await practitioner.wait_for_selector("#live-view:not([hidden])")

                await family.goto(created["family_link"])
                await family.click("#start")
                numbers = await wait_for_frame_numbers(
                    practitioner, "#family-video", count=4, timeout=30
                )
                assert numbers == sorted(numbers)
                # Media really went through the relay, and coturn saw our signed login.
                assert await family.evaluate(SELECTED_PAIR_TYPES) == "relay"
                family_pc_servers = await family.evaluate(
                    "window.__pcs[window.__pcs.length - 1].getConfiguration().iceServers"
                )
                (turn_server,) = family_pc_servers
                assert turn_server["username"].split(":", 1)[1].startswith("family")
                log = coturn.log.read_text(errors="replace")
                assert turn_server["username"] in log
        finally:
            await runner.cleanup()


async def test_without_a_secret_the_handshake_offers_only_fixed_servers(tmp_path: Path) -> None:
    runner, server = await start_server(tmp_path / "data")
    try:
        owner = server.add_user("alice")
        created = server.new_session(owner)
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(server.ws_url) as ws,
        ):
            await ws.send_json({"type": "hello", "version": 1, "token": created["token"]})
            welcome = await ws.receive_json(timeout=10)
            assert welcome["type"] == "welcome", welcome
            assert welcome["iceServers"] == []
    finally:
        await runner.cleanup()


def test_the_command_line_takes_the_secret_from_env_or_file_and_says_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def config(*args: str) -> Config:
        return cli._config(cli.parser().parse_args(["serve", "--data", str(tmp_path), *args]))

    monkeypatch.delenv("VIGREMOTE_TURN_SECRET", raising=False)
    assert config().turn is None
    with pytest.raises(SystemExit, match="needs a TURN secret"):
        config("--turn-url", "turn:t:3478")
    monkeypatch.setenv("VIGREMOTE_TURN_SECRET", "from-env")
    with pytest.raises(SystemExit, match="at least one --turn-url"):
        config()
    turn = config("--turn-url", "turn:t:3478", "--turn-ttl", "900").turn
    assert turn == TurnSettings(("turn:t:3478",), "from-env", 900)
    secret_file = tmp_path / "turn.secret"
    secret_file.write_text("from-file\n")
    turn = config("--turn-url", "turn:t:3478", "--turn-secret-file", str(secret_file)).turn
    assert turn is not None and turn.secret == "from-file"
