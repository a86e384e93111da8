# syntax=docker/dockerfile:1
# Two stages: the first builds wheels (vigremote's own, carrying web/ and vigremote/data, and its
# dependencies'); the second installs them (not editable) with no sources and no build tools, and
# runs as an unprivileged user. tests/test_packaging.py builds from the same COPY lines.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY vigremote ./vigremote
COPY web ./web
RUN pip wheel --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# Installed from the first stage's wheels only (no index): what was built is what runs.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels vigremote
# The data folder holds families' recordings: owned by the service user alone (vigremote keeps
# it 0700). A fixed uid lets a host folder mounted there be given to the same user.
RUN useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin vig \
    && mkdir -m 0700 /data && chown vig:vig /data
USER vig
WORKDIR /data
EXPOSE 8080
CMD ["vigremote", "serve", "--host", "0.0.0.0", "--port", "8080", "--data", "/data"]
