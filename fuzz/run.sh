#!/usr/bin/env bash
# Runs every fuzz target for SECONDS seconds (default 60) and prints its execution count.
#
#   fuzz/run.sh 600            # ten minutes per target
#   TARGETS="npy nifti" fuzz/run.sh 60
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Each target starts
# from the committed seed files (fuzz/seeds/<target>, valid files the tests write) and the
# crash regressions (fuzz/regressions/<target>), and grows a working corpus in
# fuzz/corpus/<target> (not committed). A crash stops the target and leaves the input in
# fuzz/artifacts/<target>/: copy it into fuzz/regressions/<target>/, where the stable test
# tests/fuzz_corpus.rs replays it on every CI run, then fix the parser.
#
# The targets are built without sanitizer (`-s none`): the parsers are safe Rust
# (`unsafe_code = "forbid"`), so AddressSanitizer adds nothing but a 2-3x slowdown.
set -euo pipefail
seconds="${1:-60}"
cd "$(dirname "$0")"
targets="${TARGETS:-npy npz nifti dicom png checkpoint}"
cargo +nightly fuzz build -O -s none
status=0
for target in $targets; do
    mkdir -p "corpus/$target" "regressions/$target"
    log="$(mktemp)"
    if cargo +nightly fuzz run -O -s none "$target" "corpus/$target" "seeds/$target" \
        "regressions/$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 \
        -max_len=16384 -print_final_stats=1 >"$log" 2>&1; then
        result="no crash"
    else
        result="CRASH (see fuzz/artifacts/$target)"
        status=1
    fi
    runs="$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
    printf '%-11s %12s executions in %ss: %s\n' "$target" "$runs" "$seconds" "$result"
    tail -n 3 "$log" | sed 's/^/    /'
    rm -f "$log"
done
exit "$status"
