#!/usr/bin/env bash
# Simulates k8s/job-indexed.yaml with podman: N containers of the image, each with its own
# JOB_COMPLETION_INDEX as an Indexed Job sets it, share one read-only input folder and one
# output folder. Run from the repository root after tests/container/run.sh has built the
# image: `bash tests/container/shards.sh`.
#
#   1. 4 shards run side by side: all exit 0, and `cat part-*.csv` is byte for byte the
#      output of one unsharded run of the image
#   2. a shard killed (SIGKILL) mid-run leaves no part, only its hidden temporary file
#   3. that shard run again completes the output, byte for byte equal again
#   4. a finished shard run again says "skipping" and leaves its part untouched
#   5. a shard whose rows hold a bad value exits 3 (what the Job's FailIndex rule matches),
#      naming file:line:column, and leaves no part; the other shards still finish
#
# Every container runs as the image's user 65532, read-only, with no capabilities, no
# network, 32 MiB of memory and one CPU, as the Job's pods do. The input is 2e6 generated
# rows (`cargo run --example gen_data -- --rows 2000000 --seed 3`, about 130 MB). Each check
# prints PASS or FAIL (with the end of its log; SHARDS_VERBOSE=1 shows every check's log),
# the last line counts them, and the exit status is 1 on any failure. Containers and
# temporary files it made are removed on exit.
set -euo pipefail
shopt -s inherit_errexit
export LC_ALL=C

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=tests/container/lib.sh
source tests/container/lib.sh
VERBOSE=${SHARDS_VERBOSE:-}
REPO=$PWD
# Podman through runc with ulimits this host accepts (see the file).
export CONTAINERS_CONF="$REPO/tests/container/containers.conf"

VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
IMAGE="batch-inference:$VERSION"
SHARDS=4
ROWS=2000000
# The shard that is killed and rerun, and the one whose rerun must skip.
KILLED=2
FINISHED=1
# Container names carry this shell's pid, so that two runs of the script do not collide.
PREFIX="bi-shards-$$"

WORK=$(mktemp -d)
# The containers' user (65532) must reach the inputs mounted from here.
chmod 755 "$WORK"

# The containers this run made, found by their names (checks run in subshells).
cleanup() {
    podman ps --all --filter "name=^$PREFIX-" --format '{{.Names}}' 2>/dev/null |
        xargs --no-run-if-empty podman rm --force --ignore >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

die() {
    log "shards.sh: $*"
    exit 1
}


# A folder the containers' user can write, as fsGroup makes the Job's output volume.
writable_dir() {
    mkdir -p "$1"
    chown 65532:65532 "$1"
}

# Starts shard INDEX of SHARDS in the background, reading DIR/input.csv and writing
# OUT/part-0000INDEX.csv, with CPUS of a CPU; its container is named PREFIX-NAME. The
# arguments after the image are those of k8s/job-indexed.yaml, the shard coming from the
# environment as there.
start_shard() {
    local name=$1 index=$2 dir=$3 out=$4 cpus=$5
    local container="$PREFIX-$name"
    podman rm --force --ignore "$container" >/dev/null
    podman run -d --rm=false --name "$container" \
        --read-only --cap-drop ALL --network none --memory 32m --cpus "$cpus" \
        -e JOB_COMPLETION_INDEX="$index" -e SHARD_COUNT="$SHARDS" \
        -v "$dir:/input:ro" -v "$out:/output" \
        "$IMAGE" score --data /input/input.csv --output '/output/part-{index:05}.csv' \
        >/dev/null
}

# Seconds since $1, a time from `date +%s.%N`.
seconds_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }

# Waits (two minutes at most) for a container to exit; prints its exit code.
exit_code() {
    timeout 120 podman wait "$PREFIX-$1" >/dev/null
    podman inspect --format '{{.State.ExitCode}}' "$PREFIX-$1"
}

# The container's log (the binary logs to standard error).
logs() { podman logs "$PREFIX-$1" 2>&1; }

# A shard's speed from its log on standard input: the byte range it owns, from the line
# "Scoring observations... (shard I of N: the records that start in bytes A..B)", and the rows
# and seconds of the closing line "Scored R rows in S s (... rows/s) from ... to ..."
# (src/log.rs, Logger::summary; progress lines also start with "Scored", but come before it,
# so the last match wins).
speed_from_log() {
    awk '
        match($0, /start in bytes [0-9]+\.\.[0-9]+/) {
            split(substr($0, RSTART + 15, RLENGTH - 15), r, /\.\./)
            bytes = r[2] - r[1]
        }
        /^Scored [0-9]+ rows in [0-9.]+ s \(/ { rows = $2; secs = $5 }
        END {
            if (secs > 0 && bytes > 0)
                printf "%d rows, %.1f MB in %.3f s: %.0f MB/s\n", rows, bytes / 1e6, secs, bytes / 1e6 / secs
            else
                print "no speed: the log has no byte range or no closing \"Scored\" line"
        }'
}

# One shard's speed from its container's log.
shard_speed() { logs "$1" | speed_from_log; }

# Parts in index order, concatenated, compared with the unsharded output.
parts_equal_single() {
    cat "$WORK/out"/part-*.csv >"$WORK/joined.csv"
    same_bytes "$WORK/single/predictions.csv" "$WORK/joined.csv"
}

check_parallel() {
    local i code failed=0 started
    started=$(date +%s.%N)
    for ((i = 0; i < SHARDS; i++)); do
        start_shard "$i" "$i" "$WORK/input" "$WORK/out" 1
    done
    for ((i = 0; i < SHARDS; i++)); do
        code=$(exit_code "$i")
        echo "shard $i: exit $code; $(shard_speed "$i")"
        echo "  ran $(podman inspect --format '{{.State.StartedAt}} .. {{.State.FinishedAt}}' "$PREFIX-$i")"
        [[ $code == 0 ]] || failed=1
    done
    echo "all $SHARDS shards, first podman run to last exit: $(seconds_since "$started") s"
    ls -lA "$WORK/out"
    echo "first line of each part:"
    head -q -n 1 "$WORK/out"/part-*.csv
    ((failed == 0))
    parts_equal_single
}

check_kill() {
    local part="$WORK/out/part-0000$KILLED.csv" size=0 full temp code deadline
    full=$(wc -c <"$part")
    rm "$part"
    # A twentieth of a CPU stretches the shard's ~0.2 s to several seconds, so the kill
    # surely lands while it is writing; whether it did is checked, not assumed.
    start_shard "$KILLED" "$KILLED" "$WORK/input" "$WORK/out" 0.05
    deadline=$((SECONDS + 60))
    # Mid-run: the hidden temporary part holds a first MiB, and the shard is still going.
    while ((size < 1048576)); do
        ((SECONDS < deadline)) || {
            echo "no temporary part of 1 MiB after 60 s"
            return 1
        }
        sleep 0.1
        temp=$(find "$WORK/out" -name ".part-0000$KILLED.csv.*.tmp" | head -n 1)
        [[ -z $temp ]] || size=$(wc -c <"$temp")
    done
    # podman kill refuses a container that is no longer running, so this fails if the
    # shard finished first.
    podman kill --signal KILL "$PREFIX-$KILLED" >/dev/null
    code=$(exit_code "$KILLED")
    echo "killed at $size bytes of a temporary part; exit $code (128 + 9 is SIGKILL)"
    [[ $code == 137 ]]
    echo "the shard's log ends:"
    logs "$KILLED" | tail -n 2
    if logs "$KILLED" | grep -q '^Scored'; then
        echo "the shard logged that it finished"
        return 1
    fi
    echo "output folder after the kill:"
    ls -lA "$WORK/out"
    if [[ -e $part ]]; then
        echo "$part exists after the kill"
        return 1
    fi
    echo "no part-0000$KILLED.csv; left behind: $(basename "$temp"), $(wc -c <"$temp") of $full bytes"
}

check_rerun_killed() {
    start_shard "$KILLED-rerun" "$KILLED" "$WORK/input" "$WORK/out" 1
    local code
    code=$(exit_code "$KILLED-rerun")
    echo "rerun of shard $KILLED: exit $code; $(shard_speed "$KILLED-rerun")"
    [[ $code == 0 ]]
    echo "output folder after the rerun:"
    ls -lA "$WORK/out"
    parts_equal_single
}

check_skip() {
    local part="$WORK/out/part-0000$FINISHED.csv" before after code
    before=$(stat -c '%i %s %y' "$part")
    cp "$part" "$WORK/finished.csv"
    start_shard "$FINISHED-rerun" "$FINISHED" "$WORK/input" "$WORK/out" 1
    code=$(exit_code "$FINISHED-rerun")
    echo "rerun of finished shard $FINISHED: exit $code; its log:"
    logs "$FINISHED-rerun"
    [[ $code == 0 ]]
    logs "$FINISHED-rerun" | grep -q 'skipping'
    after=$(stat -c '%i %s %y' "$part")
    echo "inode, size, mtime before: $before"
    echo "inode, size, mtime after:  $after"
    [[ $before == "$after" ]]
    same_bytes "$WORK/finished.csv" "$part"
    parts_equal_single
}

check_bad_data() {
    local bad="$WORK/bad-input" out="$WORK/bad-out" i code failed=0 line
    mkdir -p "$bad"
    writable_dir "$out"
    # 1000 rows; row 700 (line 701), in the third quarter of the bytes, gets ZN = abc.
    head -n 1001 "$WORK/input/input.csv" |
        awk -F, -v OFS=, 'NR == 701 { $2 = "abc" } { print }' >"$bad/input.csv"
    chmod 644 "$bad/input.csv"
    chmod 755 "$bad"
    for ((i = 0; i < SHARDS; i++)); do
        start_shard "bad-$i" "$i" "$bad" "$out" 1
    done
    for ((i = 0; i < SHARDS; i++)); do
        code=$(exit_code "bad-$i")
        echo "shard $i: exit $code"
        if ((i == KILLED)); then
            [[ $code == 3 ]] || failed=1
            line=$(logs "bad-$i" | tail -n 1)
            echo "  $line"
            [[ $line == *'/input/input.csv:701:2: column ZN: expected a number, found "abc"'* ]] ||
                failed=1
        else
            [[ $code == 0 ]] || failed=1
        fi
    done
    echo "output folder:"
    ls -lA "$out"
    ((failed == 0))
    [[ ! -e $out/part-0000$KILLED.csv ]]
    # Nothing else of the failed shard is left: it removes its temporary part on an error.
    [[ -z $(find "$out" -name ".part-0000$KILLED.csv.*") ]]
}


command -v podman >/dev/null || die "podman not found: run bash tests/container/run.sh first"
podman image exists "$IMAGE" || die "no image $IMAGE: build it with bash tests/container/run.sh"
podman run --rm "$IMAGE" --help | grep -q -- '--shard-count' ||
    die "the image $IMAGE has no --shard-count: rebuild it with bash tests/container/run.sh"

START=$SECONDS
mkdir -p "$WORK/input"
log "generating $ROWS rows with examples/gen_data.rs"
# The debug build: `cargo test` (in .ci/run) has built it already, and it makes the same
# bytes as a release build in ~9 s, where a first release build of the crate takes a minute.
cargo run --quiet --locked --example gen_data -- --rows "$ROWS" --seed 3 \
    >"$WORK/input/input.csv"
log "generated in $((SECONDS - START)) s"
chmod 644 "$WORK/input/input.csv"
writable_dir "$WORK/single"
writable_dir "$WORK/out"

# The reference: one unsharded run of the image, with the same lock-down.
SINGLE_STARTED=$(date +%s.%N)
podman run --rm --read-only --cap-drop ALL --network none --memory 32m \
    -v "$WORK/input:/input:ro" -v "$WORK/single:/output" \
    "$IMAGE" score --data /input/input.csv --output /output/predictions.csv \
    2>"$WORK/single.log" || die "the unsharded run failed: $(cat "$WORK/single.log")"
SINGLE_SECONDS=$(seconds_since "$SINGLE_STARTED")
INPUT_BYTES=$(wc -c <"$WORK/input/input.csv")
SINGLE_RATE=$(awk -v bytes="$INPUT_BYTES" '/^Scored [0-9]+ rows in [0-9.]+ s \(/ { secs = $5 }
    END { if (secs > 0) printf "%.0f MB/s", bytes / 1e6 / secs; else print "unknown" }' \
    "$WORK/single.log")
log "input: $INPUT_BYTES bytes; unsharded run: $(tail -n 1 "$WORK/single.log")"
log "the unsharded podman run took $SINGLE_SECONDS s"

check "$SHARDS shards side by side: exit 0, cat part-*.csv = the unsharded output" check_parallel
check "shard $KILLED killed mid-run (SIGKILL): no part, only a hidden temporary file" check_kill
check "shard $KILLED run again: cat part-*.csv = the unsharded output again" check_rerun_killed
check "finished shard $FINISHED run again: \"skipping\", part untouched" check_skip
check "a bad value in shard $KILLED's rows: it exits 3 with no part, the others finish" \
    check_bad_data

# The speeds check 1 measured, for the README's "Picking N" paragraph.
SPEEDS=$(sed -n 's/.* \([0-9]*\) MB\/s$/\1/p' "$WORK/check-check_parallel.log" | paste -sd, -)
echo "shard speeds with one CPU each: ${SPEEDS:-none} MB/s (unsharded, 2 CPUs: $SINGLE_RATE)"
echo "shard checks took $((SECONDS - START)) s; image $IMAGE, $ROWS rows, $SHARDS shards"
echo "shard_checks: $PASSED passed, $FAILED failed"
((FAILED == 0))
