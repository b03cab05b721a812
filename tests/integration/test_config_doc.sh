#!/usr/bin/env bash
# docs/configuration.md must equal what the programs print from their settings tables, so the
# documentation cannot drift from the code.
set -euo pipefail
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
"$SPLITMAIL_SRC/scripts/gen-config-doc" "$SPLITMAIL_BIN" "$tmp"
if ! diff -u "$SPLITMAIL_SRC/docs/configuration.md" "$tmp"; then
  echo "FAIL: docs/configuration.md is stale: run scripts/gen-config-doc BUILD_DIR" >&2
  exit 1
fi
for key in relay.hostname home.lmtp spool.dir; do
  grep -q "\`$key\`" "$tmp" || { echo "FAIL: $key missing from the generated doc" >&2; exit 1; }
done
echo "configuration doc is current"
