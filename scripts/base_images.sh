#!/usr/bin/env bash
# Builds stand-ins for the stack's three base images from Debian packages alone, for networks
# that reach a Debian mirror and PyPI but not Docker Hub (docs/docker.md, "Air-gapped builds"):
#
#   loan-default/debian:bookworm   debootstrap --variant=minbase, then `docker import`
#   loan-default/python:3.11       for BASE_IMAGE      (stands in for python:3.11-slim)
#   loan-default/postgres:15       for POSTGRES_IMAGE  (stands in for postgres:15)
#   loan-default/redis:7           for REDIS_IMAGE     (stands in for redis:7-alpine)
#
# Then point compose at them (the script prints these lines; put them in .env or export them):
#   BASE_IMAGE=loan-default/python:3.11 POSTGRES_IMAGE=loan-default/postgres:15 \
#   REDIS_IMAGE=loan-default/redis:7 docker compose build
#
# Needs root (debootstrap), a Docker daemon and the debootstrap package.  Images that already
# exist are kept (FORCE=1 rebuilds).  DEBIAN_MIRROR overrides the mirror (default
# http://deb.debian.org/debian); the images' apt uses the same one.
set -euo pipefail
cd "$(dirname "$0")/.."

MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE=bookworm
PREFIX="${BASE_IMAGE_PREFIX:-loan-default}"
DEBIAN_IMAGE="$PREFIX/debian:$SUITE"
FORCE="${FORCE:-0}"

log() { printf '[base-images %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
have() { [ "$FORCE" != 1 ] && docker image inspect "$1" >/dev/null 2>&1; }

command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install debootstrap" >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "no Docker daemon answers (docker info failed)" >&2; exit 1; }

if have "$DEBIAN_IMAGE"; then
  log "$DEBIAN_IMAGE exists"
else
  start=$SECONDS
  rootfs="$(mktemp -d /tmp/loan-default-rootfs.XXXXXX)"
  trap 'rm -rf "$rootfs"' EXIT
  log "debootstrap $SUITE (minbase) from $MIRROR"
  debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" >"$rootfs.log" 2>&1 \
    || { tail -20 "$rootfs.log" >&2; exit 1; }
  rm -f "$rootfs.log"
  cat >"$rootfs/etc/apt/sources.list" <<SOURCES
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
SOURCES
  # Small images: no apt caches, no docs or man pages, no recommends.
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
    >"$rootfs/etc/apt/apt.conf.d/90-no-recommends"
  printf 'path-exclude /usr/share/doc/*\npath-exclude /usr/share/man/*\npath-exclude /usr/share/locale/*\n' \
    >"$rootfs/etc/dpkg/dpkg.cfg.d/90-no-docs"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" --numeric-owner -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["bash"]' - "$DEBIAN_IMAGE" >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
  log "$DEBIAN_IMAGE imported in $((SECONDS - start)) s"
fi

for name in python:3.11 postgres:15 redis:7; do
  image="$PREFIX/$name"
  if have "$image"; then log "$image exists"; continue; fi
  start=$SECONDS
  log "building $image"
  docker build --quiet --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE" -t "$image" \
    "docker/base/${name%%:*}" >/dev/null
  log "$image built in $((SECONDS - start)) s"
done

cat <<ENV
# Base images built from Debian packages; use them with:
BASE_IMAGE=$PREFIX/python:3.11
POSTGRES_IMAGE=$PREFIX/postgres:15
REDIS_IMAGE=$PREFIX/redis:7
ENV
