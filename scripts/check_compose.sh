#!/usr/bin/env bash
# docker-compose.yml needs Docker Compose v2.24 or newer; say so clearly instead of letting an
# older one fail on the file.  `make compose-check`; exit status 1 below 2.24.
set -euo pipefail
need_major=2 need_minor=24
if ! version="$(docker compose version --short 2>/dev/null)"; then
  echo "Docker Compose v2 is missing ('docker compose' is not a docker CLI plugin here)." >&2
  echo "Install it (Docker's docker-compose-plugin, or on Debian bookworm the trixie packages" >&2
  echo "docker-compose and docker-buildx, which install with dpkg): docs/docker.md." >&2
  exit 1
fi
version="${version#v}"
major="${version%%.*}" rest="${version#*.}"
minor="${rest%%.*}"
if [ "$major" -lt "$need_major" ] || { [ "$major" -eq "$need_major" ] && [ "$minor" -lt "$need_minor" ]; }; then
  echo "Docker Compose $version is too old: docker-compose.yml needs $need_major.$need_minor or newer (docs/docker.md)." >&2
  exit 1
fi
echo "Docker Compose $version (>= $need_major.$need_minor): OK"
