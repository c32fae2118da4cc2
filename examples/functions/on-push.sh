#!/bin/sh
# Runs for each push GitHub delivers (only those signed with GITHUB_WEBHOOK_SECRET get here).
# The body is the event's JSON; the headers are HTTP_* variables.
set -eu
[ "${HTTP_X_GITHUB_EVENT:-}" = push ] || { echo "ignored: ${HTTP_X_GITHUB_EVENT:-no} event"; exit 0; }
jq -r '"\(.ref) pushed by \(.pusher.name): \(.commits | length) commit(s)"'
