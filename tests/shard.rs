//! Sharded scoring: the parts of N shards, concatenated in index order, are the single run's
//! output byte for byte, whatever the quotes and line ends; reruns skip finished parts.

use crate::util::{with_cells, Workdir};

/// Variants of data/test.csv that shards must cut right: CRLF, no final newline, empty lines.
fn variants(test_csv: &str) -> Vec<(&'static str, String)> {
    let lines: Vec<&str> = test_csv.lines().collect();
    let lf = lines.join("\n") + "\n";
    let crlf = lines.join("\r\n") + "\r\n";
    let no_final_newline = lines.join("\n");
    let mut gappy = String::new();
    for (i, line) in lines.iter().enumerate() {
        gappy += line;
        gappy += if i % 7 == 3 { "\n\n\r\n" } else { "\n" };
    }
    let cr = lines.join("\r") + "\r";
    vec![
        ("lf.csv", lf),
        ("crlf.csv", crlf),
        ("nofinal.csv", no_final_newline),
        ("gappy.csv", gappy),
        ("cr.csv", cr),
        ("quoted.csv", with_notes(&lines, "\n")),
        ("quoted-crlf.csv", with_notes(&lines, "\r\n")),
    ]
}

/// `lines` with a first column of notes: plain, quoted with a line break (`eol`) and escaped
/// quotes inside, or with a quote inside an unquoted field (`5" pipe`).
fn with_notes(lines: &[&str], eol: &str) -> String {
    let mut text = String::new();
    for (i, line) in lines.iter().enumerate() {
        let note = match i % 4 {
            _ if i == 0 => "note",
            0 => "plain",
            1 => &format!("\"two{eol}lines, \"\"quoted\"\"\""),
            2 => "5\" pipe",
            _ => "\"\"",
        };
        text += &format!("{note},{line}{eol}");
    }
    text
}

#[test]
fn concatenated_shards_equal_the_single_run_for_1_to_16_shards_and_more_shards_than_rows() {
    let wd = Workdir::new("shards_concat");
    for (name, text) in variants(&wd.read("data/test.csv")) {
        wd.create(name, &text);
        let single = wd.ok(&["--data", name, "--quiet"]).output.stdout;
        for count in (1..=16).chain([60]) {
            let dir = format!("out-{name}-{count}");
            wd.mkdir(&dir);
            let template = format!("{dir}/part-{{index:05}}.csv");
            for index in 0..count {
                let (i, n) = (index.to_string(), count.to_string());
                wd.ok(&[
                    "--data",
                    name,
                    "--shard-index",
                    &i,
                    "--shard-count",
                    &n,
                    "--output",
                    &template,
                    "--quiet",
                ]);
            }
            let parts = wd.list(&dir);
            assert_eq!(parts.len(), count);
            let joined: Vec<u8> = parts
                .iter()
                .flat_map(|p| std::fs::read(wd.path(&format!("{dir}/{p}"))).unwrap())
                .collect();
            assert_eq!(joined, single, "{name} in {count} shards");
        }
    }
}

#[test]
fn an_indexed_job_sets_the_index_and_the_count_by_environment() {
    let wd = Workdir::new("shards_env");
    let single = wd.ok(&["--quiet"]).output.stdout;
    wd.mkdir("out");
    for index in 0..3 {
        let mut cmd = wd.command(&["--output", "out/part-{index}.csv", "--quiet"]);
        cmd.env("JOB_COMPLETION_INDEX", index.to_string())
            .env("SHARD_COUNT", "3");
        wd.output(&mut cmd).assert_code(0);
    }
    let joined: Vec<u8> = (0..3)
        .flat_map(|i| std::fs::read(wd.path(&format!("out/part-{i}.csv"))).unwrap())
        .collect();
    assert_eq!(joined, single);
}

#[test]
fn a_rerun_skips_a_finished_part_unless_told_to_overwrite() {
    let wd = Workdir::new("shards_rerun");
    wd.mkdir("out");
    let args = [
        "--shard-index",
        "1",
        "--shard-count",
        "2",
        "--output",
        "out/p-{index}.csv",
    ];
    wd.ok(&args);
    let part = wd.read("out/p-1.csv");
    wd.create("out/p-1.csv", "kept\n");
    let run = wd.ok(&args);
    assert!(
        run.stderr().contains("Shard 1 of 2: out/p-1.csv exists and outputs appear only whole, so it is done; skipping (--overwrite redoes it)"),
        "{}",
        run.stderr()
    );
    assert_eq!(wd.read("out/p-1.csv"), "kept\n");
    let mut again = args.to_vec();
    again.push("--overwrite");
    wd.ok(&again);
    assert_eq!(
        wd.read("out/p-1.csv"),
        part,
        "--overwrite writes the part anew"
    );
    assert!(
        !part.is_empty() && !part.starts_with("prediction"),
        "only shard 0 writes the header"
    );
}

/// The error of the last of four shards of data/test.csv with field `field` of line 46 (which
/// lies in that shard, which never reads the lines before it) set to `value`.
fn error_in_the_last_shard(name: &str, field: usize, value: &str) -> String {
    let wd = Workdir::new(name);
    wd.create_lines(
        "bad.csv",
        &with_cells(&wd.read("data/test.csv"), &[(45, field, value)]),
    );
    let args = [
        "--data",
        "bad.csv",
        "--shard-index",
        "3",
        "--shard-count",
        "4",
    ];
    wd.fails(&args, 3).error()
}

#[test]
fn a_bad_value_in_a_later_shard_is_reported_at_its_line_in_the_file() {
    assert_eq!(
        error_in_the_last_shard("shards_error_line", 1, "oops"),
        "bad.csv:46:2: column ZN: expected a number, found \"oops\""
    );
}

#[test]
fn an_overflow_in_a_later_shard_is_reported_at_its_line_in_the_file() {
    // NOX's weight is about -17: NOX = 1e308 takes the prediction beyond f64.
    assert_eq!(
        error_in_the_last_shard("shards_overflow", 4, "1e308"),
        "bad.csv:46: the prediction is beyond the range of f64; are the values in the right units?"
    );
}

#[test]
fn one_shard_reads_a_quote_inside_an_unquoted_field_as_the_unsharded_run_does() {
    let wd = Workdir::new("shards_stray_quote");
    let lines: Vec<String> = wd.read("data/test.csv").lines().map(String::from).collect();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    wd.create("notes.csv", with_notes(&lines, "\n"));
    let single = wd.ok(&["--data", "notes.csv", "--quiet"]).stdout();
    assert_eq!(single.lines().count(), 52);
    let args = [
        "--data",
        "notes.csv",
        "--shard-count",
        "1",
        "--shard-index",
        "0",
        "--quiet",
    ];
    assert_eq!(wd.ok(&args).stdout(), single);
}

#[test]
fn lines_ended_by_carriage_returns_alone_are_numbered_exactly() {
    let wd = Workdir::new("cr_line_numbers");
    let lines = with_cells(&wd.read("data/test.csv"), &[(45, 1, "oops")]);
    wd.create("bad.csv", lines.join("\r") + "\r");
    let message = "bad.csv:46:2: column ZN: expected a number, found \"oops\"";
    assert_eq!(wd.fails(&["--data", "bad.csv"], 3).error(), message);
    let shard = [
        "--data",
        "bad.csv",
        "--shard-index",
        "3",
        "--shard-count",
        "4",
    ];
    assert_eq!(wd.fails(&shard, 3).error(), message);
    // And with a quoted field in the file, which the csv-core reader reads.
    let mut quoted = lines.clone();
    quoted[10] = quoted[10].replacen("0", "\"0\"", 1);
    wd.create("bad.csv", quoted.join("\r") + "\r");
    assert_eq!(wd.fails(&["--data", "bad.csv"], 3).error(), message);
    assert_eq!(wd.fails(&shard, 3).error(), message);
}

#[test]
fn sharding_options_are_checked() {
    let wd = Workdir::new("shards_usage");
    let cases: [(&[&str], &str); 5] = [
        (&["--shard-index", "1"], "--shard-index needs --shard-count (or SHARD_COUNT) to say how many shards there are"),
        (&["--shard-index", "4", "--shard-count", "4"], "--shard-index 4 is out of range for --shard-count 4 (indexes run from 0 to 3)"),
        (&["--shard-count", "2", "--shard-index", "0", "--data", "-"], "sharding cuts a file by byte ranges: --data must be a file, not standard input"),
        (&["--shard-count", "2", "--shard-index", "0", "--output", "p.csv"], "--output p.csv would be written by every shard: put {index} in it, such as out/part-{index:05}.csv"),
        (&["--shard-count", "2", "--shard-index", "0", "--output", "p-{index}.csv", "--on-error", "skip", "--rejects", "r.csv"], "--rejects r.csv would be written by every shard: put {index} in it, such as out/rejects-{index:05}.csv"),
    ];
    for (args, message) in cases {
        assert_eq!(wd.fails(args, 2).error(), message);
    }
    assert_eq!(
        wd.fails(&["--shard-count", "2"], 2).error(),
        "--shard-count 2 needs --shard-index (or JOB_COMPLETION_INDEX, as an Indexed Job sets it)"
    );
}

#[test]
fn an_indexed_job_without_a_shard_count_is_refused_and_writes_nothing() {
    let wd = Workdir::new("shards_misconfigured");
    let out = "out/part-{index:05}.csv";
    wd.mkdir("out");
    for args in [&["--output", out][..], &[]] {
        let run = wd.output(wd.command(args).env("JOB_COMPLETION_INDEX", "2"));
        run.assert_code(2);
        assert_eq!(
            run.error(),
            "JOB_COMPLETION_INDEX is \"2\" but SHARD_COUNT is not set: an Indexed Job's pods must \
             be told how many shards there are (set SHARD_COUNT or --shard-count to the Job's \
             completions)"
        );
    }
    for (flag, path) in [("--output", out), ("--rejects", "rejects-{index}.csv")] {
        let mut args = vec![flag, path];
        if flag == "--rejects" {
            args.extend(["--on-error", "skip", "--output", "p.csv"]);
        }
        assert_eq!(
            wd.fails(&args, 2).error(),
            format!(
                "{flag} {path} has {{index}} but the run is not sharded: set --shard-count (or \
                 SHARD_COUNT) as the Indexed Job's completions"
            )
        );
    }
    assert!(wd.list("out").is_empty(), "{:?}", wd.list("out"));
    assert!(!wd.path("p.csv").exists());
}
