#!/usr/bin/env bash
# Builds every fuzz target and runs each in turn, one process with one job
# (the machine has two cores and other work), for a bounded time; then
# prints a table and writes it to fuzz/RESULTS.md. Exits non-zero if any
# target left a finding (crash, timeout, out-of-memory or leak input)
# under fuzz/artifacts/<target>.
#
#   fuzz/run.sh            # 60 s per target
#   fuzz/run.sh 600        # or FUZZ_SECONDS=600 fuzz/run.sh
#   FUZZ_TARGETS="return_to session_cookie" fuzz/run.sh 30
#
# Toolchain: stable Rust. cargo-fuzz passes -Z flags, which stable rustc
# accepts with RUSTC_BOOTSTRAP=1. AddressSanitizer works this way (its
# runtime ships with the stable standard library) and is the default;
# FUZZ_SANITIZER=none turns it off. Debug assertions and overflow checks
# are on (-a), so an arithmetic overflow on input is a finding.
set -euo pipefail

CARGO_FUZZ_VERSION=0.13.2
SECONDS_EACH="${1:-${FUZZ_SECONDS:-60}}"
SANITIZER="${FUZZ_SANITIZER:-address}"
FUZZ_DIR="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$FUZZ_DIR")"
cd "$ROOT"

export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never

if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
    echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

FLAGS=(--sanitizer "$SANITIZER" --debug-assertions)
echo "== building the fuzz targets (release, sanitizer: $SANITIZER)"
cargo fuzz build "${FLAGS[@]}"

if [ -n "${FUZZ_TARGETS:-}" ]; then
    read -r -a TARGETS <<<"$FUZZ_TARGETS"
else
    mapfile -t TARGETS < <(cargo fuzz list)
fi

mkdir -p "$FUZZ_DIR/logs"
ROWS=()
TOTAL_FINDINGS=0
for target in "${TARGETS[@]}"; do
    corpus="$FUZZ_DIR/corpus/$target"
    artifacts="$FUZZ_DIR/artifacts/$target"
    log="$FUZZ_DIR/logs/$target.log"
    mkdir -p "$corpus" "$artifacts"
    echo "== $target: ${SECONDS_EACH} s (log: ${log#"$ROOT"/})"
    # libFuzzer exits non-zero on a finding; the table below reports it.
    set +e
    cargo fuzz run "${FLAGS[@]}" "$target" "$corpus" -- \
        -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
        -max_len=8192 -timeout=10 -rss_limit_mb=2048 >"$log" 2>&1
    status=$?
    set -e
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
    corpus_size=$(find "$corpus" -type f | wc -l)
    findings=$(find "$artifacts" -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) | wc -l)
    if [ "$status" != 0 ] && [ "$findings" = 0 ]; then
        echo "   $target exited with $status and left no artifact; see $log" >&2
        findings="exit $status"
        TOTAL_FINDINGS=$((TOTAL_FINDINGS + 1))
    else
        TOTAL_FINDINGS=$((TOTAL_FINDINGS + findings))
    fi
    ROWS+=("| $target | $SECONDS_EACH | ${execs:-?} | ${rate:-?} | $corpus_size | $findings |")
done

table() {
    echo "| target | seconds | executions | exec/s | corpus | findings |"
    echo "|---|---:|---:|---:|---:|---:|"
    printf '%s\n' "${ROWS[@]}"
}

commit="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!fuzz/RESULTS.md' || echo '+changes')"
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
{
    echo "# Fuzzing results"
    echo
    echo "Written by \`fuzz/run.sh\`: each target ran alone, one job, for the"
    echo "time shown; findings are inputs left under \`fuzz/artifacts/<target>\`."
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- commit: $commit"
    echo "- machine: $(nproc) cores, $cpu"
    echo "- toolchain: $(rustc --version) with RUSTC_BOOTSTRAP=1, $(cargo fuzz --version)"
    echo "- sanitizer: $SANITIZER; debug assertions and overflow checks on"
    echo
    table
} >"$FUZZ_DIR/RESULTS.md"

echo
table
echo
if [ "$TOTAL_FINDINGS" != 0 ]; then
    echo "findings: $TOTAL_FINDINGS (see fuzz/artifacts/)" >&2
    exit 1
fi
echo "no findings"
