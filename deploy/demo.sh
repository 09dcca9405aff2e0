#!/bin/sh
# The demo end to end: builds the image, starts the pipeline against alsim
# (docker compose --env-file deploy/demo.env: the demo profile and alsim's
# settings), waits until the output directory holds alsim's expected set, and
# checks it is exactly that set.
#
#   deploy/demo.sh            # then: docker compose --env-file deploy/demo.env down -v
#   eval "$(deploy/images.sh)"; deploy/demo.sh    # without a registry
#
# Needs Docker with the compose plugin (or docker-compose) and curl.
set -eu
cd "$(dirname "$0")/.."

if docker compose version >/dev/null 2>&1; then
  compose="docker compose --env-file deploy/demo.env"
else
  compose="docker-compose --env-file deploy/demo.env"
fi
out="${OUTPUT_HOST_DIR:-./collected}"
alsim="http://127.0.0.1:${ALSIM_HOST_PORT:-8980}"
threshold="${SCORE_THRESHOLD:-7000}"

# Images from deploy/images.sh (ALHARVEST_IMAGE set) are used as they are;
# otherwise Compose builds from the Dockerfile, which needs a registry.
if [ -n "${ALHARVEST_IMAGE:-}" ]; then
  $compose up -d
else
  $compose up -d --build
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
until curl -fsS "$alsim/_alsim/expected?threshold=$threshold" >"$tmp/expected" 2>/dev/null; do
  echo "waiting for alsim..."
  sleep 2
done
sort -o "$tmp/expected" "$tmp/expected"
want=$(wc -l <"$tmp/expected")

deadline=$(($(date +%s) + ${DEMO_TIMEOUT:-900}))
while :; do
  ls "$out" 2>/dev/null | sed -n 's/\.cart$//p' | sort >"$tmp/got"
  got=$(wc -l <"$tmp/got")
  echo "collected $got of $want"
  [ "$got" -ge "$want" ] && break
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "demo: timed out" >&2
    $compose exec -T scorer alharvest status >&2 || true
    exit 1
  fi
  sleep 5
done

$compose exec -T scorer alharvest status
if diff "$tmp/expected" "$tmp/got" >"$tmp/diff"; then
  echo "demo: OK, $out holds exactly the $want expected files"
else
  echo "demo: the collected set differs from alsim's expected set:" >&2
  cat "$tmp/diff" >&2
  exit 1
fi
