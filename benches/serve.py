"""Load benchmark of `batch_inference serve` against MLServer, over the Open Inference Protocol.

Both servers serve the same model under the name `model` and answer the same request body, one
FP64 tensor of shape [n, 13] (the cheapest shape for each: MLServer's NumPy codec hands it to
scikit-learn as it is), POSTed to /v2/models/model/infer over kept-alive HTTP/1.1 connections
by benches/loadgen/load.rs (a load generator on the standard library, built with one rustc).
For each model, in rounds that alternate the servers (the first one rotating), it measures:

  - throughput at saturation, 1-row and 100-row requests (--connections, --seconds);
  - p50 and p99 latency at a fixed 1,000 requests per second, 1-row requests, from each
    request's sending, and p99 from the moment it was due (so a stall counts for every
    request it delayed);
  - resident memory of each server (the whole process tree: MLServer's inference workers are
    processes of their own), sampled every 50 ms while it is under load; the peak;
  - CPU seconds each server spent per 1,000 requests (user + system, from /proc), steadier
    than wall-clock figures on a shared machine.

Each server is pinned with taskset to the same CPUs (--server-cpus), the load generator to others
(--loadgen-cpus). Our tokio runtime sizes itself to the CPUs it may use; MLServer runs its
default parallel_workers = 1 (one inference process beside the HTTP process) with debug off
(no access log line per request, as ours logs none by default). Before any timing, both must
answer the same predictions for the same 100 rows: within 1e-9 (linear, relative; the sums
are in different orders) or 2e-6 (trees: scikit-learn compares float32 features, the import
float thresholds), or the run stops with exit 1.

MLServer, mlserver-sklearn and scikit-learn live in a venv under benches/ (.venv-mlserver,
made when missing), never in the global Python whose pins CI depends on.

    python3 benches/serve.py                 # both models, 3 rounds, 10 s a run
    python3 benches/serve.py --quick         # linear only, 1 round, 3 s a run
"""

import argparse
import json
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OURS_BIN = ROOT / "target" / "release" / "batch_inference"
VENV = ROOT / "benches" / ".venv-mlserver"
LOAD_SRC = ROOT / "benches" / "loadgen" / "load.rs"
# uvloop 0.22 broke MLServer 1.7.1's inference workers (SeldonIO/MLServer issue 2286).
PIP_PINS = ["mlserver==1.7.1", "mlserver-sklearn==1.7.1", "scikit-learn==1.5.2", "uvloop==0.21.0"]
MODELS = {
    "linear": {"ours": "model/model.bin", "tolerance": 1e-9},
    "gbr": {"ours": "model/gbr.bin", "tolerance": 2e-6},
}
OURS_PORT, MLSERVER_PORT = 18080, 18090
RATE = 1000
GOALS = "at least 20x MLServer's throughput (1-row and 100-row), p99 under 1 ms at 1,000 rps (1-row), peak RSS under 32 MiB"


class BenchError(Exception):
    pass


def main() -> int:
    args = parse_args()
    try:
        return run(args)
    except BenchError as err:
        print(f"serve.py: {err}", file=sys.stderr)
        return 1


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="linear,gbr", help="comma list of linear, gbr")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=int, default=10, help="length of each saturation run")
    p.add_argument("--rate-seconds", type=int, default=10, help="length of each fixed-rate run")
    p.add_argument("--connections", type=int, default=32, help="connections at saturation")
    p.add_argument("--server-cpus", default="1", help="taskset CPU list for each server")
    p.add_argument("--loadgen-cpus", default="0", help="taskset CPU list for the load generator")
    p.add_argument("--scratch", default=str(ROOT / "target" / "bench-serve"))
    p.add_argument("--results", default=None, help="where to write the table [default: SCRATCH/RESULTS-serve.md]")
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--quick", action="store_true", help="linear only, 1 round, 3 s runs")
    args = p.parse_args()
    if args.quick:
        args.models, args.rounds, args.seconds, args.rate_seconds = "linear", 1, 3, 3
    args.models = [m for m in args.models.split(",") if m]
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        p.error(f"unknown model {unknown[0]!r}: choose from {', '.join(MODELS)}")
    return args


def run(args) -> int:
    scratch = Path(args.scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    ensure_tools(args)
    load_before = os.getloadavg()
    bodies = write_bodies(scratch)
    results, agreements, rss = {}, [], {}
    for model in args.models:
        repo_dir = make_mlserver_repository(scratch, model)
        servers = {
            "ours": start_ours(args, model, scratch),
            "mlserver": start_mlserver(args, repo_dir, scratch),
        }
        try:
            agreements.append(cross_check(model, servers, bodies[100]))
            results[model] = measure(args, servers, bodies)
        finally:
            for server in servers.values():
                server.stop()
        rss[model] = {name: s.peak_rss for name, s in servers.items()}
    load_after = os.getloadavg()
    report = render(args, results, rss, agreements, load_before, load_after)
    out = Path(args.results) if args.results else scratch / "RESULTS-serve.md"
    out.write_text(report)
    print(report)
    print(f"written to {out}")
    return 0


def ensure_tools(args) -> None:
    """Builds our release binary and the load generator, and makes the MLServer venv when missing."""
    if not args.no_build:
        sh(["cargo", "build", "--release", "--bin", "batch_inference"])
    args.load = Path(args.scratch) / "load"
    sh(["rustc", "-O", "--edition", "2021", "-o", args.load, LOAD_SRC])
    if not (VENV / "bin" / "mlserver").exists():
        sh([sys.executable, "-m", "venv", VENV])
        sh([VENV / "bin" / "pip", "install", "-q", *PIP_PINS])


def write_bodies(scratch: Path) -> dict:
    """The request bodies: the first row of data/test.csv, and 100 rows (its 51, cycled)."""
    lines = (ROOT / "data" / "test.csv").read_text().splitlines()
    rows = [[float(v) for v in line.split(",")[:13]] for line in lines[1:]]
    bodies = {}
    for n in (1, 100):
        data = [v for i in range(n) for v in rows[i % len(rows)]]
        body = {"inputs": [{"name": "input-0", "shape": [n, 13], "datatype": "FP64", "data": data}]}
        path = scratch / f"infer-{n}.json"
        path.write_text(json.dumps(body))
        bodies[n] = path
    return bodies


def make_mlserver_repository(scratch: Path, model: str) -> Path:
    """An MLServer model repository holding `model` as a joblib-dumped scikit-learn estimator."""
    repo_dir = scratch / f"mlserver-{model}"
    model_dir = repo_dir / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    joblib_path = model_dir / "model.joblib"
    python = VENV / "bin" / "python"
    if model == "linear":
        weights = scratch / "weights.json"
        inspect = subprocess.run(
            [OURS_BIN, "inspect", "--model", ROOT / MODELS[model]["ours"], "--json"],
            check=True, capture_output=True, text=True, cwd=ROOT,
        )
        weights.write_text(inspect.stdout)
        sh([python, ROOT / "benches" / "reference" / "make_sklearn_model.py",
            "--weights", weights, "--output", joblib_path])
    else:
        sh([python, ROOT / "benches" / "reference" / "make_sklearn_gbr.py", "--output", joblib_path])
    # Both makers record the feature names; the tensor has none, and scikit-learn would warn
    # on every request.
    sh([python, "-c",
        "import joblib, sys; m = joblib.load(sys.argv[1]); del m.feature_names_in_; joblib.dump(m, sys.argv[1])",
        joblib_path])
    (model_dir / "model-settings.json").write_text(json.dumps({
        "name": "model",
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib"},
    }))
    (repo_dir / "settings.json").write_text(json.dumps({
        "debug": False,
        "parallel_workers": 1,
        "http_port": MLSERVER_PORT,
        "grpc_port": MLSERVER_PORT + 1,
        "metrics_port": MLSERVER_PORT + 2,
    }))
    return repo_dir


class Server:
    """A server process, its port, and the peak resident memory of its process tree."""

    def __init__(self, name: str, cmd: list, port: int, log: Path, ready_path: str):
        self.name, self.port, self.peak_rss = name, port, 0
        self.log = open(log, "wb")
        self.proc = subprocess.Popen([str(c) for c in cmd], cwd=ROOT, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{name} exited with {self.proc.returncode}; see {log}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{ready_path}", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise BenchError(f"{name} was not ready within 120 s; see {log}")

    def pids(self) -> list[int]:
        """The process and its descendants."""
        found, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            try:
                for task in Path(f"/proc/{pid}/task").iterdir():
                    children = (task / "children").read_text().split()
                    todo.extend(int(c) for c in children)
            except OSError:
                pass
        return found

    def rss_kib(self) -> int:
        total = 0
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                pass
        return total

    def cpu_seconds(self) -> float:
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
            except OSError:
                pass
        return total / tick

    def run_queue_wait(self) -> float:
        """Seconds the tree's threads have spent ready to run but waiting for a CPU."""
        total = 0
        for pid in self.pids():
            try:
                for task in Path(f"/proc/{pid}/task").iterdir():
                    total += int((task / "schedstat").read_text().split()[1])
            except OSError:
                pass
        return total / 1e9

    def infer(self, body: bytes) -> dict:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/v2/models/model/infer", data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as r:
            return json.loads(r.read())

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def start_ours(args, model: str, scratch: Path) -> Server:
    cmd = ["taskset", "-c", args.server_cpus, OURS_BIN, "serve", "--model", MODELS[model]["ours"],
           "--host", "127.0.0.1", "--port", OURS_PORT, "--watch-seconds", "0", "--quiet"]
    return Server("ours", cmd, OURS_PORT, scratch / f"ours-{model}.log", "/v2/models/model/ready")


def start_mlserver(args, repo_dir: Path, scratch: Path) -> Server:
    cmd = ["taskset", "-c", args.server_cpus, VENV / "bin" / "mlserver", "start", repo_dir]
    return Server("mlserver", cmd, MLSERVER_PORT, scratch / f"{repo_dir.name}.log", "/v2/models/model/ready")


def cross_check(model: str, servers: dict, body_path: Path) -> str:
    """Both servers' predictions for the same 100 rows agree within the model's tolerance."""
    body = body_path.read_bytes()
    ours = servers["ours"].infer(body)["outputs"]
    theirs = servers["mlserver"].infer(body)["outputs"]
    a = next(o for o in ours if o["name"] == "prediction")["data"]
    b = next(o for o in theirs if o["name"] == "predict")["data"]
    tolerance = MODELS[model]["tolerance"]
    if len(a) != 100 or len(b) != 100:
        raise BenchError(f"{model}: {len(a)} and {len(b)} predictions for 100 rows")
    worst = max(abs(x - y) / max(abs(x), abs(y), 1.0) for x, y in zip(a, b))
    if worst > tolerance:
        raise BenchError(f"{model}: the servers disagree by {worst:.3g} relative (over {tolerance:g})")
    return f"{model}: 100 predictions agree, largest relative difference {worst:.2g} (bound {tolerance:g})"


def load(args, port: int, body: Path, rate: int | None) -> dict:
    """One run of the load generator against `port`: its JSON figures."""
    cmd = ["taskset", "-c", args.loadgen_cpus, args.load, "--body", body,
           "--url", f"http://127.0.0.1:{port}/v2/models/model/infer"]
    if rate:
        cmd += ["--rate", str(rate), "--connections", "16", "--seconds", str(args.rate_seconds)]
    else:
        cmd += ["--connections", str(args.connections), "--seconds", str(args.seconds)]
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchError(f"`{shell_text(cmd)}` failed: {done.stderr[:500]}")
    return json.loads(done.stdout)


def one_run(args, server: Server, body: Path, rate: int | None) -> dict:
    """Runs the load generator against `server` while sampling its memory; the figures of the run."""
    sampling, peak = True, [0]

    def sample():
        while sampling:
            peak[0] = max(peak[0], server.rss_kib())
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    cpu_before, wait_before = server.cpu_seconds(), server.run_queue_wait()
    sampler.start()
    try:
        report = load(args, server.port, body, rate)
    finally:
        sampling = False
        sampler.join()
    cpu = server.cpu_seconds() - cpu_before
    wait = server.run_queue_wait() - wait_before
    server.peak_rss = max(server.peak_rss, peak[0])
    if report["ok"] == 0:
        raise BenchError(f"{server.name}: no request answered 200 ({report['failed']} failed)")
    return {
        "rps": report["rps"],
        "p50": report["p50"],
        "p99": report["p99"],
        "p99_due": report["p99_due"] if report["p99_due"] is not None else float("nan"),
        "ok": report["ok"],
        "failed": report["failed"],
        "cpu_per_1k": cpu / report["ok"] * 1000,
        "wait_ms": wait / report["ok"] * 1000,
    }


def measure(args, servers: dict, bodies: dict) -> dict:
    """Rounds of every scenario, the servers alternating; every run's figures."""
    scenarios = [("sat-1", bodies[1], None), ("sat-100", bodies[100], None), ("rate-1", bodies[1], RATE)]
    names = list(servers)
    runs = {(s, n): [] for s, _, _ in scenarios for n in names}
    for r in range(args.rounds):
        order = names[r % 2:] + names[: r % 2]
        for scenario, body, rate in scenarios:
            for name in order:
                figures = one_run(args, servers[name], body, rate)
                runs[(scenario, name)].append(figures)
                print(f"round {r + 1} {scenario:8} {name:9} {figures['rps']:10.0f} rps  "
                      f"p50 {figures['p50'] * 1e3:8.3f} ms  p99 {figures['p99'] * 1e3:8.3f} ms  "
                      f"{figures['cpu_per_1k']:.3f} CPU s/1k  wait {figures['wait_ms']:.3f} ms/req  failed {figures['failed']}", flush=True)
    return runs


def median(runs: list, key: str) -> float:
    return statistics.median(run[key] for run in runs)


def render(args, results, rss, agreements, load_before, load_after) -> str:
    lines = [
        "## Serving: batch_inference serve against MLServer (Open Inference Protocol)",
        "",
        f"`{shell_text(['python3', 'benches/serve.py', *sys.argv[1:]])}`; {machine()}; "
        f"{versions()}. Load average before {load_before[0]:.2f}, after {load_after[0]:.2f} "
        "(a shared machine: other builds ran alongside). Each server pinned to CPU "
        f"{args.server_cpus}, the load generator to CPU {args.loadgen_cpus}; medians of {args.rounds} rounds, "
        f"servers alternating; saturation: {args.connections} connections for {args.seconds} s; "
        f"fixed rate: {RATE} requests/s for {args.rate_seconds} s on 16 connections. "
        "RSS is the peak over every run of the process tree; CPU s/1k is server CPU seconds "
        "per 1,000 answered requests; run-queue wait is the time the server's threads were ready "
        "but waiting for the CPU (/proc/PID/task/*/schedstat), per request.",
        "",
        "| model | measure | ours | MLServer | ours / MLServer |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for model, runs in results.items():
        def row(measure, scenario, key, scale, fmt, better_high):
            a = median(runs[(scenario, "ours")], key) * scale
            b = median(runs[(scenario, "mlserver")], key) * scale
            ratio = (a / b) if better_high else (b / a if a else float("inf"))
            lines.append(f"| {model} | {measure} | {fmt.format(a)} | {fmt.format(b)} | {ratio:.1f}x |")

        row("requests/s, 1 row, saturated", "sat-1", "rps", 1, "{:,.0f}", True)
        row("requests/s, 100 rows, saturated", "sat-100", "rps", 1, "{:,.0f}", True)
        row(f"p50 ms at {RATE} rps, 1 row", "rate-1", "p50", 1e3, "{:.3f}", False)
        row(f"p99 ms at {RATE} rps, 1 row", "rate-1", "p99", 1e3, "{:.3f}", False)
        row(f"p99 ms from the due time at {RATE} rps", "rate-1", "p99_due", 1e3, "{:.3f}", False)
        row("requests/s reached at the fixed rate", "rate-1", "rps", 1, "{:,.0f}", True)
        row(f"run-queue wait ms per request at {RATE} rps", "rate-1", "wait_ms", 1, "{:.3f}", False)
        row("CPU s/1k requests, 1 row, saturated", "sat-1", "cpu_per_1k", 1, "{:.3f}", False)
        row("CPU s/1k requests, 100 rows, saturated", "sat-100", "cpu_per_1k", 1, "{:.3f}", False)
        ours_rss, their_rss = rss[model]["ours"] / 1024, rss[model]["mlserver"] / 1024
        lines.append(f"| {model} | peak RSS MiB under load | {ours_rss:.1f} | {their_rss:.1f} | "
                     f"{their_rss / ours_rss:.1f}x less |")
    failed = {k: sum(r["failed"] for r in v) for m in results.values() for k, v in m.items()}
    lines += ["", *agreements, "",
              "Failed requests: " + ", ".join(f"{s} {n} {c}" for (s, n), c in failed.items()), ""]
    lines += [f"Goals (issue 18): {GOALS}."]
    for model, runs in results.items():
        for scenario, label in (("sat-1", "1-row"), ("sat-100", "100-row")):
            ratio = median(runs[(scenario, "ours")], "rps") / median(runs[(scenario, "mlserver")], "rps")
            lines.append(f"- {model}: {label} throughput {ratio:.1f}x MLServer's: {verdict(ratio >= 20)}")
        p99 = median(runs[("rate-1", "ours")], "p99") * 1e3
        lines.append(f"- {model}: p99 at {RATE} rps {p99:.3f} ms: {verdict(p99 < 1)}")
        mib = rss[model]["ours"] / 1024
        lines.append(f"- {model}: peak RSS under load {mib:.1f} MiB: {verdict(mib < 32)}")
    return "\n".join(lines) + "\n"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown CPU")
    return f"{os.cpu_count()} x {cpu}, Linux {platform.release()}"


def versions() -> str:
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.split()
    pip = subprocess.run([VENV / "bin" / "pip", "list", "--format", "json"], capture_output=True, text=True)
    wanted = {"mlserver", "mlserver-sklearn", "scikit-learn", "numpy", "uvicorn"}
    found = [f"{p['name']} {p['version']}" for p in json.loads(pip.stdout or "[]") if p["name"].lower() in wanted]
    return f"rustc {rustc[1] if len(rustc) > 1 else '?'}, Python {platform.python_version()}, " + ", ".join(sorted(found))


def shell_text(cmd: list) -> str:
    return " ".join(shlex.quote(str(c)) for c in cmd)


def sh(cmd: list) -> None:
    if subprocess.run([str(c) for c in cmd], check=False, cwd=ROOT).returncode != 0:
        raise BenchError(f"`{shell_text(cmd)}` failed")


if __name__ == "__main__":
    sys.exit(main())
