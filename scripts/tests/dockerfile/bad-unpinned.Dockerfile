# expect: no tag or `latest`
FROM rust AS builder
WORKDIR /src
COPY . .
RUN cargo build --release --locked --package switchboard
