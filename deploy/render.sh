#!/usr/bin/env bash
# Prints a Cloud Run service definition of this folder with its ${VARIABLES}
# filled in from the environment. deploy.sh deploys exactly what this prints,
# and the tests check exactly what this prints.
#
# Every variable the file names must be set (it may be empty: BROKER_CALLERS,
# for one, often is); an unset one is an error here rather than an empty value
# found by Cloud Run, or by a user, later.
#
# Usage: deploy/render.sh deploy/public-service.yaml
set -euo pipefail
file="${1:?usage: deploy/render.sh FILE.yaml}"
names="$(grep -o '\${[A-Z_][A-Z0-9_]*}' "$file" | sort -u | tr -d '${}')"
missing=""
for name in $names; do
  if [ -z "${!name+set}" ]; then missing="$missing $name"; fi
done
if [ -n "$missing" ]; then
  echo "render.sh: $file needs these variables set:$missing" >&2
  exit 1
fi
# Only the file's own variables are replaced; any other '$' stays as it is.
envsubst "$(printf '${%s} ' $names)" < "$file"
