#!/bin/sh
# `pip install` inside `docker build`, for networks that only reach package mirrors:
#  - PEM certificates in docker/ca-certificates/ (bind-mounted at /build-ca) are trusted on top
#    of the image's own bundle: the CA of a proxy that re-signs TLS (docs/docker.md);
#  - wheels in wheelhouse/ (bind-mounted at /wheelhouse) are candidates too (PIP_FIND_LINKS).
# Neither folder's files end up in the image.
set -eu
bundle=/tmp/build-ca-bundle.pem
trap 'rm -f "$bundle"' EXIT
extra=$(find /build-ca -maxdepth 1 -type f \( -name '*.crt' -o -name '*.pem' \) 2>/dev/null | sort)
if [ -n "$extra" ]; then
  # shellcheck disable=SC2086
  cat /etc/ssl/certs/ca-certificates.crt $extra >"$bundle"
  export PIP_CERT="$bundle"
fi
if find /wheelhouse -maxdepth 1 -name '*.whl' 2>/dev/null | grep -q .; then
  export PIP_FIND_LINKS=/wheelhouse
fi
pip install "$@"
