//! Faults from outside: SIGTERM, SIGINT, SIGHUP and SIGQUIT mid-run, a full disk, a reader that goes away.
//! Each run ends with its documented exit code and message, and leaves no output file.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{is_root, repeated_rows, repo, Workdir};

/// The header of data/test.csv and its first rows.
fn head_of_test_csv(rows: usize) -> String {
    let text = std::fs::read_to_string(repo().join("data/test.csv")).unwrap();
    text.lines()
        .take(rows + 1)
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Starts the binary with `args`, feeds standard input `input` and keeps it open, so the run
/// is surely in progress (waiting for more input), and waits until it has logged `ready`.
fn start_waiting_for_input(wd: &Workdir, args: &[&str], input: &str, ready: &str) -> Child {
    let mut child = wd
        .command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    // Read on a thread with a deadline: a run that never logs `ready` fails the test rather
    // than hanging it.
    let stderr = child.stderr.take().unwrap();
    let ready_owned = ready.to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut stderr = BufReader::new(stderr);
        let mut line = String::new();
        while !line.starts_with(&ready_owned) {
            line.clear();
            if stderr.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
        }
        let _ = tx.send(stderr.into_inner());
    });
    let Ok(stderr) = rx.recv_timeout(Duration::from_secs(20)) else {
        let _ = child.kill();
        panic!("no {ready:?} line within 20 s");
    };
    // Keeps the rest of standard error for the caller to read.
    child.stderr = Some(stderr);
    child
}

/// Sends `signal` to `child` and returns its exit code, standard error, and how long it took
/// to exit.
fn stop(mut child: Child, signal: &str) -> (Option<i32>, String, Duration) {
    let sent = Instant::now();
    let status = Command::new("kill")
        .args(["-s", signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -s {signal} failed");
    // Standard input stays open until the end: the run must stop by the signal, not by EOF.
    let stdin = child.stdin.take();
    let status = child.wait().unwrap();
    let took = sent.elapsed();
    drop(stdin);
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status.code(), stderr, took)
}

fn signal_mid_score(name: &str, signal: &str, threads: &str) -> (Option<i32>, String) {
    let wd = Workdir::new(name);
    wd.mkdir("out");
    let args = ["--data", "-", "--output", "out/p.csv", "--threads", threads];
    let child = start_waiting_for_input(&wd, &args, &head_of_test_csv(10), "Scoring");
    let temps = wd.list("out");
    assert!(
        temps.len() == 1 && temps[0].starts_with(".p.csv.") && temps[0].ends_with(".tmp"),
        "the temporary file is being written: {temps:?}"
    );
    let (code, stderr, took) = stop(child, signal);
    assert!(took < Duration::from_secs(1), "took {took:?} to stop");
    assert!(wd.list("out").is_empty(), "left: {:?}", wd.list("out"));
    (code, stderr)
}

#[test]
fn sigterm_mid_run_exits_143_and_leaves_no_file() {
    let (code, stderr) = signal_mid_score("sigterm_score", "TERM", "1");
    assert_eq!(code, Some(143));
    assert_eq!(stderr, "batch_inference: error: stopped by SIGTERM\n");
}

#[test]
fn sigint_mid_run_exits_130_and_leaves_no_file() {
    let (code, stderr) = signal_mid_score("sigint_score", "INT", "4");
    assert_eq!(code, Some(130));
    assert_eq!(stderr, "batch_inference: error: stopped by SIGINT\n");
}

#[test]
fn sighup_mid_run_exits_129_and_leaves_no_file() {
    let (code, stderr) = signal_mid_score("sighup_score", "HUP", "1");
    assert_eq!(code, Some(129));
    assert_eq!(stderr, "batch_inference: error: stopped by SIGHUP\n");
}

#[test]
fn sigquit_mid_run_exits_131_and_leaves_no_file() {
    let (code, stderr) = signal_mid_score("sigquit_score", "QUIT", "4");
    assert_eq!(code, Some(131));
    assert_eq!(stderr, "batch_inference: error: stopped by SIGQUIT\n");
}

#[test]
fn sighup_and_sigquit_mid_run_over_a_large_file_leave_no_file() {
    let wd = Workdir::new("sighup_large");
    wd.create("big.csv", repeated_rows("data/test.csv", 400_000));
    wd.mkdir("out");
    for (signal, code) in [("HUP", 129), ("QUIT", 131)] {
        let args = [
            "--data",
            "big.csv",
            "--output",
            "out/p.csv",
            "--threads",
            "2",
        ];
        let child = wd
            .command(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Waits until the temporary file exists: the run is writing.
        let deadline = Instant::now() + Duration::from_secs(20);
        while wd.list("out").is_empty() {
            assert!(Instant::now() < deadline, "no temporary file within 20 s");
            std::thread::sleep(Duration::from_millis(2));
        }
        let (status, _, _) = stop(child, signal);
        // A run that finished first would exit 0 and leave p.csv: the file must be large enough.
        assert_eq!(status, Some(code), "SIG{signal}");
        assert!(
            wd.list("out").is_empty(),
            "SIG{signal} left: {:?}",
            wd.list("out")
        );
    }
}

#[test]
fn sigterm_stops_training_too() {
    let wd = Workdir::new("sigterm_train");
    wd.mkdir("out");
    let args = [
        "train",
        "--data",
        "-",
        "--target",
        "MEDV",
        "--out",
        "out/m.bin",
    ];
    let child = start_waiting_for_input(&wd, &args, &head_of_test_csv(10), "Loading training");
    let (code, stderr, took) = stop(child, "TERM");
    assert!(took < Duration::from_secs(1), "took {took:?} to stop");
    assert_eq!(code, Some(143));
    assert_eq!(stderr, "batch_inference: error: stopped by SIGTERM\n");
    assert!(wd.list("out").is_empty(), "left: {:?}", wd.list("out"));
}

#[test]
fn a_full_device_as_output_is_an_io_error() {
    let wd = Workdir::new("dev_full");
    // A device cannot be replaced by renaming, so it is written directly.
    let run = wd.fails(&["--output", "/dev/full"], 5);
    assert_eq!(
        run.error(),
        "/dev/full: cannot write: no space left on device"
    );
    let mut cmd = wd.command(&[]);
    cmd.stdout(std::fs::File::create("/dev/full").unwrap());
    let run = wd.output(&mut cmd);
    run.assert_code(5);
    assert_eq!(
        run.error(),
        "<stdout>: cannot write: no space left on device"
    );
}

#[test]
fn standard_output_named_as_a_path_is_written_not_replaced() {
    let wd = Workdir::new("stdout_path");
    let expected = wd.ok(&[]).output.stdout;
    // As `/dev/stdout` is: a link to the open standard output, here a file. Renaming over
    // the link would replace it (and, as root, could replace /dev/stdout itself).
    std::os::unix::fs::symlink("/proc/self/fd/1", wd.path("stdout")).unwrap();
    let mut cmd = wd.command(&["--output", "stdout"]);
    cmd.stdout(std::fs::File::create(wd.path("p.csv")).unwrap());
    wd.output(&mut cmd).assert_code(0);
    assert_eq!(std::fs::read(wd.path("p.csv")).unwrap(), expected);
    let link = std::fs::symlink_metadata(wd.path("stdout")).unwrap();
    assert!(link.file_type().is_symlink(), "the link was replaced");
    assert_eq!(wd.list("."), ["data", "model", "p.csv", "stdout"]);
}

#[test]
fn a_full_file_system_is_an_io_error_and_leaves_no_file() {
    if !is_root() {
        eprintln!("skipped: mounting a 64 KiB tmpfs needs root (CI runs as root)");
        return;
    }
    let wd = Workdir::new("tiny_tmpfs");
    // About 95 KB of predictions, which fail when the file is flushed at the end, and 380 KB,
    // which fail while being written; for a file system of 64 KiB.
    wd.create("5000.csv", repeated_rows("data/test.csv", 5_000));
    wd.create("20000.csv", repeated_rows("data/test.csv", 20_000));
    wd.mkdir("out");
    // A private mount namespace: the tmpfs goes away with the shell, whatever happens.
    let script = r#"
        mount -t tmpfs -o size=64k tmpfs out || exit 99
        for rows in 5000 20000; do
            "$0" --data $rows.csv --output out/p.csv --quiet
            echo "exit $?, left [$(ls -A out)]"
        done
    "#;
    let mut cmd = Command::new("unshare");
    cmd.current_dir(wd.path("."))
        .args(["--mount", "sh", "-c", script])
        .arg(env!("CARGO_BIN_EXE_batch_inference"));
    let run = wd.output(&mut cmd);
    run.assert_code(0);
    assert_eq!(run.stdout(), "exit 5, left []\n".repeat(2));
    assert_eq!(
        run.stderr(),
        "batch_inference: error: out/p.csv: cannot write: no space left on device\n".repeat(2)
    );
}

#[test]
fn a_pipe_into_head_ends_the_run_quietly() {
    let wd = Workdir::new("pipe_head");
    wd.create("big.csv", repeated_rows("data/test.csv", 200_000));
    let script = r#"set -o pipefail; "$0" --data big.csv | head -n 2"#;
    let mut cmd = Command::new("bash");
    cmd.current_dir(wd.path("."))
        .args(["-c", script])
        .arg(env!("CARGO_BIN_EXE_batch_inference"));
    let run = wd.output(&mut cmd);
    run.assert_code(0);
    assert_eq!(run.stdout(), "prediction\n15.645324277500755\n");
    assert!(
        !run.stderr().contains("error") && !run.stderr().contains("panicked"),
        "{}",
        run.stderr()
    );
}
