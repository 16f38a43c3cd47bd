# byokbot: the bot alone; docker-compose.yml adds PostgreSQL.
#
# Two stages. The builder installs only hash-checked artefacts: the build backend from
# requirements-build.lock, the dependencies from requirements.lock (wheels only, no sdist
# built with an unpinned backend), and byokbot's own wheel built offline with that backend.
# The final image gets the resulting virtual environment and nothing else of the build.

FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# The build backend (setuptools, wheel), pinned and hash-checked, in a venv of its own.
COPY requirements-build.lock ./
RUN python -m venv /opt/build \
    && /opt/build/bin/pip install --require-hashes --only-binary=:all: -r requirements-build.lock

# The runtime environment has no pip of its own: the build venv's pip installs into it.
# Dependencies come first so that code changes do not reinstall them.
COPY requirements.lock ./
# numpy's and matplotlib's own test suites (about 24 MB) are never run here.
RUN python -m venv --without-pip /opt/byokbot \
    && /opt/build/bin/pip --python /opt/byokbot/bin/python install \
        --require-hashes --only-binary=:all: -r requirements.lock \
    && cd /opt/byokbot/lib/python3*/site-packages \
    && find numpy matplotlib mpl_toolkits -depth -type d -name tests -exec rm -rf {} +

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
COPY storage ./storage
# --no-index: nothing is downloaded here; the backend is the one installed above.
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --no-index --wheel-dir /tmp/wheels . \
    && /opt/build/bin/pip --python /opt/byokbot/bin/python install \
        --no-deps --no-index /tmp/wheels/byokbot-*.whl


FROM python:3.11-slim

ENV PATH=/opt/byokbot/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# An unprivileged user and group, both 10001, own the data directory, where the master key
# file is created (mode 0600) on the first start against a fresh database. useradd without
# --system: 10001 lies above SYS_UID_MAX, and `useradd --system` would warn about it.
RUN groupadd --system --gid 10001 byokbot \
    && useradd --uid 10001 --gid 10001 --no-log-init --no-create-home \
        --home-dir /var/lib/byokbot --shell /usr/sbin/nologin byokbot \
    && install -d -o 10001 -g 10001 -m 700 /var/lib/byokbot /var/lib/byokbot/data

COPY --from=builder /opt/byokbot /opt/byokbot

USER 10001:10001
WORKDIR /var/lib/byokbot
VOLUME ["/var/lib/byokbot/data"]

ENV BYOKBOT_HTTP_HOST=0.0.0.0 \
    BYOKBOT_HTTP_PORT=3000 \
    BYOKBOT_LOG_FORMAT=json
EXPOSE 3000
# Docker 20.10 has no --start-interval, and the first check runs one interval after the
# start: a 5 s interval reports healthy within 5 s of readiness. Failures in the start
# period (migrations, a database still starting) do not count. No proxy for loopback.
HEALTHCHECK --interval=5s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-I", "-c", "import os, urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:%s/healthz' % os.environ.get('BYOKBOT_HTTP_PORT', '3000'), timeout=2.5)"]

CMD ["byokbot", "serve"]
