//! Faults from outside: a full disk, a reader that goes away.
//! Each run ends with its documented exit code and message, and leaves no output file.

use std::process::Command;

use crate::util::{is_root, repo, Workdir};

/// data/test.csv's rows repeated to `rows` rows, under its header.
fn big_csv(rows: usize) -> String {
    let text = std::fs::read_to_string(repo().join("data/test.csv")).unwrap();
    let mut lines = text.lines();
    let mut out = format!("{}\n", lines.next().unwrap());
    for line in lines.cycle().take(rows) {
        out += line;
        out.push('\n');
    }
    out
}

#[test]
fn a_full_device_as_output_is_an_io_error() {
    let wd = Workdir::new("dev_full");
    // A device cannot be replaced by renaming, so it is written directly.
    let run = wd.fails(&["--output", "/dev/full"], 5);
    assert_eq!(
        run.error(),
        "/dev/full: cannot write: No space left on device (os error 28)"
    );
    let mut cmd = wd.command(&[]);
    cmd.stdout(std::fs::File::create("/dev/full").unwrap());
    let run = wd.output(&mut cmd);
    run.assert_code(5);
    assert_eq!(
        run.error(),
        "<stdout>: cannot write: No space left on device (os error 28)"
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
    wd.create("5000.csv", big_csv(5_000));
    wd.create("20000.csv", big_csv(20_000));
    std::fs::create_dir(wd.path("out")).unwrap();
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
        "batch_inference: error: out/p.csv: cannot write: No space left on device (os error 28)\n"
            .repeat(2)
    );
}

#[test]
fn a_pipe_into_head_ends_the_run_quietly() {
    let wd = Workdir::new("pipe_head");
    wd.create("big.csv", big_csv(200_000));
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
