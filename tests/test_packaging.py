"""The wheel is a working install: pages, scripts and data files travel with the code.

The wheel is built from exactly what the Dockerfile's build stage copies, installed (not editable)
into a fresh venv, and `vigremote serve` from that venv must serve the pages and the consent
wording. The fresh venv borrows the test environment's dependencies through a .pth file placed
after its own site-packages, so vigremote itself can only come from the wheel.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 60
# Prints where vigremote is imported from and which folder it would serve pages from.
WHERE_FROM = (
    "import json, pathlib, vigremote, vigremote.config as c; "
    "print(json.dumps([vigremote.__file__, str(c.Config(data_dir=pathlib.Path()).web_dir)]))"
)


def run(*command: str | Path, cwd: Path, stdin: str | None = None) -> str:
    result = subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env=clean_env(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def clean_env() -> dict[str, str]:
    """No PYTHONPATH: nothing but the venv decides where vigremote is imported from."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def build_context(dest: Path) -> Path:
    """What the Dockerfile's build stage copies (its `COPY src… dst` lines), copied to dest:
    a file the build needs but the Dockerfile leaves out fails this test too."""
    dest.mkdir()
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        words = line.split()
        if not words or words[0] != "COPY" or any(w.startswith("--from") for w in words):
            continue
        for name in [w for w in words[1:-1] if not w.startswith("--")]:
            source = ROOT / name
            if source.is_dir():
                ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".*")
                shutil.copytree(source, dest / name, ignore=ignore)
            else:
                shutil.copy2(source, dest / name)
    return dest


def source_files(folder: Path) -> list[Path]:
    return [
        p
        for p in folder.rglob("*")
        if p.is_file()
        and "__pycache__" not in p.parts
        and not p.name.startswith(".")
        and not p.name.endswith("~")
    ]


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A snapshot of the sources, so files edited during the test do not skew what it compares."""
    return build_context(tmp_path_factory.mktemp("packaging") / "src")


@pytest.fixture(scope="module")
def wheel(context: Path) -> Path:
    """The wheel, built offline with the test environment's setuptools (no build isolation)."""
    out = context.parent / "dist"
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    run(*pip_wheel, "--no-index", "--quiet", "--wheel-dir", out, context, cwd=context.parent)
    [built] = out.glob("vigremote-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed, and this environment's packages as a fallback."""
    home = tmp_path_factory.mktemp("venv") / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", home, cwd=home.parent)
    python = home / "bin" / "python"
    site = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=home)
    # Appended after the venv's own site-packages: dependencies only, never vigremote itself
    # (this environment has vigremote as an editable finder, which a plain path entry skips).
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site.strip()) / "test-dependencies.pth").write_text("\n".join(sorted(deps)) + "\n")
    pip_install: list[str | Path] = [
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "--no-deps",
    ]
    run(*pip_install, "--no-index", "--quiet", wheel, cwd=home.parent)
    return home


def test_the_wheel_carries_every_module_page_and_data_file(context: Path, wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    web = context / "web"
    expected = {f"vigremote/web/{p.relative_to(web).as_posix()}" for p in source_files(web)}
    expected |= {p.relative_to(context).as_posix() for p in source_files(context / "vigremote")}
    assert "vigremote/web/practitioner.html" in expected
    assert "vigremote/data/consent-wording.json" in expected
    missing = sorted(expected - names)
    assert not missing, f"not in the wheel (list the package in pyproject.toml?): {missing}"


def test_an_editable_install_serves_the_checkouts_web_folder(tmp_path: Path) -> None:
    """`pip install -e .` keeps pages at the top-level web/, so edits show without reinstalling."""
    # Run from elsewhere, so vigremote comes through the install, not the checkout on sys.path.
    how = "import importlib.metadata as m; print(m.distribution('vigremote').read_text(%r) or '{}')"
    installed = json.loads(run(sys.executable, "-c", how % "direct_url.json", cwd=tmp_path))
    if not installed.get("dir_info", {}).get("editable"):
        pytest.skip("vigremote is not installed in editable mode here")
    imported, web_dir = json.loads(run(sys.executable, "-c", WHERE_FROM, cwd=tmp_path))
    assert Path(imported) == ROOT / "vigremote" / "__init__.py"
    assert Path(web_dir) == ROOT / "web"


@contextlib.asynccontextmanager
async def serving(venv: Path, data: Path, port: int) -> AsyncIterator[str]:
    """`vigremote serve` from the venv; its log must hold no traceback when it stops."""
    process = await asyncio.create_subprocess_exec(
        venv / "bin" / "vigremote",
        *("serve", "--host", "127.0.0.1", "--port", str(port), "--data", str(data)),
        cwd=data.parent,
        env=clean_env(),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    up = False
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(400):
                if process.returncode is not None:
                    break
                with contextlib.suppress(aiohttp.ClientConnectionError):
                    async with http.get(f"{base}/app") as response:
                        await response.read()
                        up = True
                        break
                await asyncio.sleep(0.05)
        if up:
            yield base
    finally:
        if process.returncode is None:
            process.terminate()
        _, log = await asyncio.wait_for(process.communicate(), TIMEOUT)
    assert up, "vigremote serve did not start:\n" + log.decode()
    assert b"Traceback" not in log, log.decode()


async def test_the_installed_wheel_serves_pages_and_the_consent_wording(
    context: Path, venv: Path, tmp_path: Path
) -> None:
    python, command = venv / "bin" / "python", venv / "bin" / "vigremote"
    imported, web_dir = json.loads(run(python, "-c", WHERE_FROM, cwd=tmp_path))
    assert Path(imported).is_relative_to(venv) and Path(web_dir).is_relative_to(venv)

    data, port = tmp_path / "data", free_port()
    add_user = ["user", "add", "bob", "--password-stdin"]
    run(command, *add_user, "--data", data, cwd=tmp_path, stdin="correct horse battery\n")
    new_session = ["session", "create", "--owner", "bob", "--case-label", "Family X"]
    created = json.loads(
        run(command, *new_session, "--data", data, "--port", str(port), cwd=tmp_path)
    )
    wording = json.loads((context / "vigremote" / "data" / "consent-wording.json").read_text())

    async with serving(venv, data, port) as base, aiohttp.ClientSession() as http:
        async with http.get(f"{base}/app") as page:
            assert page.status == 200 and page.content_type == "text/html"
            assert await page.read() == (context / "web" / "practitioner.html").read_bytes()
        async with http.get(f"{base}/static/protocol.js") as script:
            assert script.status == 200 and "javascript" in script.content_type
            assert await script.read() == (context / "web" / "protocol.js").read_bytes()

        token = created["family_link"].rsplit("/", 1)[1]
        async with http.ws_connect(f"{base.replace('http', 'ws', 1)}/ws", origin=base) as ws:
            await ws.send_json({"type": "hello", "version": 1, "token": token})
            while (message := await ws.receive_json(timeout=10))["type"] != "consent":
                assert message["type"] != "error", message
            assert message["wording"]["version"] == wording["version"]
