# expect: needs vendor/azservicebus, not copied to /src/vendor/azservicebus
# expect: needs crates/switchboard, not copied
# vendor/ lands in the wrong place, and only one crate is copied before the build.
FROM rust:1.95.0-slim-bookworm AS builder
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY vendor /vendor
COPY crates/switchboard-core crates/switchboard-core
RUN cargo build --release --locked --package switchboard
