#!/usr/bin/env bash
# Builds local stand-ins for the base images the Dockerfiles in docker/ take as build
# arguments, from Debian packages only (no container registry needed):
#
#   BUILDER_IMAGE  stands in for rust:1-bookworm
#                  debootstrap minbase + build-essential, pkg-config, ca-certificates, and this
#                  host's Rust toolchain under /usr/local/rustup (cargo and rustc on PATH via
#                  /usr/local/cargo/bin, like the official image). It trusts the CAs this host
#                  added to its own store (/usr/local/share/ca-certificates), so that cargo in
#                  `docker build` gets through the same TLS-inspecting proxy as the host.
#   RUNTIME_IMAGE  stands in for gcr.io/distroless/static-debian12
#                  only what that image carries for a static binary: /etc/passwd and /etc/group
#                  with root, nobody and nonroot (65532), CA certificates, /tmp, os-release.
#   FLINK_IMAGE    stands in for flink:<version>-java17
#                  debootstrap minbase + openjdk-17-jre-headless, procps; Flink in /opt/flink
#                  (FLINK_HOME) owned by user and group flink (9999), WORKDIR /opt/flink,
#                  the official image's layout.
#
# Usage: docker/base-images.sh [builder|runtime|flink]...   (default: all three)
# Prints one KEY=IMAGE line per image on stdout; progress goes to stderr.
#
# Environment:
#   FLINK_DIST_DIR   a Flink distribution laid out as FLINK_HOME (required for `flink`; the
#                    tests pass the one flink-testkit assembled from PyPI)
#   FLINK_VERSION    its version (default 2.3.0), only used in the tag
#   FLINK_OPS_CACHE  where debootstrap's package cache lives (default ~/.cache/flink-ops)
#   DEBIAN_MIRROR    default: the first `URIs:` of /etc/apt/sources.list.d/debian.sources
#   RUST_TOOLCHAIN   the toolchain directory to copy (default: `rustc --print sysroot`)
#
# Images are tagged flink-ops-standin/NAME:HASH, HASH covering the recipe and the inputs,
# and are not rebuilt while `docker image inspect` finds them. Needs root (debootstrap).
set -euo pipefail

log() { printf '[base-images] %s\n' "$*" >&2; }

cache=${FLINK_OPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/flink-ops}
mkdir -p "$cache/debootstrap-debs"
suite=bookworm

mirror() {
  if [[ -n ${DEBIAN_MIRROR:-} ]]; then
    echo "$DEBIAN_MIRROR"
    return
  fi
  local sources=/etc/apt/sources.list.d/debian.sources
  if [[ -r $sources ]]; then
    awk '/^URIs:/ { print $2; exit }' "$sources"
  else
    echo http://deb.debian.org/debian
  fi
}

# The tag's hash covers the recipe (the code of the functions that make the image) and INPUTS.
tag_for() { # NAME INPUTS...
  local name=$1
  shift
  local hash
  hash=$( (declare -f bootstrap import builder_rootfs "$name" && printf '%s\n' "$suite" "$@") |
    sha256sum | cut -c1-12)
  echo "flink-ops-standin/$name:$hash"
}

exists() { docker image inspect "$1" >/dev/null 2>&1; }

# debootstrap --variant=minbase into DIR with the comma-separated packages.
bootstrap() { # DIR PACKAGES
  local started=$SECONDS
  log "debootstrap $suite ($2) from $(mirror)"
  if ! debootstrap --variant=minbase --cache-dir="$cache/debootstrap-debs" \
    --include="$2" "$suite" "$1" "$(mirror)" >"$1.log" 2>&1; then
    tail -n 30 "$1.log" >&2
    log "debootstrap failed (full log above)"
    return 1
  fi
  # Slim it like the official Debian images: no apt lists, no docs.
  rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/usr/share/doc/* \
    "$1"/usr/share/man/* "$1"/usr/share/info/* "$1"/var/cache/apt/archives/*.deb
  log "debootstrap done in $((SECONDS - started)) s"
}

import() { # DIR TAG CHANGES...
  local dir=$1 tag=$2
  shift 2
  local changes=()
  for c in "$@"; do changes+=(--change "$c"); done
  tar --numeric-owner -C "$dir" -c . | docker import "${changes[@]}" - "$tag" >/dev/null
  log "imported $tag ($(docker image inspect -f '{{.Size}}' "$tag" | numfmt --to=iec))"
}

work=$(mktemp -d "${TMPDIR:-/tmp}/flink-ops-base-images.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The builder rootfs is also the source of the runtime image's files.
builder_rootfs() {
  if [[ ! -d $work/builder ]]; then
    bootstrap "$work/builder" build-essential,pkg-config,ca-certificates
  fi
}

builder() {
  local sysroot=${RUST_TOOLCHAIN:-$(rustc --print sysroot)}
  local version
  version=$("$sysroot/bin/rustc" -vV | tr '\n' ' ')
  local tag
  local local_cas=()
  for ca in /usr/local/share/ca-certificates/*.crt; do
    [[ -f $ca ]] && local_cas+=("$ca")
  done
  tag=$(tag_for builder "$version" "$("$sysroot/bin/cargo" -V)" \
    "$( ((${#local_cas[@]} == 0)) || sha256sum "${local_cas[@]}")")
  if ! exists "$tag"; then
    builder_rootfs
    if ((${#local_cas[@]})); then
      log "adding this host's CAs: ${local_cas[*]}"
      cp "${local_cas[@]}" "$work/builder/usr/local/share/ca-certificates/"
      chroot "$work/builder" update-ca-certificates >/dev/null
    fi
    local rust_version name
    rust_version=$("$sysroot/bin/rustc" -V | awk '{ print $2 }')
    name=$rust_version-$(uname -m)-unknown-linux-gnu
    local dest=$work/builder/usr/local/rustup/toolchains/$name
    mkdir -p "$dest/bin" "$work/builder/usr/local/cargo/bin"
    log "copying the Rust toolchain $rust_version from $sysroot"
    cp -a "$sysroot/bin/cargo" "$sysroot/bin/rustc" "$sysroot/bin/rustdoc" "$dest/bin/"
    cp -a "$sysroot/lib" "$dest/"
    [[ -d $sysroot/libexec ]] && cp -a "$sysroot/libexec" "$dest/"
    rm -rf "$dest/lib/rustlib/src" "$dest/lib/rustlib/rustc-src"
    for b in cargo rustc rustdoc; do
      ln -s "../../rustup/toolchains/$name/bin/$b" "$work/builder/usr/local/cargo/bin/$b"
    done
    import "$work/builder" "$tag" \
      'ENV RUSTUP_HOME=/usr/local/rustup' \
      'ENV CARGO_HOME=/usr/local/cargo' \
      "ENV RUST_VERSION=$rust_version" \
      'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      'CMD ["bash"]'
  fi
  echo "BUILDER_IMAGE=$tag"
}

runtime() {
  local tag
  tag=$(tag_for runtime)
  if ! exists "$tag"; then
    builder_rootfs
    local src=$work/builder root=$work/runtime
    mkdir -p "$root"/{etc/ssl/certs,tmp,home/nonroot,root,usr/lib}
    chmod 1777 "$root/tmp"
    chmod 700 "$root/root"
    cp "$src/etc/ssl/certs/ca-certificates.crt" "$root/etc/ssl/certs/"
    cp "$src/usr/lib/os-release" "$root/usr/lib/os-release"
    ln -s ../usr/lib/os-release "$root/etc/os-release"
    cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
    cat >"$root/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
nonroot:x:65532:
EOF
    printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
    chown -R 65532:65532 "$root/home/nonroot"
    import "$root" "$tag" 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
      'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt'
  fi
  echo "RUNTIME_IMAGE=$tag"
}

flink() {
  local dist=${FLINK_DIST_DIR:?FLINK_DIST_DIR must name a Flink distribution laid out as FLINK_HOME}
  local version=${FLINK_VERSION:-2.3.0}
  [[ -f $dist/bin/jobmanager.sh ]] || { log "$dist is not a Flink distribution"; exit 1; }
  local tag
  tag=$(tag_for flink "$version" "$(cd "$dist" && find . -type f -printf '%p %s\n' | sort)")
  tag=${tag/:/:$version-java17-}
  if ! exists "$tag"; then
    local root=$work/flink
    bootstrap "$root" ca-certificates,openjdk-17-jre-headless,procps
    mkdir -p "$root/opt/flink"
    cp -a "$dist/." "$root/opt/flink/"
    rm -rf "$root/opt/flink/log"/*
    chroot "$root" groupadd --system --gid 9999 flink
    chroot "$root" useradd --no-log-init --system --home-dir /opt/flink --uid 9999 --gid flink flink
    chown -R 9999:9999 "$root/opt/flink"
    import "$root" "$tag" \
      'ENV JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64' \
      'ENV FLINK_HOME=/opt/flink' \
      'ENV PATH=/opt/flink/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      'WORKDIR /opt/flink' \
      'EXPOSE 6123 8081'
  fi
  echo "FLINK_IMAGE=$tag"
}

(($#)) || set -- builder runtime flink
exec 9>"$cache/base-images.lock"
flock 9
for what in "$@"; do
  case $what in
  builder | runtime | flink)
    line=$("$what")
    echo "$line"
    # Stand-ins of older recipes or inputs are of no further use.
    docker image ls "flink-ops-standin/$what" --format '{{.Repository}}:{{.Tag}}' |
      grep -vxF "${line#*=}" | xargs -r docker rmi >/dev/null 2>&1 || true
    ;;
  *)
    log "unknown image '$what' (builder, runtime, flink)"
    exit 64
    ;;
  esac
done
