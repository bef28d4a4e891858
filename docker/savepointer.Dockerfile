# The savepointer image: `flink-savepointer run` as entrypoint, the sidecar next to the
# JobManager. Share the JobManager container's network namespace and savepoint directory:
#
#   docker build -f docker/savepointer.Dockerfile -t flink-savepointer .
#   docker run -d --network container:jobmanager -v /data/savepoints:/data/savepoints \
#       flink-savepointer --job-name orders --target-dir /data/savepoints --every 15m
#
# It talks to http://127.0.0.1:8081 unless FLINK_JOBMANAGER_URL says otherwise, and serves
# /metrics, /healthz and /readyz on 127.0.0.1:9248 (FLINK_SAVEPOINTER_LISTEN to change it), beside
# Flink's Prometheus reporter on 9249 in the same namespace.
#
# Build arguments (defaults: the public images):
#   BUILDER_IMAGE  a Rust toolchain on Debian      (rust:1-bookworm)
#   RUNTIME_IMAGE  the base of the final image     (gcr.io/distroless/static-debian12)
ARG BUILDER_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12

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

FROM ${RUNTIME_IMAGE}
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=builder /out/flink-savepointer /usr/local/bin/flink-savepointer
# /metrics stays on 127.0.0.1:9248: inside the JobManager's network namespace
# that is where a scraper on the same VM reaches it (the JobManager's own Prometheus
# reporter has 9249). Set FLINK_SAVEPOINTER_LISTEN=0.0.0.0:9248 to expose it further.
ENV FLINK_JOBMANAGER_URL=http://127.0.0.1:8081 \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/flink-savepointer", "run"]
