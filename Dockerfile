# byokbot: the bot alone; docker-compose.yml adds PostgreSQL.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# Dependencies first (hash-checked), so code changes do not reinstall them.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
COPY storage ./storage
RUN pip install --no-deps . && rm -rf /src

# An unprivileged user owns the data directory, where the master key file is created
# (mode 0600) on the first start against a fresh database.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/byokbot --create-home byokbot \
    && mkdir -p /var/lib/byokbot/data \
    && chown byokbot:byokbot /var/lib/byokbot/data \
    && chmod 700 /var/lib/byokbot/data
USER byokbot
WORKDIR /var/lib/byokbot
VOLUME ["/var/lib/byokbot/data"]

ENV BYOKBOT_HTTP_HOST=0.0.0.0 \
    BYOKBOT_HTTP_PORT=3000 \
    BYOKBOT_LOG_FORMAT=json
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/healthz', timeout=4)"

CMD ["byokbot", "serve"]
