//! Scoring: parity with scikit-learn, byte-identical output, options and environment.

use crate::util::{assert_close, predictions, repeated_rows, repo, Workdir};

fn sklearn_predictions() -> Vec<f64> {
    let text =
        std::fs::read_to_string(repo().join("tests/fixtures/sklearn_ols_predictions.csv")).unwrap();
    predictions(&text)
}

#[test]
fn the_default_run_prints_51_predictions_equal_to_scikit_learns() {
    let wd = Workdir::new("default_run");
    let run = wd.ok(&[]);
    let ours = predictions(&run.stdout());
    assert_eq!(ours.len(), 51);
    assert_close(&ours, &sklearn_predictions(), 1e-9);
}

#[test]
fn logs_go_to_stderr_in_the_classic_order() {
    let wd = Workdir::new("log_order");
    let stderr = wd.ok(&[]).stderr();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines[..4],
        [
            "Running inference...",
            "Loading data...",
            "Loading model from: model/model.bin",
            "Scoring observations..."
        ]
    );
    assert!(
        lines[4].starts_with("Scored 51 rows in ")
            && lines[4].ends_with(" from data/test.csv to <stdout>"),
        "{}",
        lines[4]
    );
    assert_eq!(lines.len(), 5);
}

#[test]
fn score_subcommand_and_default_command_write_the_same_bytes() {
    let wd = Workdir::new("score_subcommand");
    assert_eq!(wd.ok(&[]).output.stdout, wd.ok(&["score"]).output.stdout);
}

#[test]
fn output_is_byte_identical_for_every_batch_size() {
    let wd = Workdir::new("batch_sizes");
    let reference = wd.ok(&[]).output.stdout;
    for rows in ["1", "2", "7", "50", "51", "52", "1048576"] {
        assert_eq!(
            wd.ok(&["--batch-rows", rows]).output.stdout,
            reference,
            "--batch-rows {rows}"
        );
    }
}

#[test]
fn every_printed_float_reads_back_to_the_same_bits_in_its_shortest_form() {
    let wd = Workdir::new("round_trip");
    for line in wd.ok(&[]).stdout().lines().skip(1) {
        let value: f64 = line.parse().unwrap();
        assert_eq!(ryu::Buffer::new().format(value), line);
    }
}

#[test]
fn environment_variables_stand_in_for_flags() {
    let wd = Workdir::new("env_vars");
    let expected = wd.ok(&[]).output.stdout;
    std::fs::rename(wd.path("model/model.bin"), wd.path("m.bin")).unwrap();
    std::fs::rename(wd.path("data/test.csv"), wd.path("t.csv")).unwrap();
    let mut cmd = wd.command(&["--quiet"]);
    cmd.env("MODEL_PATH", "m.bin")
        .env("DATA_PATH", "t.csv")
        .env("OUTPUT_PATH", "p.csv");
    let run = wd.output(&mut cmd);
    run.assert_code(0);
    assert!(run.output.stdout.is_empty());
    assert_eq!(std::fs::read(wd.path("p.csv")).unwrap(), expected);
}

#[test]
fn an_output_file_gets_the_predictions_and_stdout_stays_empty() {
    let wd = Workdir::new("output_file");
    let expected = wd.ok(&[]).output.stdout;
    wd.mkdir("out");
    let run = wd.ok(&["--output", "out/predictions.csv"]);
    assert!(run.output.stdout.is_empty());
    assert!(run.stderr().contains(" to out/predictions.csv"));
    assert_eq!(
        std::fs::read(wd.path("out/predictions.csv")).unwrap(),
        expected
    );
    assert_eq!(
        wd.list("out"),
        ["predictions.csv"],
        "no temporary file is left"
    );
}

#[test]
fn standard_input_scores_like_the_file() {
    let wd = Workdir::new("stdin");
    let expected = wd.ok(&[]).output.stdout;
    let csv = std::fs::read(wd.path("data/test.csv")).unwrap();
    let run = wd.ok_with_stdin(&["--data", "-"], &csv);
    assert_eq!(run.output.stdout, expected);
    assert!(run.stderr().contains(" from <stdin> to <stdout>"));
}

#[test]
fn reordered_and_extra_columns_score_the_same() {
    let wd = Workdir::new("reordered");
    let expected = wd.ok(&[]).output.stdout;
    // Reverse the columns and add one the model does not know.
    let text = wd.read("data/test.csv");
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        let mut fields: Vec<&str> = line.split(',').collect();
        fields.reverse();
        let extra = if i == 0 {
            "note".to_string()
        } else {
            format!("row {i}")
        };
        out += &format!("{extra},{}\n", fields.join(","));
    }
    wd.create("shuffled.csv", out);
    assert_eq!(wd.ok(&["--data", "shuffled.csv"]).output.stdout, expected);
}

#[test]
fn an_id_column_is_copied_next_to_each_prediction() {
    let wd = Workdir::new("id_column");
    wd.create(
        "ids.csv",
        "house,CRIM,ZN,INDUS,CHAS,NOX,RM,AGE,DIS,RAD,TAX,PTRATIO,B,LSTAT\n\
         a-1,0.75026,0,8.14,0,0.538,5.924,94.1,4.3996,4,307,21,394.33,16.3\n\
         \"b,2\",0.05479,33,2.18,0,0.472,6.616,58.1,3.37,7,222,18.4,393.36,8.93\n",
    );
    let run = wd.ok(&["--data", "ids.csv", "--id-column", "house"]);
    assert_eq!(
        run.stdout(),
        "house,prediction\na-1,15.645324277500755\n\"b,2\",30.57639974180088\n"
    );
    let run = wd.ok(&[
        "--data",
        "ids.csv",
        "--id-column",
        "house",
        "--format",
        "jsonl",
    ]);
    assert_eq!(
        run.stdout(),
        "{\"house\":\"a-1\",\"prediction\":15.645324277500755}\n\
         {\"house\":\"b,2\",\"prediction\":30.57639974180088}\n"
    );
}

#[test]
fn jsonl_holds_the_same_numbers_as_csv() {
    let wd = Workdir::new("jsonl");
    let csv = predictions(&wd.ok(&[]).stdout());
    let jsonl: Vec<f64> = wd
        .ok(&["--format", "jsonl"])
        .stdout()
        .lines()
        .map(|l| {
            // Parse the number's own text: serde_json's default float parsing is not exact.
            let value = l
                .strip_prefix("{\"prediction\":")
                .unwrap()
                .strip_suffix('}')
                .unwrap();
            value.parse().unwrap()
        })
        .collect();
    assert_eq!(jsonl, csv);
}

#[test]
fn a_header_only_file_gives_a_header_only_result() {
    let wd = Workdir::new("header_only");
    let header = wd.read("data/test.csv").lines().next().unwrap().to_string();
    wd.create("empty.csv", format!("{header}\n"));
    let run = wd.ok(&["--data", "empty.csv"]);
    assert_eq!(run.stdout(), "prediction\n");
    assert!(run.stderr().contains("Scored 0 rows"));
}

#[test]
fn quiet_silences_the_logs() {
    let wd = Workdir::new("quiet");
    let run = wd.ok(&["--quiet"]);
    assert_eq!(run.stderr(), "");
    assert_eq!(predictions(&run.stdout()).len(), 51);
}

#[test]
fn json_logs_are_one_object_per_line() {
    let wd = Workdir::new("json_logs");
    let stderr = wd.ok(&["--log-format", "json"]).stderr();
    let records: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 5);
    assert_eq!(records[2]["msg"], "Loading model from: model/model.bin");
    assert!(records
        .iter()
        .all(|r| r["level"] == "info" && r["ts"].as_str().unwrap().ends_with('Z')));
    assert_eq!(records[4]["rows"], 51);
}

#[test]
fn a_closed_pipe_ends_the_run_quietly() {
    use std::io::Read;
    use std::process::Stdio;
    let wd = Workdir::new("broken_pipe");
    wd.create("big.csv", repeated_rows("data/test.csv", 200_000));
    let mut cmd = wd.command(&["--data", "big.csv", "--quiet"]);
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 11];
    stdout.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"prediction\n");
    drop(stdout);
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}

#[test]
fn every_line_reader_writes_the_same_bytes_for_any_thread_count() {
    // BATCH_INFERENCE_CPU forces a reader; one this CPU cannot run is refused, and every one it
    // runs (the scalar one always) gives the default's bytes.
    let wd = Workdir::new("line_readers");
    wd.create("big.csv", repeated_rows("data/test.csv", 20_000));
    let args = ["--data", "big.csv", "--quiet"];
    let expected = wd.ok(&args).output.stdout;
    let mut ran = Vec::new();
    for reader in ["scalar", "avx2", "avx512"] {
        for threads in ["1", "3"] {
            let mut cmd = wd.command(&args);
            cmd.args(["--threads", threads])
                .env("BATCH_INFERENCE_CPU", reader);
            let run = wd.output(&mut cmd);
            if run.output.status.code() == Some(2) {
                assert!(
                    run.error().starts_with(&format!(
                        "BATCH_INFERENCE_CPU={reader}: this CPU cannot run the {reader} line reader"
                    )),
                    "{}",
                    run.error()
                );
                continue;
            }
            run.assert_code(0);
            assert_eq!(run.output.stdout, expected, "{reader}, {threads} threads");
            ran.push(reader);
        }
    }
    assert!(ran.contains(&"scalar"), "{ran:?}");
}

#[test]
fn a_line_reader_name_that_names_none_is_a_usage_error() {
    let wd = Workdir::new("line_reader_name");
    let mut cmd = wd.command(&[]);
    cmd.env("BATCH_INFERENCE_CPU", "sse2");
    let run = wd.output(&mut cmd);
    run.assert_code(2);
    let error = run.error();
    assert!(
        error.starts_with("BATCH_INFERENCE_CPU=\"sse2\" names no line reader: use one of scalar"),
        "{error}"
    );
    assert!(
        error.ends_with(", or unset it to let the CPU choose"),
        "{error}"
    );
}
