# A NATS server image from scratch (deploy/images.sh): nats-server compiled
# on the host from the version go.mod pins, like the official nats:<version>
# image, plus /usr/bin/wget, a static probe (deploy/wgetprobe) answering the
# `wget -q --spider URL` healthcheck the compose files share with the official
# -alpine image. No shell. It runs as the non-root user nats (65533), which
# owns /data; compose runs the official image as the same user, and its
# secrets-init hands an existing store (written by a root server) to it.

FROM scratch
ARG VERSION=unknown
LABEL org.opencontainers.image.title="nats-server" \
      org.opencontainers.image.description="NATS server built from github.com/nats-io/nats-server/v2 for alharvest's compose files" \
      org.opencontainers.image.version="${VERSION}"
COPY rootfs/ /
COPY --chown=65533:65533 owned/ /
COPY nats-server /usr/local/bin/nats-server
COPY wget /usr/bin/wget
ENV PATH=/usr/local/bin:/usr/bin
USER 65533:65533
EXPOSE 4222 6222 8222
ENTRYPOINT []
CMD ["nats-server", "-js", "-sd", "/data", "-m", "8222"]
