#!/usr/bin/env bash
# Install everything the test suite needs on a Debian machine, then run the whole suite.
# Usage: bash tests/run.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v npm >/dev/null || missing+=(nodejs npm)
command -v turnserver >/dev/null || missing+=(coturn)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}"
fi

# The shared-state tests need a Redis on 127.0.0.1:6379 (it keeps nothing on disk).
if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp --logfile /tmp/vigremote-test-redis.log
fi

python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test]'
# The browser client's checks: types (tsc --checkJs), lint (eslint), accessibility (axe-core).
npm ci --no-audit --no-fund --loglevel=error
.venv/bin/ruff check vigremote tests bench
.venv/bin/mypy
exec .venv/bin/python -m pytest -q "$@"
