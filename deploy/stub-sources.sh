#!/bin/sh
# Empty targets for every workspace member, so Cargo can build the
# dependency layer from the manifests alone (deploy/Dockerfile). The
# members come from the workspace manifest itself, so a new member cannot
# be forgotten here; each gets an empty library and an empty `main`, which
# covers library-only, binary-only and mixed packages alike.
set -eu
members="$(sed -n 's/^members *= *\[\(.*\)\]/\1/p' Cargo.toml | tr -d '",')"
[ -n "$members" ] || { echo "stub-sources.sh: no members = [...] line in Cargo.toml" >&2; exit 1; }
for member in $members; do
    [ -f "$member/Cargo.toml" ] || { echo "stub-sources.sh: $member/Cargo.toml was not copied" >&2; exit 1; }
    mkdir -p "$member/src"
    [ -f "$member/src/lib.rs" ] || : > "$member/src/lib.rs"
    [ -f "$member/src/main.rs" ] || echo 'fn main() {}' > "$member/src/main.rs"
done
# Binaries named by path in their manifests.
for manifest in $(echo "$members" | sed 's|\([^ ]*\)|\1/Cargo.toml|g'); do
    dir="$(dirname "$manifest")"
    for path in $(sed -n 's/^path *= *"\(src\/bin\/[^"]*\)"/\1/p' "$manifest"); do
        mkdir -p "$dir/$(dirname "$path")"
        [ -f "$dir/$path" ] || echo 'fn main() {}' > "$dir/$path"
    done
done
# Tests, examples and benches named in a manifest must exist for Cargo to
# read it.
for manifest in $(echo "$members" | sed 's|\([^ ]*\)|\1/Cargo.toml|g'); do
    dir="$(dirname "$manifest")"
    awk '/^\[\[(test|example|bench)\]\]/ { kind = $0; next }
         /^\[/ { kind = "" }
         kind != "" && /^name *= *"/ { split($0, q, "\""); sub(/\[\[/, "", kind); sub(/\]\]/, "", kind); print kind, q[2] }' "$manifest" |
    while read -r kind name; do
        case "$kind" in
            test) path="tests/$name.rs" ;;
            example) path="examples/$name.rs" ;;
            bench) path="benches/$name.rs" ;;
        esac
        mkdir -p "$dir/$(dirname "$path")"
        [ -f "$dir/$path" ] || echo 'fn main() {}' > "$dir/$path"
    done
done
# sqlx::migrate! reads these at compile time.
mkdir -p public-service/migrations/sqlite public-service/migrations/postgres
