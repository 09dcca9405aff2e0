#!/bin/sh
# Builds the images the compose files need without pulling anything:
# every binary is compiled here by `go build` (static, CGO_ENABLED=0) and
# copied into an image FROM scratch; the feed's example image is the
# alharvest image plus its example program (deploy/feed.Dockerfile).
#
#   eval "$(deploy/images.sh)"        # sets NATS_IMAGE, ALHARVEST_IMAGE, FEED_IMAGE
#   docker-compose --env-file deploy/demo.env up -d
#
# stdout is only the assignments, one per line:
#   NATS_IMAGE=alharvest/nats:<nats-server version from go.mod>
#   ALHARVEST_IMAGE=alharvest:<version>
#   FEED_IMAGE=alharvest-feed:<version>
# Progress goes to stderr. Needs go, git (for the version) and docker.
# The version is $VERSION, else `git describe --tags --always --dirty`; the
# binaries carry it too (linked in: build_info{version=...} on /metrics), and
# the Helm chart's appVersion is the one a release builds with.
#
#   deploy/images.sh --names          # print the names only; build nothing
set -eu
cd "$(dirname "$0")/.."

log() { echo "images.sh: $*" >&2; }

version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo devel)}
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
natsver=$(go list -m -f '{{.Version}}' github.com/nats-io/nats-server/v2)
tag=$(echo "$version" | tr -c 'A-Za-z0-9_.\n-' '_')
alharvest_image="${ALHARVEST_IMAGE_NAME:-alharvest}:$tag"
nats_image="${NATS_IMAGE_NAME:-alharvest/nats}:${natsver#v}"
feed_image="${FEED_IMAGE_NAME:-alharvest-feed}:$tag"
if [ "${1:-}" = "--names" ]; then
  echo "NATS_IMAGE=$nats_image"
  echo "ALHARVEST_IMAGE=$alharvest_image"
  echo "FEED_IMAGE=$feed_image"
  exit 0
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
export CGO_ENABLED=0 GOOS=linux GOFLAGS=

# --- alharvest ----------------------------------------------------------------
log "building the alharvest binaries ($version)"
mkdir -p "$ctx/a/bin" "$ctx/a/rootfs/etc/ssl/certs" "$ctx/a/rootfs/tmp" \
         "$ctx/a/owned/data" "$ctx/a/owned/collected"
go build -trimpath -ldflags "-s -w -X github.com/alharvest/alharvest/internal/version.Version=$version -X github.com/alharvest/alharvest/internal/version.Revision=$revision" \
  -o "$ctx/a/bin/" ./cmd/...
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$ctx/a/rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$ctx/a/rootfs/etc/group"
for ca in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
  if [ -f "$ca" ]; then cp "$ca" "$ctx/a/rootfs/etc/ssl/certs/ca-certificates.crt"; break; fi
done
[ -f "$ctx/a/rootfs/etc/ssl/certs/ca-certificates.crt" ] || log "warning: no CA bundle on this host; https:// Assemblyline needs AL_CA_FILE"
chmod 1777 "$ctx/a/rootfs/tmp"
log "building image $alharvest_image"
docker build -q -f deploy/alharvest.Dockerfile -t "$alharvest_image" \
  --build-arg VERSION="$version" --build-arg REVISION="$revision" --build-arg CREATED="$created" \
  "$ctx/a" >&2

# --- the feed's example -------------------------------------------------------
log "building image $feed_image"
mkdir -p "$ctx/f/owned/inbox"
go build -trimpath -ldflags "-s -w" -o "$ctx/f/feed-example" ./deploy/feedexample
docker build -q -f deploy/feed.Dockerfile -t "$feed_image" --build-arg BASE="$alharvest_image" "$ctx/f" >&2

# --- NATS ---------------------------------------------------------------------
log "building nats-server $natsver"
mkdir -p "$ctx/n/rootfs/etc" "$ctx/n/rootfs/tmp" "$ctx/n/owned/data"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnats:x:65533:65533:nats:/data:/sbin/nologin\n' >"$ctx/n/rootfs/etc/passwd"
printf 'root:x:0:\nnats:x:65533:\n' >"$ctx/n/rootfs/etc/group"
chmod 1777 "$ctx/n/rootfs/tmp"
GOBIN="$ctx/n" go install -trimpath -ldflags "-s -w" "github.com/nats-io/nats-server/v2@$natsver"
go build -trimpath -ldflags "-s -w" -o "$ctx/n/wget" ./deploy/wgetprobe
log "building image $nats_image"
docker build -q -f deploy/nats.Dockerfile -t "$nats_image" --build-arg VERSION="${natsver#v}" "$ctx/n" >&2

echo "NATS_IMAGE=$nats_image"
echo "ALHARVEST_IMAGE=$alharvest_image"
echo "FEED_IMAGE=$feed_image"
