# syntax=docker/dockerfile:1
# inworld-realtime-proxy container image (docs/deploy.md).
#
#   docker build -t inworld-realtime-proxy .
#   docker run --rm -p 127.0.0.1:8080:8080 -e INWORLD_API_KEY -e PROXY_API_KEYS=sk-local \
#       inworld-realtime-proxy
#
# Stage 1 builds wheels for the proxy and its runtime dependencies (uvloop included, a
# dependency on Linux; WebRTC calls, extra `webrtc`: aiortc and PyAV, binary wheels), with a C
# compiler for the proxy's native hot lane (proxy/ws/_lane.c, docs/performance.md); stage 2
# installs exactly those wheels, offline, into a slim Python and runs as a non-root user.
# WebRTC media needs UDP: docs/deploy.md#webrtc-calls. Configuration comes from the environment
# (docs/configuration.md) or a TOML file mounted and named by PROXY_CONFIG. The listener binds
# 0.0.0.0, so the proxy refuses to start unless PROXY_API_KEYS is set or
# PROXY_ALLOW_UNAUTHENTICATED=1 says a gateway authenticates.

FROM python:3.12-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
# The compiler only builds the wheel; the final stage has none. Debian's current gcc is wanted,
# whatever its exact version, hence no pin.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY proxy ./proxy
RUN python -m pip wheel --wheel-dir /wheels ".[webrtc]"

FROM python:3.12-slim
LABEL org.opencontainers.image.title="inworld-realtime-proxy" \
      org.opencontainers.image.description="OpenAI Realtime clients, unchanged, talking to Inworld Realtime" \
      org.opencontainers.image.licenses="MIT"
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PROXY_HOST=0.0.0.0 \
    PROXY_PORT=8080 \
    PROXY_LOG_FORMAT=json
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m pip install --no-index /wheels/*.whl \
    && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin proxy
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-m", "proxy.probe", "healthz"]
ENTRYPOINT ["inworld-realtime-proxy"]
CMD ["serve"]
