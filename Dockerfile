# The dsec node image: a Rust builder stage and a slim Debian runtime stage
# that runs `dsec` as an unprivileged user.
#
#   docker build -t dsec .
#   docker run --rm -p 127.0.0.1:8545:8545 dsec devnet --validators 1 --rpc-addr 0.0.0.0:8545
#
# Where no registry is reachable, `scripts/docker-base.sh` makes the Debian
# base image locally (debootstrap + docker import, tagged as below), and
# `docker/Dockerfile.prebuilt` builds the same runtime image from a `dsec`
# binary already built on the host (no Rust image needed).
ARG RUST_IMAGE=rust:1.94-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS builder
RUN apt-get update \
    && apt-get install -y --no-install-recommends libclang-dev g++ \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin dsec \
    && strip target/release/dsec \
    && install -m 0755 target/release/dsec /usr/local/bin/dsec

FROM ${RUNTIME_IMAGE}
# A system user owning the directories volumes are mounted on (a new named
# volume takes the ownership of its mount point in the image).
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/dsec --create-home dsec \
    && install -d -o dsec -g dsec /var/lib/dsec/data /var/lib/dsec/devnet
COPY --from=builder /usr/local/bin/dsec /usr/local/bin/dsec
USER dsec
WORKDIR /var/lib/dsec
# JSON-RPC, metrics and health, consensus p2p, transaction gossip.
EXPOSE 8545 9545 26656 27656
ENTRYPOINT ["dsec"]
CMD ["--help"]
