#!/bin/sh
# An example program for `alharvest feed`: copies each collected cART into
# an inbox directory, atomically, and logs one line per file.
#
#   alharvest feed --durable inbox -- deploy/feed-example.sh /inbox
#
# The feed runs it as: feed-example.sh INBOX <path of the .cart>, with the
# collected event as JSON on stdin and ALHARVEST_SHA256, ALHARVEST_PATH,
# ALHARVEST_SID, ALHARVEST_SCORE (and more) in the environment.
# Exit 0 tells the feed the file is handed; anything else makes it retry,
# then dead-letter the file with the last lines of stderr as the reason.
# A file may be handed twice (after a crash): copying is idempotent.
set -eu

inbox=${1:?usage: feed-example.sh INBOX_DIR CART_PATH}
cart=${2:?usage: feed-example.sh INBOX_DIR CART_PATH}

if [ ! -d "$inbox" ]; then
	echo "inbox $inbox is not a directory" >&2
	exit 1
fi
dest="$inbox/$ALHARVEST_SHA256.cart"
if [ -f "$dest" ] && cmp -s "$cart" "$dest"; then
	echo "already in inbox: $ALHARVEST_SHA256"
	exit 0
fi
tmp="$inbox/.$ALHARVEST_SHA256.cart.tmp.$$"
trap 'rm -f "$tmp"' EXIT
cp "$cart" "$tmp"
mv -f "$tmp" "$dest"
trap - EXIT
echo "handed $ALHARVEST_SHA256 score=$ALHARVEST_SCORE sid=$ALHARVEST_SID -> $dest"
