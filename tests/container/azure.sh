#!/usr/bin/env bash
# The image against Azure Blob Storage's API: Azurite, Microsoft's emulator (the npm package
# pinned in tests/container/azurite/), on a free port of 127.0.0.1, the containers reaching it
# through --network host. Run from the repository root after tests/container/run.sh has built
# the image: `bash tests/container/azure.sh`.
#
#   1. Azurite starts and answers; a container (Azure's bucket) is made in it
#   2. az:// to az://: a CSV blob scored to a CSV blob and to a Parquet blob, a Parquet blob
#      (read by HEAD and ranged GETs, as Azure has no suffix range) scored to a CSV blob:
#      each blob byte for byte the host binary's output from local files; the account key is
#      not in the log
#   3. two shard containers on one 1e6-row blob (about 65 MB), side by side: each part is
#      over one 8 MiB upload part, so it goes up as blocks committed only at the end; the
#      parts joined are the unsharded output, and shard 1 run again skips its finished part
#
# Every container runs read-only, with no capabilities and 32 MiB of memory. Each check
# prints PASS or FAIL (with the end of its log; VERBOSE=1 shows every check's log), the last
# line counts them, and the exit status is 1 on any failure. Azurite is installed with
# `npm ci` into a folder outside the repository (reused on later runs) and stopped on exit,
# with the containers and temporary files this run made.
set -euo pipefail
shopt -s inherit_errexit
export LC_ALL=C

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=tests/container/lib.sh
source tests/container/lib.sh
REPO=$PWD
# Podman through runc with ulimits this host accepts (see the file).
export CONTAINERS_CONF="$REPO/tests/container/containers.conf"

VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
IMAGE="batch-inference:$VERSION"
TARGET_DIR=${CARGO_TARGET_DIR:-target}
[[ $TARGET_DIR == /* ]] || TARGET_DIR="$REPO/$TARGET_DIR"
BINARY="$TARGET_DIR/x86_64-unknown-linux-gnu/release/batch_inference"
# Container names carry this shell's pid, so that two runs of the script do not collide.
PREFIX="bi-azure-$$"
BLOB_CONTAINER="bi-azure-$$"
# Azurite's one account and its published key (the emulator's, not a secret of anyone's).
ACCOUNT=devstoreaccount1
ACCOUNT_KEY="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
AZURITE=${AZURITE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/batch-inference/azurite}

WORK=$(mktemp -d)
chmod 755 "$WORK"

cleanup() {
    podman ps --all --filter "name=^$PREFIX-" --format '{{.Names}}' 2>/dev/null |
        xargs --no-run-if-empty podman rm --force --ignore >/dev/null 2>&1 || true
    stop_server azurite
    rm -rf "$WORK"
}
trap cleanup EXIT

# Installs the pinned Azurite (package.json and package-lock.json of tests/container/azurite)
# unless that very lock file is installed already.
install_azurite() {
    local lock=tests/container/azurite/package-lock.json
    if [[ -x $AZURITE/node_modules/.bin/azurite-blob ]] && cmp -s "$lock" "$AZURITE/package-lock.json"; then
        return
    fi
    log "installing Azurite (npm ci) into $AZURITE"
    rm -rf "$AZURITE"
    mkdir -p "$AZURITE"
    cp tests/container/azurite/package.json "$lock" "$AZURITE/"
    (cd "$AZURITE" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
}

# Blob requests from the host, signed with the account key (Azure's SharedKey scheme):
# `blob mb CONTAINER`, `blob put CONTAINER NAME FILE`, `blob get CONTAINER NAME FILE`.
blob() {
    python3 - "$(cat "$WORK/azurite.port")" "$ACCOUNT" "$ACCOUNT_KEY" "$@" <<'PY'
import base64
import email.utils
import hashlib
import hmac
import sys
import urllib.error
import urllib.request

port, account, key, op, container, *rest = sys.argv[1:]


def request(method, path, query="", body=b"", headers=None):
    headers = dict(headers or {})
    headers["x-ms-date"] = email.utils.formatdate(usegmt=True)
    headers["x-ms-version"] = "2021-08-06"
    if body:
        headers["Content-Type"] = "application/octet-stream"
    canonical = "".join(f"{k}:{v}\n" for k, v in sorted(headers.items()) if k.startswith("x-ms-"))
    resource = f"/{account}/{account}{path}"
    for pair in sorted(p for p in query.split("&") if p):
        name, value = pair.split("=")
        resource += f"\n{name}:{value}"
    length = str(len(body)) if body else ""
    content_type = headers.get("Content-Type", "")
    signed = f"{method}\n\n\n{length}\n\n{content_type}\n\n\n\n\n\n\n{canonical}{resource}"
    mac = hmac.new(base64.b64decode(key), signed.encode(), hashlib.sha256).digest()
    headers["Authorization"] = f"SharedKey {account}:{base64.b64encode(mac).decode()}"
    url = f"http://127.0.0.1:{port}/{account}{path}" + (f"?{query}" if query else "")
    req = urllib.request.Request(url, data=body or None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.read()
    except urllib.error.HTTPError as e:
        sys.exit(f"blob {op}: {method} {path}: HTTP {e.code}: {e.read()[:300]!r}")


if op == "mb":
    request("PUT", f"/{container}", "restype=container")
elif op == "put":
    with open(rest[1], "rb") as f:
        request("PUT", f"/{container}/{rest[0]}", body=f.read(), headers={"x-ms-blob-type": "BlockBlob"})
elif op == "get":
    with open(rest[1], "wb") as f:
        f.write(request("GET", f"/{container}/{rest[0]}"))
else:
    sys.exit(f"blob: unknown operation {op}")
PY
}

# The image on the host's network to reach Azurite, otherwise locked down; object_store's
# emulator mode takes the account's published key by itself.
run_az() {
    podman run --network host --read-only --cap-drop ALL --memory 32m \
        -e AZURE_STORAGE_USE_EMULATOR=true -e AZURE_STORAGE_ACCOUNT_NAME="$ACCOUNT" \
        -e AZURITE_BLOB_STORAGE_URL="http://127.0.0.1:$(cat "$WORK/azurite.port")" "$@"
}

check_azurite_start() {
    local port
    install_azurite
    port=$(free_port)
    mkdir -p "$WORK/azurite"
    start_server azurite "$port" "$AZURITE/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 \
        --blobPort "$port" --location "$WORK/azurite" --silent --disableTelemetry
    blob mb "$BLOB_CONTAINER"
}

check_az_roundtrip() {
    local c=$BLOB_CONTAINER
    "$BINARY" --quiet --data data/test.csv --output "$WORK/local.csv"
    "$BINARY" --quiet --data data/test.csv --output "$WORK/local.parquet"
    "$BINARY" --quiet --data tests/fixtures/parquet/test.parquet --output "$WORK/local-pq.csv"
    blob put "$c" in/test.csv data/test.csv
    blob put "$c" in/test.parquet tests/fixtures/parquet/test.parquet
    run_az --rm "$IMAGE" --data "az://$c/in/test.csv" --output "az://$c/out/p.csv" \
        2>"$WORK/az-run.log"
    run_az --rm "$IMAGE" --quiet --data "az://$c/in/test.csv" --output "az://$c/out/p.parquet"
    run_az --rm "$IMAGE" --quiet --data "az://$c/in/test.parquet" --output "az://$c/out/pq.csv"
    cat "$WORK/az-run.log"
    if grep -qF "$ACCOUNT_KEY" "$WORK/az-run.log"; then
        echo "the account key shows in the log"
        return 1
    fi
    blob get "$c" out/p.csv "$WORK/az.csv"
    blob get "$c" out/p.parquet "$WORK/az.parquet"
    blob get "$c" out/pq.csv "$WORK/az-pq.csv"
    same_bytes "$WORK/local.csv" "$WORK/az.csv"
    same_bytes "$WORK/local.parquet" "$WORK/az.parquet"
    same_bytes "$WORK/local-pq.csv" "$WORK/az-pq.csv"
}

check_az_shards() {
    local c=$BLOB_CONTAINER i code size failed=0
    # data/test.csv's rows 20,000 times over: 1,020,000 rows, each shard's part about 9.7 MB.
    {
        head -n 1 data/test.csv
        for ((i = 0; i < 20000; i++)); do tail -n +2 data/test.csv; done
    } >"$WORK/big.csv"
    "$BINARY" --quiet --data "$WORK/big.csv" --output "$WORK/big-local.csv"
    blob put "$c" in/big.csv "$WORK/big.csv"
    for i in 0 1; do
        run_az -d --name "$PREFIX-$i" -e JOB_COMPLETION_INDEX="$i" -e SHARD_COUNT=2 \
            "$IMAGE" score --data "az://$c/in/big.csv" \
            --output "az://$c/parts/part-{index:05}.csv" >/dev/null
    done
    for i in 0 1; do
        timeout 300 podman wait "$PREFIX-$i" >/dev/null
        code=$(podman inspect --format '{{.State.ExitCode}}' "$PREFIX-$i")
        echo "shard $i: exit $code; $(podman logs "$PREFIX-$i" 2>&1 | tail -n 1)"
        [[ $code == 0 ]] || failed=1
        blob get "$c" "parts/part-0000$i.csv" "$WORK/part-$i.csv"
        size=$(wc -c <"$WORK/part-$i.csv")
        echo "part $i: $size bytes"
        # More than one upload part of 8 MiB, so the blocks-then-commit path ran.
        ((size > 8 * 1024 * 1024)) || failed=1
    done
    ((failed == 0))
    cat "$WORK/part-0.csv" "$WORK/part-1.csv" >"$WORK/parts.csv"
    same_bytes "$WORK/big-local.csv" "$WORK/parts.csv"
    run_az --rm -e JOB_COMPLETION_INDEX=1 -e SHARD_COUNT=2 "$IMAGE" score \
        --data "az://$c/in/big.csv" --output "az://$c/parts/part-{index:05}.csv" \
        2>"$WORK/rerun.log"
    cat "$WORK/rerun.log"
    grep -qF "az://$c/parts/part-00001.csv exists" "$WORK/rerun.log"
    blob get "$c" parts/part-00001.csv "$WORK/part-1-again.csv"
    same_bytes "$WORK/part-1.csv" "$WORK/part-1-again.csv"
}

[[ -x $BINARY ]] || {
    log "azure.sh: no $BINARY: run tests/container/run.sh first"
    exit 1
}
podman image exists "$IMAGE" || {
    log "azure.sh: no image $IMAGE: run tests/container/run.sh first"
    exit 1
}
START=$SECONDS
check "Azurite on 127.0.0.1 (a free port) answers; a blob container made" check_azurite_start
check "--network host, az:// to az://: CSV and Parquet blobs = the host binary's outputs" \
    check_az_roundtrip
check "2 shard containers on one 65 MB blob: multi-block parts add up; a rerun skips" \
    check_az_shards
echo "checks took $((SECONDS - START)) s; image $IMAGE"
echo "azure_checks: $PASSED passed, $FAILED failed"
((FAILED == 0))
