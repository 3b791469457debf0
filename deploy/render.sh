#!/usr/bin/env bash
# Prints a Cloud Run service definition of this folder with its ${VARIABLES}
# filled in from the environment. deploy.sh deploys exactly what this prints,
# and the tests check exactly what this prints.
#
# Lines between `#if STORE=NAME` and `#endif` are kept only when STORE (the
# store deploy.sh deploys with: firestore, the default, or cloudsql) is NAME;
# the marker lines themselves are dropped. public-service.yaml uses them for
# what differs between Firestore and Cloud SQL.
#
# Every variable the kept lines name must be set (it may be empty:
# BROKER_CALLERS, for one, often is); an unset one is an error here rather
# than an empty value found by Cloud Run, or by a user, later.
#
# Usage: deploy/render.sh deploy/public-service.yaml
set -euo pipefail
file="${1:?usage: deploy/render.sh FILE.yaml}"
store="${STORE:-firestore}"
case "$store" in
  firestore | cloudsql) ;;
  *)
    echo "render.sh: STORE must be firestore or cloudsql, e.g. STORE=cloudsql; got '$store'" >&2
    exit 1
    ;;
esac
# An unterminated or nested block is an error: it would drop or keep lines
# silently.
kept="$(awk -v store="$store" -v file="$file" '
  /^[ \t]*#if STORE=/ {
    if (inside) { print file ":" NR ": #if inside #if" > "/dev/stderr"; exit 1 }
    name = $0; sub(/^[ \t]*#if STORE=/, "", name); sub(/[ \t]+$/, "", name)
    inside = 1; keep = (name == store); next
  }
  /^[ \t]*#endif[ \t]*$/ {
    if (!inside) { print file ":" NR ": #endif without #if" > "/dev/stderr"; exit 1 }
    inside = 0; next
  }
  !inside || keep { print }
  END { if (inside) { print file ": #if without #endif" > "/dev/stderr"; exit 1 } }
' "$file")"
names="$(printf '%s\n' "$kept" | { grep -o '\${[A-Z_][A-Z0-9_]*}' || true; } | sort -u | tr -d '${}')"
missing=""
for name in $names; do
  if [ -z "${!name+set}" ]; then missing="$missing $name"; fi
done
if [ -n "$missing" ]; then
  echo "render.sh: $file needs these variables set:$missing" >&2
  exit 1
fi
# Only the file's own variables are replaced; any other '$' stays as it is.
printf '%s\n' "$kept" | envsubst "$(printf '${%s} ' $names)"
