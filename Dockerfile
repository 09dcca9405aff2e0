# syntax=docker/dockerfile:1
#
# One image with every binary of cmd/ (searcher, scorer, downloader, alharvest,
# alsim, ...) in /usr/local/bin. The default entrypoint is the one-command run;
# docker-compose.yml picks a binary per service with `entrypoint:`.
#
#   docker build -t alharvest:local --build-arg VERSION=$(git describe --tags --always --dirty) --build-arg REVISION=$(git rev-parse HEAD) .
#
# Without a registry (no golang or distroless image to pull), use
# deploy/images.sh instead: same image, from binaries built on the host.
#   docker run --rm -e AL_URL=... -e AL_USER=... -e AL_APIKEY=... -v "$PWD/collected:/collected" alharvest:local

ARG GO_IMAGE=golang:1.26-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM ${GO_IMAGE} AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOTOOLCHAIN=local
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
# The version --version, the "starting" line and build_info report; .git is
# not in the context, so it is linked in.
ARG VERSION=devel
ARG REVISION=
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags "-s -w -X github.com/alharvest/alharvest/internal/version.Version=${VERSION} -X github.com/alharvest/alharvest/internal/version.Revision=${REVISION}" -o /out/ ./cmd/...
# Writable directories for the non-root user (uid/gid 65532 in distroless).
RUN mkdir -p /rootfs/data /rootfs/collected

FROM ${RUNTIME_IMAGE}
ARG VERSION=devel
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="alharvest" \
      org.opencontainers.image.description="Collects the Assemblyline files scored at or above a threshold as verified cART files, through searcher, scorer and downloader stages over NATS JetStream" \
      org.opencontainers.image.source="https://github.com/alharvest/alharvest" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"

COPY --from=build /out/ /usr/local/bin/
COPY --from=build --chown=65532:65532 /rootfs/ /

# DATA_DIR is the one-command mode's JetStream store; OUTPUT_DIR receives the
# <sha256>.cart files. Mount volumes there to keep them.
ENV DATA_DIR=/data \
    OUTPUT_DIR=/collected
WORKDIR /data
USER 65532:65532

# Metrics and probes: searcher, scorer, downloader (HTTP_ADDR); alsim.
EXPOSE 9101 9102 9103 8980

# No shell in this image: the probe is a binary. It GETs /healthz on the
# port of $HTTP_ADDR and succeeds when probes are off (HTTP_ADDR empty).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/usr/local/bin/alharvest", "healthcheck"]

ENTRYPOINT ["/usr/local/bin/alharvest"]
