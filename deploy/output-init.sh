#!/bin/sh
# Prepares the downloader's output directory before any downloader starts
# (docker-compose.yml, service output-init; runs as root in a busybox image).
#
# - A directory Docker has just created for the bind mount (root-owned and
#   empty) is handed to the stages' user OWNER (uid:gid).
# - Then it checks that OWNER can write there, and fails with an explanation
#   otherwise: the downloader would otherwise fail on every file.
#
# OWNER  uid:gid the stages run as (ALHARVEST_UID:ALHARVEST_GID)
# DIR    the directory, /collected by default
set -eu

dir="${DIR:-/collected}"
uid="${OWNER%%:*}"
gid="${OWNER#*:}"

if [ ! -d "$dir" ]; then
  echo "output-init: $dir is not a directory" >&2
  exit 1
fi

set -- $(stat -c '%u %g %a' "$dir")
if [ "$1" = 0 ] && [ "$uid" != 0 ] && [ -z "$(ls -A "$dir")" ]; then
  chown "$uid:$gid" "$dir"
  echo "output-init: handed the new output directory to $uid:$gid"
  set -- $(stat -c '%u %g %a' "$dir")
fi

# Write and search permission for OWNER, by the owner/group/other bits.
mode=$((0$3))
if [ "$uid" = 0 ]; then
  ok=1
elif [ "$1" = "$uid" ]; then
  ok=$(( (mode & 0300) == 0300 ))
elif [ "$2" = "$gid" ]; then
  ok=$(( (mode & 0030) == 0030 ))
else
  ok=$(( (mode & 0003) == 0003 ))
fi
if [ "$ok" != 1 ]; then
  echo "output-init: the output directory (OUTPUT_HOST_DIR) is owned by $1:$2 with mode $3;" \
       "the stages run as $uid:$gid and cannot write to it." >&2
  echo "output-init: set ALHARVEST_UID/ALHARVEST_GID in .env to its owner (id -u / id -g), or chown it to $uid:$gid." >&2
  exit 1
fi
echo "output-init: $dir is writable by $uid:$gid"
