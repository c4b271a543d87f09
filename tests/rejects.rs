//! `--on-error skip`: bad rows are set aside with their line and reason, the rest is scored,
//! and the exit code (6) says rows were rejected; `--max-errors` bounds how many.

use crate::util::{with_cells, Run, Workdir};

/// data/test.csv with row 2 (line 3) and row 4 (line 5) broken in two ways.
fn with_bad_rows(wd: &Workdir) -> Vec<String> {
    let mut lines = with_cells(&wd.read("data/test.csv"), &[(2, 2, "abc")]);
    lines[4] = "1,2,3".to_string();
    wd.create_lines("bad.csv", &lines);
    lines
}

/// Scores bad.csv with `--on-error skip` into p.csv and rejects.csv, plus `extra`: exit 6.
fn skip_into_files(wd: &Workdir, extra: &[&str]) -> Run {
    let mut args = vec![
        "--data",
        "bad.csv",
        "--on-error",
        "skip",
        "--rejects",
        "rejects.csv",
        "--output",
        "p.csv",
    ];
    args.extend(extra);
    wd.fails(&args, 6)
}

/// The output of the clean file `all` without the lines `dropped` (from 0, the header 0).
fn without_lines(all: &str, dropped: &[usize]) -> String {
    let kept: Vec<&str> = all
        .lines()
        .enumerate()
        .filter(|(i, _)| !dropped.contains(i))
        .map(|(_, l)| l)
        .collect();
    kept.join("\n") + "\n"
}

#[test]
fn skipped_rows_go_to_the_rejects_file_and_the_rest_is_scored() {
    let wd = Workdir::new("rejects_file");
    let all = wd.ok(&["--quiet"]).stdout();
    let lines = with_bad_rows(&wd);
    let run = skip_into_files(&wd, &[]);
    assert!(
        run.stderr()
            .contains("batch_inference: warning: 2 rows rejected, recorded in rejects.csv"),
        "{}",
        run.stderr()
    );
    // The predictions are those of the clean file, less the two rejected rows.
    assert_eq!(wd.read("p.csv"), without_lines(&all, &[2, 4]));
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

#[test]
fn rows_whose_prediction_overflows_are_rejected_in_line_order_with_the_others() {
    let wd = Workdir::new("rejects_overflow");
    let all = wd.ok(&["--quiet"]).stdout();
    // Line 3 has a bad cell; lines 4 and 6 a NOX (weight about -17) beyond f64 either way.
    let cells = [(2, 2, "abc"), (3, 4, "1e308"), (5, 4, "-1e308")];
    let lines = with_cells(&wd.read("data/test.csv"), &cells);
    wd.create_lines("bad.csv", &lines);
    let reason = "the prediction is beyond the range of f64; are the values in the right units?";
    let rejects = format!(
        "line,reason,record\n3,\"column INDUS: expected a number, found \"\"abc\"\"\",\"{}\"\n4,{reason},\"{}\"\n6,{reason},\"{}\"\n",
        lines[2], lines[3], lines[5]
    );
    for (threads, batch_rows) in [("1", "1"), ("2", "2"), ("3", "4096")] {
        let args = [
            "--threads",
            threads,
            "--batch-rows",
            batch_rows,
            "--overwrite",
        ];
        skip_into_files(&wd, &args);
        assert_eq!(
            wd.read("p.csv"),
            without_lines(&all, &[2, 3, 5]),
            "{threads} {batch_rows}"
        );
        assert_eq!(wd.read("rejects.csv"), rejects, "{threads} {batch_rows}");
    }
}

#[test]
fn an_overflowing_row_takes_its_id_with_it() {
    let wd = Workdir::new("rejects_overflow_ids");
    let text = wd.read("data/test.csv");
    let mut rows: Vec<String> = text.lines().take(4).map(String::from).collect();
    rows[0] = format!("id,{}", rows[0]);
    for (i, row) in rows.iter_mut().enumerate().skip(1) {
        *row = format!("r{i},{row}");
    }
    wd.create_lines("good.csv", &rows);
    let good = wd
        .ok(&["--data", "good.csv", "--id-column", "id", "--quiet"])
        .stdout();
    wd.create_lines("bad.csv", &with_cells(&rows.join("\n"), &[(2, 5, "1e308")]));
    let run = wd.fails(
        &[
            "--data",
            "bad.csv",
            "--id-column",
            "id",
            "--on-error",
            "skip",
            "--quiet",
        ],
        6,
    );
    let good: Vec<&str> = good.lines().collect();
    assert_eq!(good.len(), 4);
    assert_eq!(
        run.stdout(),
        format!("{}\n{}\n{}\n", good[0], good[1], good[3])
    );
}
