#!/usr/bin/env bash
# Runs each fuzz target for SECONDS (default 60) with libFuzzer through cargo-fuzz, starting
# from the committed seeds (fuzz/seeds/, made by make_seeds.py), corpus (fuzz/corpus/, what
# earlier runs found) and regressions (fuzz/regressions/, inputs that once crashed). Any
# crash, panic, timeout (5 s per input) or out-of-memory fails the run; the input is left in
# fuzz/artifacts/TARGET/ to be copied into fuzz/regressions/TARGET/ with a test for it.
#
#   bash fuzz/run.sh 60          # what .ci/run does
#   bash fuzz/run.sh 600 keep    # a longer run that adds what it finds to fuzz/corpus/
#
# cargo-fuzz needs nightly-only compiler flags (-Zsanitizer=address); RUSTC_BOOTSTRAP=1 lets
# the stable toolchain accept them, so no nightly toolchain has to be installed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
SECONDS_EACH=${1:-60}
KEEP=${2:-}
TARGETS=(csv_reader model_decoder onnx_import)
CARGO_FUZZ_VERSION=0.13.2
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version 2>/dev/null | grep -qF "$CARGO_FUZZ_VERSION"; then
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

# One build for all targets, with debug assertions so integer overflow panics too.
cargo fuzz build --debug-assertions

# LeakSanitizer stays on for the model decoder and the ONNX import. For the CSV reader it
# reports the per-thread destructor list glibc allocates for each worker thread of the parallel
# scorer, when the thread is joined but not yet gone: a false report on every few thousand
# inputs.
declare -A LEAKS=([csv_reader]=0 [model_decoder]=1 [onnx_import]=1)

for target in "${TARGETS[@]}"; do
    scratch=$(mktemp -d)
    mkdir -p "corpus/$target" "regressions/$target" "artifacts/$target"
    # libFuzzer writes new inputs into the first folder: a scratch one, unless asked to keep.
    if [[ $KEEP == keep ]]; then
        out="corpus/$target"
    else
        out=$scratch
    fi
    log="$scratch/fuzz.log"
    set +e
    cargo fuzz run --debug-assertions "$target" "$out" "seeds/$target" "corpus/$target" \
        "regressions/$target" -- \
        -max_total_time="$SECONDS_EACH" -timeout=5 -rss_limit_mb=2048 \
        -detect_leaks="${LEAKS[$target]}" \
        -artifact_prefix="artifacts/$target/" -print_final_stats=1 >"$log" 2>&1
    code=$?
    set -e
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    if ((code != 0)); then
        tail -n 60 "$log"
        echo "fuzz $target: FAILED (exit $code) after ${runs:-?} inputs; see fuzz/artifacts/$target/"
        rm -rf "$scratch"
        exit 1
    fi
    echo "fuzz $target: ${runs:-?} inputs in $SECONDS_EACH s: no crash, panic or timeout"
    rm -rf "$scratch"
done
if [[ $KEEP == keep ]]; then
    for target in "${TARGETS[@]}"; do
        # Keeps only inputs that add coverage.
        cargo fuzz cmin "$target" "corpus/$target"
    done
fi
