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

# A free port of 127.0.0.1.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts the server NAME (the command after PORT) in the background, its pid, port and log in
# WORK/NAME.pid, .port and .log (checks run in subshells, and cleanup must find it), and waits
# (30 s at most) until http://127.0.0.1:PORT/ answers.
start_server() {
    local name=$1 port=$2
    shift 2
    "$@" >"$WORK/$name.log" 2>&1 </dev/null &
    echo $! >"$WORK/$name.pid"
    echo "$port" >"$WORK/$name.port"
    for _ in $(seq 300); do
        curl -s -o /dev/null "http://127.0.0.1:$port/" && break
        kill -0 "$(cat "$WORK/$name.pid")" || {
            echo "$name exited: $(tail -n 5 "$WORK/$name.log")"
            return 1
        }
        sleep 0.1
    done
    curl -s -o /dev/null "http://127.0.0.1:$port/"
    echo "$name (pid $(cat "$WORK/$name.pid")) answers on 127.0.0.1:$port"
}

# Stops the server NAME started by start_server, if it runs.
stop_server() {
    if [[ -f $WORK/$1.pid ]]; then
        kill "$(cat "$WORK/$1.pid")" 2>/dev/null || true
        rm -f "$WORK/$1.pid"
    fi
}
