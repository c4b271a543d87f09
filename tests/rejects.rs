//! `--on-error skip`: bad rows are set aside with their line and reason, the rest is scored,
//! and the exit code (6) says rows were rejected; `--max-errors` bounds how many.

use crate::util::{with_cell, Workdir};

/// data/test.csv with row 2 (line 3) and row 4 (line 5) broken in two ways.
fn with_bad_rows(wd: &Workdir) -> Vec<String> {
    let mut lines = with_cell(&wd.read("data/test.csv"), 2, 2, "abc");
    lines[4] = "1,2,3".to_string();
    wd.create("bad.csv", lines.join("\n") + "\n");
    lines
}

#[test]
fn skipped_rows_go_to_the_rejects_file_and_the_rest_is_scored() {
    let wd = Workdir::new("rejects_file");
    let all = wd.ok(&["--quiet"]).stdout();
    let lines = with_bad_rows(&wd);
    let run = wd.fails(
        &[
            "--data",
            "bad.csv",
            "--on-error",
            "skip",
            "--rejects",
            "rejects.csv",
            "--output",
            "p.csv",
        ],
        6,
    );
    assert!(
        run.stderr()
            .contains("batch_inference: warning: 2 rows rejected, recorded in rejects.csv"),
        "{}",
        run.stderr()
    );
    // The predictions are those of the clean file, less the two rejected rows.
    let expected: Vec<&str> = all
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != 2 && *i != 4)
        .map(|(_, l)| l)
        .collect();
    assert_eq!(wd.read("p.csv"), expected.join("\n") + "\n");
    assert_eq!(
        wd.read("rejects.csv"),
        format!(
            "line,reason,record\n3,\"column INDUS: expected a number, found \"\"abc\"\"\",\"{}\"\n5,\"expected 14 fields as in the header, found 3\",\"1,2,3\"\n",
            lines[2]
        )
    );
}

#[test]
fn rejects_are_the_same_bytes_for_any_thread_count() {
    let wd = Workdir::new("rejects_threads");
    with_bad_rows(&wd);
    for threads in ["1", "2", "5"] {
        let out = format!("p{threads}.csv");
        let rejects = format!("r{threads}.csv");
        wd.fails(
            &[
                "--data",
                "bad.csv",
                "--on-error",
                "skip",
                "--rejects",
                &rejects,
                "--output",
                &out,
                "--threads",
                threads,
                "--batch-rows",
                "3",
            ],
            6,
        );
    }
    assert_eq!(wd.read("p1.csv"), wd.read("p2.csv"));
    assert_eq!(wd.read("p1.csv"), wd.read("p5.csv"));
    assert_eq!(wd.read("r1.csv"), wd.read("r2.csv"));
    assert_eq!(wd.read("r1.csv"), wd.read("r5.csv"));
}

#[test]
fn without_a_rejects_file_each_reject_is_a_warning() {
    let wd = Workdir::new("rejects_warnings");
    with_bad_rows(&wd);
    let run = wd.fails(&["--data", "bad.csv", "--on-error", "skip"], 6);
    let stderr = run.stderr();
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("batch_inference: warning: "))
        .collect();
    assert_eq!(
        warnings,
        [
            "batch_inference: warning: rejected bad.csv:3:3: column INDUS: expected a number, found \"abc\"",
            "batch_inference: warning: rejected bad.csv:5: expected 14 fields as in the header, found 3",
            "batch_inference: warning: 2 rows rejected",
        ],
        "{stderr}"
    );
    assert_eq!(run.stdout().lines().count(), 50);
}

#[test]
fn more_rejects_than_the_budget_fail_the_run_and_leave_nothing() {
    let wd = Workdir::new("rejects_budget");
    with_bad_rows(&wd);
    let run = wd.fails(
        &[
            "--data",
            "bad.csv",
            "--on-error",
            "skip",
            "--max-errors",
            "1",
            "--rejects",
            "r.csv",
            "--output",
            "p.csv",
        ],
        3,
    );
    assert_eq!(
        run.error(),
        "bad.csv: more than 1 rows rejected (--max-errors 1); the last: bad.csv:5: expected 14 fields as in the header, found 3"
    );
    assert!(!wd.path("p.csv").exists() && !wd.path("r.csv").exists());
    wd.ok(&[
        "--data",
        "data/test.csv",
        "--on-error",
        "skip",
        "--max-errors",
        "0",
        "--quiet",
    ]);
}

#[test]
fn reject_options_need_skip() {
    let wd = Workdir::new("rejects_usage");
    assert_eq!(
        wd.fails(&["--rejects", "r.csv"], 2).error(),
        "--rejects and --max-errors apply only with --on-error skip"
    );
}
