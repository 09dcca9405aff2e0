# The example image of the compose `feed` service (deploy/images.sh): the
# alharvest image plus the example program /usr/local/bin/feed-example
# (deploy/feedexample), which copies each collected file into /inbox.
# Nothing is pulled: BASE is the alharvest image images.sh has just built.
# Your own program: build FROM the alharvest image the same way, COPY it in,
# and set FEED_IMAGE and FEED_PROGRAM (deploy/env.example).
ARG BASE=alharvest:local
FROM ${BASE}
COPY feed-example /usr/local/bin/feed-example
COPY --chown=65532:65532 owned/ /
