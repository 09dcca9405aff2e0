# The alharvest image from binaries compiled on the host (deploy/images.sh),
# for machines that reach no registry: FROM scratch, nothing is pulled. The
# build context is the directory images.sh assembles (bin/, rootfs/). Same
# layout, user, entrypoint and healthcheck as the multi-stage ../Dockerfile.

FROM scratch
ARG VERSION=devel
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="alharvest" \
      org.opencontainers.image.description="Collects the Assemblyline files scored at or above a threshold as verified cART files, through searcher, scorer and downloader stages over NATS JetStream" \
      org.opencontainers.image.source="https://github.com/alharvest/alharvest" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"

# rootfs: /etc/passwd and /etc/group (nonroot 65532), the CA bundle for
# https:// Assemblyline, /tmp; owned: /data and /collected for 65532.
COPY rootfs/ /
COPY --chown=65532:65532 owned/ /
COPY bin/ /usr/local/bin/

ENV PATH=/usr/local/bin \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    DATA_DIR=/data \
    OUTPUT_DIR=/collected
WORKDIR /data
USER 65532:65532
EXPOSE 9101 9102 9103 8980
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/usr/local/bin/alharvest", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/alharvest"]
