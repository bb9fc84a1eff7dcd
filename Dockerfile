# syntax=docker/dockerfile:1
# mcp-gateway: a small runtime image with the one binary, run as a non-root user.
#
#   docker build -t mcp-gateway .
#   docker run -p 4000:4000 -e MCP_GATEWAY_MASTER_KEY=sk-... -v mcp-gateway-data:/data mcp-gateway
#
# Configuration: /etc/mcp-gateway/config.yaml (mount your own over it); SQLite data in the
# /data volume (DATABASE_URL=sqlite:///data/mcp-gateway.db), or set DATABASE_URL to Postgres
# (see docker-compose.yaml). Without a master key the gateway listens on loopback only, which
# a container cannot be reached on: set MCP_GATEWAY_MASTER_KEY.

FROM rust:1.95-slim-bookworm AS build
# make for jemalloc's build (the slim image has gcc and libc6-dev, not make).
RUN apt-get update \
 && apt-get install -y --no-install-recommends make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The release build CI runs (.ci/run, "release build"): the gateway binary only.
RUN cargo build --release --locked -p mcp-gateway
RUN install -D -m 0755 target/release/mcp-gateway /out/mcp-gateway

FROM debian:bookworm-slim AS runtime
# CA certificates for https upstreams; tini reaps stdio servers' children and forwards signals.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin mcp-gateway \
 && mkdir -p /data /etc/mcp-gateway \
 && chown mcp-gateway /data
COPY --from=build /out/mcp-gateway /usr/local/bin/mcp-gateway
COPY examples/docker/config.yaml /etc/mcp-gateway/config.yaml

ENV MCP_GATEWAY_ENABLED=true \
    MCP_GATEWAY_LISTEN=0.0.0.0:4000 \
    MCP_GATEWAY_CONFIG=/etc/mcp-gateway/config.yaml \
    DATABASE_URL=sqlite:///data/mcp-gateway.db \
    STORE_MODEL_IN_DB=true \
    MCP_GATEWAY_LOG_FORMAT=json
USER mcp-gateway
WORKDIR /data
VOLUME ["/data"]
EXPOSE 4000
# GET /health/liveliness on the gateway's own port (the binary is its own probe: no curl).
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["mcp-gateway", "health", "--url", "http://127.0.0.1:4000"]
ENTRYPOINT ["/usr/bin/tini", "--", "mcp-gateway"]
CMD ["serve"]
