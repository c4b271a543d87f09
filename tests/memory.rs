//! Bounded memory: a batch never takes more than its budget (4 MiB), whatever `--batch-rows`
//! and the model's width, and the output is the same bytes for every batch size. The runs are
//! made under `ulimit -v` (2 GB of address space), so that an allocation beyond the budget
//! fails, and aborts, on every machine rather than only on one without overcommit. In-memory
//! training, whose memory grows with the rows, runs out as an error (exit 5), not an abort.

use std::process::Command;

use crate::util::{floats, Workdir};

/// The binary under a 2 GB address-space limit, with `args`.
fn limited(wd: &Workdir, args: &[&str]) -> Command {
    limited_to(wd, "2000000", args)
}

/// The binary under an address-space limit of `kib` KiB, with `args`.
fn limited_to(wd: &Workdir, kib: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("bash");
    let script = format!(r#"ulimit -v {kib} && exec "$0" "$@""#);
    cmd.current_dir(wd.path("."))
        .args(["-c", &script])
        .arg(env!("CARGO_BIN_EXE_batch_inference"))
        .args(args);
    crate::util::without_our_environment(&mut cmd);
    cmd
}

/// A CSV of `rows` rows of `features` features `f0..` and a target `y`, an exact linear
/// function of them; and the rows' feature values.
fn wide_csv(rows: usize, features: usize) -> (String, Vec<Vec<f64>>) {
    let names: Vec<String> = (0..features).map(|j| format!("f{j}")).collect();
    let mut text = names.join(",") + ",y\n";
    let mut values = Vec::new();
    for i in 0..rows {
        let x: Vec<f64> = (0..features)
            .map(|j| ((i * 7 + j * 13) % 29) as f64 / 4.0 - 3.0)
            .collect();
        let y: f64 = 1.0
            + x.iter()
                .enumerate()
                .map(|(j, v)| v * ((j % 5) as f64 - 2.0))
                .sum::<f64>();
        let cells: Vec<String> = x.iter().map(f64::to_string).collect();
        text += &format!("{},{y}\n", cells.join(","));
        values.push(x);
    }
    (text, values)
}

#[test]
fn a_wide_model_with_a_million_batch_rows_scores_within_the_budget() {
    let wd = Workdir::empty("wide_million_batch_rows");
    // 1,000 features x 1,048,576 rows x 8 bytes would be 8 GB for one batch.
    let (csv, rows) = wide_csv(60, 1000);
    wd.create("wide.csv", &csv);
    let train = [
        "train",
        "--data",
        "wide.csv",
        "--target",
        "y",
        "--out",
        "m.bin",
        "--algorithm",
        "ridge",
        "--streaming",
    ];
    // The training reader's batches keep to the budget too: 4 MiB / (1,001 values x 8 bytes).
    let trained = wd.ok(&train);
    assert!(
        trained
            .stderr()
            .contains("Accumulating X'X and X'y of 1000 features in batches of 523 rows...\n"),
        "{}",
        trained.stderr()
    );
    let model = wd.inspect_json(Some("m.bin"));
    let (w, b) = (
        floats(&model["coefficients"]),
        model["intercept"].as_f64().unwrap(),
    );
    assert_eq!(w.len(), 1000);
    let score = |batch_rows: &str, threads: &str| {
        let args = [
            "--model",
            "m.bin",
            "--data",
            "wide.csv",
            "--batch-rows",
            batch_rows,
            "--threads",
            threads,
            "-q",
        ];
        let run = wd.output(&mut limited(&wd, &args));
        run.assert_code(0);
        assert_eq!(run.stderr(), "", "--batch-rows {batch_rows}");
        run.output.stdout
    };
    let big = score("1048576", "2");
    let predictions = crate::util::predictions(&String::from_utf8(big.clone()).unwrap());
    let expected: Vec<f64> = rows
        .iter()
        .map(|x| b + x.iter().zip(&w).map(|(x, w)| x * w).sum::<f64>())
        .collect();
    // The kernel sums in another order than this loop: a relative tolerance of 1e-9.
    assert_eq!(predictions.len(), 60);
    for (i, (p, e)) in predictions.iter().zip(&expected).enumerate() {
        assert!(
            (p - e).abs() <= 1e-9 * e.abs().max(1.0),
            "row {i}: {p} vs {e}"
        );
    }
    for (batch_rows, threads) in [("1", "1"), ("7", "3"), ("4096", "1"), ("1048576", "1")] {
        assert_eq!(score(batch_rows, threads), big, "--batch-rows {batch_rows}");
    }
}

#[test]
fn a_narrow_model_with_a_million_batch_rows_scores_as_with_the_default() {
    // 13 features: 1,048,576 rows would be 109 MB per batch and per thread.
    let wd = Workdir::new("narrow_million_batch_rows");
    let expected = wd.ok(&["-q"]).output.stdout;
    for threads in ["1", "4"] {
        let args = ["--batch-rows", "1048576", "--threads", threads, "-q"];
        let run = wd.output(&mut limited(&wd, &args));
        run.assert_code(0);
        assert_eq!(run.output.stdout, expected, "--threads {threads}");
    }
}

#[test]
fn in_memory_training_on_more_rows_than_fit_is_an_error_that_suggests_streaming() {
    // 1.5 million rows of 11 values are 132 MB as f64, under a 100 MB address-space limit.
    let wd = Workdir::empty("train_out_of_memory");
    let names: Vec<String> = (0..10).map(|j| format!("f{j}")).collect();
    let row = "1,".repeat(10) + "2\n";
    wd.create("big.csv", names.join(",") + ",y\n" + &row.repeat(1_500_000));
    let args = [
        "train",
        "--data",
        "big.csv",
        "--target",
        "y",
        "--out",
        "m.bin",
        "--algorithm",
        "ridge",
    ];
    let run = wd.output(&mut limited_to(&wd, "100000", &args));
    run.assert_code(5);
    // How many rows fit depends on the machine; the rest of the message does not.
    let error = run.error();
    assert!(
        error.starts_with("big.csv: cannot hold the training rows in memory: ")
            && error.ends_with(
                " rows of 10 features need more memory than there is; --streaming fits ols and \
                 ridge in constant memory"
            ),
        "{error}"
    );
    assert!(!wd.path("m.bin").exists());
}

#[test]
fn streaming_training_on_a_very_wide_file_is_an_error_that_suggests_fewer_features() {
    // 20,000 features: X'X alone is 3.2 GB, over a 2 GB address-space limit.
    let wd = Workdir::empty("train_streaming_too_wide");
    let names: Vec<String> = (0..20_000).map(|j| format!("f{j}")).collect();
    let row = "1,".repeat(20_000) + "2\n";
    wd.create("wide.csv", names.join(",") + ",y\n" + &row.repeat(2));
    let args = [
        "train",
        "--data",
        "wide.csv",
        "--target",
        "y",
        "--out",
        "m.bin",
        "--algorithm",
        "ridge",
        "--streaming",
    ];
    let run = wd.output(&mut limited(&wd, &args));
    run.assert_code(5);
    assert_eq!(
        run.error(),
        "wide.csv: cannot hold X'X in memory: 4 matrices of 20001 x 20001 values need more \
         memory than there is; choose fewer columns with --features"
    );
    assert!(!wd.path("m.bin").exists());
}
