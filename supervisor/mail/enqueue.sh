#!/bin/sh
# app_voicemail's mailcmd (rendered by supervisor/render/voicemail.py; docs/mail.md):
#   /bin/sh enqueue.sh QUEUE MAX_MESSAGES MAX_BYTES < message
# The whole e-mail on stdin becomes one file `*.eml` of QUEUE (on the spool volume), written
# under a hidden temporary name, synced and renamed, so the supervisor's delivery never reads half
# a message. When QUEUE already holds MAX_MESSAGES, or the message is larger than MAX_BYTES, it is
# refused: a marker `drop.REASON.*` tells the supervisor to count and log it, and the exit status
# is 75 (EX_TEMPFAIL). Plain sh and coreutils: it runs under Asterisk (its user, its root).
# app_voicemail runs it in the background, so Asterisk never waits for it.
set -u
queue=$1
max=$2
max_bytes=$3
umask 077
stamp=$(date +%s%N)
drop() {
    : >"$queue/drop.$1.$stamp.$$"
    echo "asterisk-supervisor mail-enqueue: message refused ($1)" >&2
    exit 75
}
count=$(ls -1 "$queue" | grep -c '\.eml$')
[ "$count" -lt "$max" ] || drop full
tmp="$queue/.tmp.$stamp.$$"
if ! head -c "$((max_bytes + 1))" >"$tmp"; then
    rm -f "$tmp"
    drop error
fi
if [ "$(wc -c <"$tmp")" -gt "$max_bytes" ]; then
    rm -f "$tmp"
    drop too_large
fi
sync "$tmp" 2>/dev/null || true
mv "$tmp" "$queue/$stamp.$$.eml" || { rm -f "$tmp"; drop error; }
