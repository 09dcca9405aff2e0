#!/bin/sh
# Reproducible release build: static linux/amd64 and linux/arm64 binaries,
# SHA256SUMS and a CycloneDX SBOM of the linked modules, in dist/<version>/.
#
#   deploy/release.sh                      # version from `git describe` (v0.1.0-dev without a tag)
#   VERSION=v1.2.0 deploy/release.sh       # explicit version
#   ARCHES=amd64 BINARIES=alharvest deploy/release.sh   # a subset
#
# The same commit, Go version and VERSION give byte-identical files: -trimpath
# drops local paths, CGO_ENABLED=0 links statically, -buildid= and the VCS
# stamp (-buildvcs=true: revision, commit time, dirty flag) depend on the
# source alone, and the SBOM's time is the commit's (SOURCE_DATE_EPOCH).
# Needs only the Go toolchain and the module proxy (or a warm module cache).
set -eu
cd "$(dirname "$0")/.."

VERSION=${VERSION:-$(git describe --tags --dirty --match 'v[0-9]*' 2>/dev/null || echo v0.1.0-dev)}
ARCHES=${ARCHES:-amd64 arm64}
BINARIES=${BINARIES:-alharvest searcher scorer downloader}
DIST=${DIST:-dist}/$VERSION
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
export SOURCE_DATE_EPOCH

rm -rf "$DIST"
mkdir -p "$DIST"
for arch in $ARCHES; do
	for bin in $BINARIES; do
		out="$DIST/linux-$arch/$bin"
		echo "building $out" >&2
		CGO_ENABLED=0 GOOS=linux GOARCH=$arch GOFLAGS= \
			go build -trimpath -buildvcs=true \
			-ldflags "-s -w -buildid= -X github.com/alharvest/alharvest/internal/version.Version=$VERSION" \
			-o "$out" "./cmd/$bin"
	done
done
# One SBOM for the release: the union of the modules the binaries link.
go run ./cmd/sbom -release "$VERSION" "$DIST"/linux-*/* > "$DIST/sbom.cdx.json"
(cd "$DIST" && find . -type f ! -name SHA256SUMS | sed 's|^\./||' | LC_ALL=C sort | xargs sha256sum > SHA256SUMS)
echo "$DIST" >&2
cat "$DIST/SHA256SUMS" >&2
