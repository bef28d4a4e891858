#!/bin/sh
# Copies a Cargo workspace's manifests and lock file from SRC to DEST, with an empty stub for
# every target root (src/lib.rs, src/main.rs, src/bin/*.rs, explicit `path = "*.rs"`).
# Building the skeleton compiles only the dependencies, so the Docker layer that does it is
# reused until a manifest or Cargo.lock changes (the idea of cargo-chef, without a download).
# Usage: cargo-skeleton.sh SRC DEST
set -eu
src=$1
dest=$2
cd "$src"
find . -name target -prune -o \( -name Cargo.toml -o -name Cargo.lock \) -print |
  while read -r manifest; do
    mkdir -p "$dest/$(dirname "$manifest")"
    cp "$manifest" "$dest/$manifest"
  done
stub() { # FILE
  mkdir -p "$dest/$(dirname "$1")"
  case $1 in
  */lib.rs) : >"$dest/$1" ;;
  *) echo 'fn main() {}' >"$dest/$1" ;;
  esac
}
find . -name target -prune -o -name Cargo.toml -print | while read -r manifest; do
  dir=$(dirname "$manifest")
  for root in src/lib.rs src/main.rs src/bin/*.rs; do
    [ -f "$dir/$root" ] && stub "$dir/$root"
  done
  sed -n 's/^[[:space:]]*path[[:space:]]*=[[:space:]]*"\([^"]*\.rs\)".*/\1/p' "$manifest" |
    while read -r path; do stub "$dir/$path"; done
done
