# expect: needs vendor/fe2o3-amqp, which .dockerignore excludes
# Copied with `COPY . .`, but the sample's .dockerignore drops vendor/.
FROM rust:1.95.0-slim-bookworm AS builder
WORKDIR /src
COPY . .
RUN cargo build --release --locked --package switchboard
