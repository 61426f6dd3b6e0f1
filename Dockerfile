# syntax=docker/dockerfile:1
# Relay API image: built with uv from requirements.lock, runs as a non-root user.

FROM python:3.11-slim-bookworm AS build
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install --no-cache-dir uv
WORKDIR /app
COPY requirements.lock pyproject.toml README.md ./
# requirements.lock: the runtime dependencies only, exact versions, hashes checked.
RUN uv venv /opt/venv \
 && uv pip sync --python /opt/venv/bin/python --require-hashes requirements.lock
COPY api ./api
RUN uv pip install --python /opt/venv/bin/python --no-deps .

FROM python:3.11-slim-bookworm AS runtime
RUN groupadd --system relay && useradd --system --gid relay --home-dir /app --shell /usr/sbin/nologin relay
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY alembic.ini ./
COPY migrations ./migrations
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    RELAY_HOST=0.0.0.0 \
    RELAY_PORT=8000
USER relay
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"]
CMD ["relay", "serve"]
