#!/usr/bin/env bash
# Runs the Dockerfile's build steps on the host, for machines where no
# container builder can run (no registry to pull base images from): the
# dependency layer against stub sources from the manifests alone, then the
# real build, in a scratch copy of the repository. Prints the release
# binaries' sizes.
#
#   deploy/check-build.sh [DIR]
#
# DIR: where to keep the three release binaries (the two services and the gate) (for deploy/build-image.sh and
# tests/tests/e2e/image), so CI compiles them once.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
keep="${1:-}"
if [ -n "$keep" ]; then
  mkdir -p "$keep"
  keep="$(cd "$keep" && pwd)"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export CARGO_TARGET_DIR="$work/target" CARGO_TERM_COLOR=never

echo "== stage 1: dependencies from the manifests (COPY Cargo.toml … ; stub-sources.sh)"
mkdir -p "$work/src"
cd "$work/src"
cp "$root/Cargo.toml" "$root/Cargo.lock" .
# Exactly the manifests the Dockerfile copies, so a member it forgets
# fails here as it would in the image build.
copied="$(sed -n 's|^COPY \([^ ]*\)/Cargo.toml .*|\1|p' "$root/deploy/Dockerfile")"
for manifest in $copied; do
  mkdir -p "$manifest"
  cp "$root/$manifest/Cargo.toml" "$manifest/"
done
mkdir -p deploy && cp "$root/deploy/stub-sources.sh" deploy/
sh deploy/stub-sources.sh
cargo build --release --locked -p public-service -p private-service -p gate
rm -rf handoff-guard/src service-kit/src public-service/src private-service/src gate/src

echo "== stage 2: our code (COPY handoff-guard service-kit public-service private-service gate)"
for dir in handoff-guard service-kit public-service private-service gate; do
  rm -rf "$dir" && cp -r "$root/$dir" "$dir"
done
touch handoff-guard/src/lib.rs service-kit/src/lib.rs public-service/src/lib.rs private-service/src/lib.rs gate/src/lib.rs
cargo build --release --locked -p public-service -p private-service -p gate

echo "== the binaries the runtime stages copy"
for bin in public-service private-service handoff-gate; do
  path="$CARGO_TARGET_DIR/release/$bin"
  [ -x "$path" ] || { echo "missing $path" >&2; exit 1; }
  # The stub main would exit at once; the real one refuses to start
  # without configuration, naming the first missing setting.
  if out="$(env -i "$path" 2>&1)"; then echo "$bin started without configuration" >&2; exit 1; fi
  echo "$bin: $(du -h "$path" | cut -f1) ($out)"
done
if [ -n "$keep" ]; then
  cp "$CARGO_TARGET_DIR/release/public-service" "$CARGO_TARGET_DIR/release/private-service" \
    "$CARGO_TARGET_DIR/release/handoff-gate" "$keep/"
  echo "kept in $keep"
fi
