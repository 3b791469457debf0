#!/usr/bin/env bash
# Makes a virtual environment with this app's pinned packages (every file
# checked against its hash in requirements.txt), or leaves one that is
# already complete: `examples/flask-api/make-venv.sh target/flask-venv`.
# The end-to-end tests and .ci/run call it; so can a developer.
set -euo pipefail
venv="${1:?usage: make-venv.sh DIRECTORY}"
here="$(cd "$(dirname "$0")" && pwd)"
stamp="$venv/.requirements.sha256"
wanted="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
    exit 0
fi
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    --timeout 60 --retries 2 \
    --require-hashes --only-binary=:all: -r "$here/requirements.txt"
echo "$wanted" > "$stamp"
