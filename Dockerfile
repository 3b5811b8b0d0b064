# syntax=docker/dockerfile:1.7
# checkov:skip=CKV_DOCKER_2:No HEALTHCHECK on purpose: Azure Container Apps probes the apps (GET /healthz, /readyz) and ignores Docker health checks.
#
# The one Switchboard image. Container Apps runs it twice with different args:
#   switchboard worker    (infra/modules/apps.bicep, app "worker")
#   switchboard ingress   (infra/modules/apps.bicep, app "ingress")
# and it is the whole CLI too: `docker run --rm IMAGE --help`.
#
# Stages: chef (tooling) -> planner (dependency recipe) -> builder (dependencies cached in their
# own layer, then the workspace) -> runtime (distroless, non-root, just the binary).
# Build: docker build -t switchboard .        (azd and .github/workflows/deploy.yml do this)
#
# Base images: pinned to exact tags. Pin them by digest too (`FROM image:tag@sha256:…`) where
# you can resolve one (`docker buildx imagetools inspect rust:1.95.0-slim-bookworm`); the
# machines this repository is developed on have no registry access to look digests up, and a
# digest copied from anywhere else could be stale or wrong. Dependabot (.github/dependabot.yml,
# ecosystem "docker") proposes tag and digest updates. `scripts/check-dockerfile` (run by
# .ci/run) refuses floating tags and checks that every path cargo needs is copied first.
#
# No OpenSSL: the graph is rustls only (`.ci/run` fails on openssl-sys), so the slim builder
# needs no pkg-config or libssl-dev and the distroless runtime no libssl.

FROM docker.io/library/rust:1.95.0-slim-bookworm AS chef
# cargo-chef turns the workspace's manifests into a recipe, so dependencies compile in a layer
# that only changes when Cargo.toml/Cargo.lock do.
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
# The recipe holds only workspace members; the [patch.crates-io] crates (Cargo.toml) are path
# dependencies cargo must find while cooking, so they come in before the dependency layer.
COPY vendor vendor
# Cargo's [env] settings (how the bundled SQLite is compiled) apply to the cooked layer too.
COPY .cargo .cargo
# --no-default-features: the shipped binary leaves out the in-process Service Bus test peer
# (feature `servicebus-peer`, only for `demo`/`bench --servicebus-peer`). Same features in both
# steps, or the cooked dependency layer would not be reused.
RUN cargo chef cook --release --locked --package switchboard --no-default-features --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --package switchboard --no-default-features \
    && install -D -m 0755 target/release/switchboard /out/switchboard \
    && /out/switchboard --version

# glibc matches the builder (Debian 12); no shell, no package manager, runs as uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
LABEL org.opencontainers.image.title="switchboard" \
      org.opencontainers.image.description="Route Azure Communication Services calls to Microsoft Teams agents" \
      org.opencontainers.image.source="https://github.com/switchboard/switchboard" \
      org.opencontainers.image.licenses="MIT"
COPY --from=builder /out/switchboard /usr/local/bin/switchboard
USER 65532:65532
# Two malloc arenas instead of glibc's 8 per core (glibc's malloc serves SQLite's allocations):
# the worker's blocking-pool threads (SQLite) each got an arena of their own; at 300 calls in
# flight one worker's peak RSS was 38-40 MiB with the default and 31-33 MiB with 2 (anonymous
# memory 19 → 11 MiB; measured before mimalloc), CPU per call within run-to-run noise (issue
# 18, README Benchmarks). `switchboard bench` runs our processes with the same setting
# (`--malloc-arena-max`).
ENV MALLOC_ARENA_MAX=2
# Rust's allocations go to mimalloc (crates/switchboard/src/main.rs): give freed pages back at
# once, not a second later (a worker's peak RSS at 300 in flight: 35-39 MiB with it, 39-40
# without; issue 18). `switchboard bench` sets it for our processes too.
ENV MIMALLOC_PURGE_DELAY=0
# 8080: ingress (SWITCHBOARD_INGRESS_PORT); 9090: worker /metrics and /healthz (SWITCHBOARD_METRICS_PORT).
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/switchboard"]
CMD ["--help"]
