# The deployer base image: flink-deploy as entrypoint, the job jar expected at
# /opt/flink-job/job.jar. A job image is this plus one COPY (see job.Dockerfile.example):
#
#   docker build -f docker/deploy.Dockerfile -t flink-deploy .
#   docker run --rm -e FLINK_JOBMANAGER_URL=http://10.0.0.2:8081 my-job-image \
#       deploy --job-name orders --parallelism 72 --config-file deploy.yaml
#
# Build arguments (defaults: the public images):
#   BUILDER_IMAGE  a Rust toolchain on Debian      (rust:1-bookworm)
#   RUNTIME_IMAGE  the base of the final image     (gcr.io/distroless/static-debian12;
#                  debian:bookworm-slim works too)
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
COPY --from=builder /out/flink-deploy /usr/local/bin/flink-deploy
WORKDIR /opt/flink-job
ENV FLINK_JOB_JAR=/opt/flink-job/job.jar \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
# nonroot in distroless; a numeric id so that any base image works.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/flink-deploy"]
CMD ["--help"]
