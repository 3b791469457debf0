#!/bin/sh
# Empty targets for every workspace member, so Cargo can build the
# dependency layer from the manifests alone (deploy/Dockerfile).
set -eu
for lib in handoff-guard service-kit public-service private-service tests tests/mock-provider; do
    mkdir -p "$lib/src"
    [ -f "$lib/src/lib.rs" ] || : > "$lib/src/lib.rs"
done
for bin in public-service private-service tests/mock-provider examples/reports-service bench; do
    mkdir -p "$bin/src"
    [ -f "$bin/src/main.rs" ] || echo 'fn main() {}' > "$bin/src/main.rs"
done
mkdir -p bench/src/bin
[ -f bench/src/bin/baseline.rs ] || echo 'fn main() {}' > bench/src/bin/baseline.rs
# sqlx::migrate! reads these at compile time.
mkdir -p public-service/migrations/sqlite public-service/migrations/postgres
