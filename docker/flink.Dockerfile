# The Flink image: the official Flink image with flink-bootstrap as entrypoint, for both roles.
# flink-bootstrap renders conf/config.yaml from the image's config, --profile, the container's
# CPUs and memory, GCE instance metadata and the official image's variables, then execs Flink's
# script in the foreground (the JVM replaces it as PID 1).
#
#   docker build -f docker/flink.Dockerfile -t flink-ops-flink .
#   docker run -d --network host flink-ops-flink jobmanager --profile elastic
#   docker run -d --network host flink-ops-flink taskmanager --profile elastic
#
# With --profile elastic Flink's Prometheus reporter serves /metrics on 9249 (JobManager) and the
# first free of 9250-9259 (TaskManager), on every interface; the savepointer beside the
# JobManager has 9248. --log-format json makes Flink's stdout Cloud Logging JSON (Flink 2.x).
#
# Build arguments (defaults: the public images):
#   BUILDER_IMAGE  a Rust toolchain on Debian      (rust:1-bookworm)
#   FLINK_IMAGE    the Flink image to extend       (flink:2.3.0-java17; any 1.17+ works)
ARG BUILDER_IMAGE=rust:1-bookworm
ARG FLINK_IMAGE=flink:2.3.0-java17

# ---------------------------------------------------------------------------------------------
# Build: these two stages are the same, byte for byte, in deploy.Dockerfile, flink.Dockerfile and
# savepointer.Dockerfile, so Docker builds the workspace once and the other two reuse its layers.
# All three binaries are linked statically (glibc, +crt-static): they run on any Linux base image,
# whatever its libc version.

# The manifests and Cargo.lock with empty sources: the layer that compiles the dependencies stays
# cached until they change.
FROM ${BUILDER_IMAGE} AS skeleton
COPY . /src
RUN sh /src/docker/cargo-skeleton.sh /src /skeleton

FROM ${BUILDER_IMAGE} AS builder
WORKDIR /src
ENV CARGO_PROFILE_RELEASE_STRIP=symbols \
    CARGO_TERM_COLOR=never \
    RUSTFLAGS="-C target-feature=+crt-static"
COPY --from=skeleton /skeleton/ ./
RUN cargo build --release --locked --target "$(rustc -vV | sed -n "s/^host: //p")" \
        -p flink-deploy -p flink-bootstrap -p flink-savepointer
COPY . ./
# The stubs were compiled after the real sources were last modified: touch them so cargo rebuilds.
RUN find crates tests -name "*.rs" -exec touch {} + \
 && target="$(rustc -vV | sed -n "s/^host: //p")" \
 && cargo build --release --locked --target "$target" \
        -p flink-deploy -p flink-bootstrap -p flink-savepointer \
 && mkdir /out \
 && for bin in flink-deploy flink-bootstrap flink-savepointer; do \
        cp "target/$target/release/$bin" /out/ && "/out/$bin" --version; \
    done
# ---------------------------------------------------------------------------------------------

FROM ${FLINK_IMAGE}
COPY --from=builder /out/flink-bootstrap /usr/local/bin/flink-bootstrap
# The official image's user (9999), which owns /opt/flink. Started as root (docker run --user
# root), flink-bootstrap writes the config and then drops to flink itself.
USER flink
ENTRYPOINT ["/usr/local/bin/flink-bootstrap"]
CMD ["--help"]
