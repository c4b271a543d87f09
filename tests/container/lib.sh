# shellcheck shell=bash
# Shared by tests/container/run.sh and tests/container/shards.sh (sourced, not run): the
# check harness and the helpers both use. The caller sets WORK (a scratch folder) and may set
# VERBOSE to show every check's log, not only a failing one's.

PASSED=0
FAILED=0

log() { printf '%s\n' "$*" >&2; }

# Fails unless two files are byte for byte equal, showing where they differ.
same_bytes() {
    if ! cmp -s "$1" "$2"; then
        echo "$1 and $2 differ:"
        cmp "$1" "$2" || true
        diff "$1" "$2" | head -n 20 || true
        return 1
    fi
    echo "$1 and $2 are byte for byte equal ($(wc -c <"$1") bytes)"
}

# Runs one check with errexit on, its output to a log; prints PASS or FAIL.
check() {
    local name=$1 fn=$2
    local logfile="$WORK/check-$fn.log" rc
    set +e
    (set -e; "$fn") >"$logfile" 2>&1
    rc=$?
    set -e
    if ((rc == 0)); then
        PASSED=$((PASSED + 1))
        echo "PASS  $name"
    else
        FAILED=$((FAILED + 1))
        echo "FAIL  $name (exit $rc); end of its log:"
    fi
    if ((rc != 0)) || [[ -n ${VERBOSE:-} ]]; then
        tail -n 40 "$logfile" | sed 's/^/      /'
    fi
}
