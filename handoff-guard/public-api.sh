#!/usr/bin/env bash
# The crate's public API as one line per item (handoff-guard/public-api.txt),
# from rustdoc's JSON output with every feature on.
#
#   handoff-guard/public-api.sh           rewrite public-api.txt
#   handoff-guard/public-api.sh --check   fail if the API differs from it
#
# rustdoc's JSON output is unstable (RUSTC_BOOTSTRAP lets the stable
# toolchain write it); it builds in a target directory of its own, so the
# workspace's build is not redone. The same run refuses an undocumented
# public item or a broken doc link.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
target="$root/target/public-api"
RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$target" \
RUSTDOCFLAGS="-D missing_docs -D rustdoc::broken_intra_doc_links -D warnings" \
    cargo rustdoc --manifest-path "$here/Cargo.toml" --lib --all-features --locked \
    -- -Z unstable-options --output-format json
listing="$(python3 "$here/public_api.py" "$target/doc/handoff_guard.json")"
if [ "${1:-}" = "--check" ]; then
    if ! diff -u "$here/public-api.txt" <(printf '%s\n' "$listing"); then
        echo "handoff-guard's public API changed (above: - committed, + now)." >&2
        echo "If that is meant, run handoff-guard/public-api.sh, commit public-api.txt and name the change in CHANGELOG.md." >&2
        exit 1
    fi
    echo "public API: as committed ($(printf '%s\n' "$listing" | wc -l) lines)"
else
    printf '%s\n' "$listing" > "$here/public-api.txt"
    echo "wrote handoff-guard/public-api.txt ($(printf '%s\n' "$listing" | wc -l) lines)"
fi
