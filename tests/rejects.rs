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

/// data/test.csv with an `id` column first (`r1`, `r2`, … for its rows) as raw lines, and
/// the id on file line `n` (the header is line 1) replaced by bytes where `bad_ids` has `(n, id)`.
fn with_ids(wd: &Workdir, bad_ids: &[(usize, &[u8])]) -> Vec<Vec<u8>> {
    let text = wd.read("data/test.csv");
    let mut lines: Vec<Vec<u8>> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let id = match i {
            0 => b"id".to_vec(),
            _ => bad_ids
                .iter()
                .find(|(line, _)| *line == i + 1)
                .map_or_else(|| format!("r{i}").into_bytes(), |(_, id)| id.to_vec()),
        };
        lines.push([&id[..], b",", line.as_bytes()].concat());
    }
    lines
}

/// Writes `lines`, each ended by `\n`, to `rel`.
fn create_raw_lines(wd: &Workdir, rel: &str, lines: &[Vec<u8>]) {
    let mut bytes = Vec::new();
    for line in lines {
        bytes.extend_from_slice(line);
        bytes.push(b'\n');
    }
    wd.create(rel, bytes);
}

const NOT_UTF8: &str = "column id: not valid UTF-8, which JSON Lines output cannot carry; use \
                        --format csv";

#[test]
fn an_id_that_is_not_utf8_fails_json_lines_output_with_its_line() {
    let wd = Workdir::new("jsonl_id_not_utf8");
    create_raw_lines(&wd, "bad.csv", &with_ids(&wd, &[(3, b"r\xff3")]));
    let jsonl = [
        "--data",
        "bad.csv",
        "--id-column",
        "id",
        "--format",
        "jsonl",
    ];
    for (threads, batch_rows) in [("1", "1"), ("3", "2"), ("2", "4096")] {
        let mut args = jsonl.to_vec();
        args.extend(["--threads", threads, "--batch-rows", batch_rows]);
        args.extend(["--output", "p.jsonl"]);
        let run = wd.fails(&args, 3);
        assert_eq!(run.error(), format!("bad.csv:3:1: {NOT_UTF8}"));
        assert!(!wd.path("p.jsonl").exists());
    }
    // A Latin-1 `café` and a lone UTF-8 lead byte, on the last line.
    for id in [&b"caf\xe9"[..], b"\xc3"] {
        create_raw_lines(&wd, "bad.csv", &with_ids(&wd, &[(52, id)]));
        assert_eq!(
            wd.fails(&jsonl, 3).error(),
            format!("bad.csv:52:1: {NOT_UTF8}")
        );
    }
}

#[test]
fn csv_output_keeps_an_id_that_is_not_utf8_as_its_bytes() {
    let wd = Workdir::new("csv_id_not_utf8");
    create_raw_lines(&wd, "bad.csv", &with_ids(&wd, &[(3, b"r\xff3")]));
    let run = wd.ok(&["--data", "bad.csv", "--id-column", "id", "-q"]);
    let lines: Vec<&[u8]> = run.output.stdout.split(|&b| b == b'\n').collect();
    assert_eq!(lines[0], b"id,prediction");
    // File line 3 is output line 3 (from 1), under the header.
    assert!(lines[2].starts_with(b"r\xff3,"), "{:?}", lines[2]);
    assert_eq!(lines.len(), 53);
}

#[test]
fn an_id_that_is_utf8_but_not_ascii_is_written_to_json_lines() {
    let wd = Workdir::new("jsonl_id_utf8");
    create_raw_lines(
        &wd,
        "ids.csv",
        &with_ids(&wd, &[(2, "café \"1\"".as_bytes())]),
    );
    let run = wd.ok(&[
        "--data",
        "ids.csv",
        "--id-column",
        "id",
        "--format",
        "jsonl",
        "-q",
    ]);
    let first = run.stdout().lines().next().unwrap().to_string();
    assert!(
        first.starts_with("{\"id\":\"café \\\"1\\\"\",\"prediction\":"),
        "{first}"
    );
}

#[test]
fn under_skip_an_id_that_is_not_utf8_is_rejected_in_line_order_with_the_others() {
    let wd = Workdir::new("jsonl_id_not_utf8_skip");
    let good = with_ids(&wd, &[]);
    create_raw_lines(&wd, "good.csv", &good);
    let all = wd
        .ok(&[
            "--data",
            "good.csv",
            "--id-column",
            "id",
            "--format",
            "jsonl",
            "-q",
        ])
        .stdout();
    // Line 3: an id that is not UTF-8; line 4: a bad cell; line 6: an id that is not UTF-8
    // and a prediction beyond f64 (the overflow is named); line 8: an overflow alone.
    let mut lines = with_ids(&wd, &[(3, b"r\xff3"), (6, b"\xfe")]);
    let cell = |line: &mut Vec<u8>, field: usize, value: &str| {
        let mut fields: Vec<Vec<u8>> = line.split(|&b| b == b',').map(<[u8]>::to_vec).collect();
        fields[field] = value.as_bytes().to_vec();
        *line = fields.join(&b","[..]);
    };
    cell(&mut lines[3], 3, "abc");
    cell(&mut lines[5], 5, "1e308");
    cell(&mut lines[7], 5, "-1e308");
    create_raw_lines(&wd, "bad.csv", &lines);
    let overflow = "the prediction is beyond the range of f64; are the values in the right units?";
    let mut expected = b"line,reason,record\n".to_vec();
    for (line, reason) in [
        (3, NOT_UTF8.to_string()),
        (
            4,
            "\"column INDUS: expected a number, found \"\"abc\"\"\"".to_string(),
        ),
        (6, overflow.to_string()),
        (8, overflow.to_string()),
    ] {
        let reason = if reason.contains(',') && !reason.starts_with('"') {
            format!("\"{reason}\"")
        } else {
            reason
        };
        expected.extend(format!("{line},{reason},\"").into_bytes());
        expected.extend(&lines[line - 1]);
        expected.extend(b"\"\n");
    }
    // JSON Lines has no header: file line n is output line n - 2 (from 0).
    let kept = without_lines(&all, &[1, 2, 4, 6]);
    for (threads, batch_rows) in [("1", "1"), ("2", "2"), ("3", "3"), ("4", "4096")] {
        let args = [
            "--data",
            "bad.csv",
            "--id-column",
            "id",
            "--format",
            "jsonl",
            "--on-error",
            "skip",
            "--rejects",
            "rejects.csv",
            "--output",
            "p.jsonl",
            "--threads",
            threads,
            "--batch-rows",
            batch_rows,
        ];
        wd.fails(&args, 6);
        assert_eq!(wd.read("p.jsonl"), kept, "{threads} {batch_rows}");
        let rejects = std::fs::read(wd.path("rejects.csv")).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&rejects),
            String::from_utf8_lossy(&expected),
            "{threads} {batch_rows}"
        );
        assert_eq!(rejects, expected);
    }
    // Without a rejects file, the warning names the line and the column.
    let run = wd.fails(
        &[
            "--data",
            "bad.csv",
            "--id-column",
            "id",
            "--format",
            "jsonl",
            "--on-error",
            "skip",
        ],
        6,
    );
    assert!(
        run.stderr().contains(&format!(
            "batch_inference: warning: rejected bad.csv:3:1: {NOT_UTF8}\n"
        )),
        "{}",
        run.stderr()
    );
}
