//! Training algorithms: parity with scikit-learn for each estimator and for K-fold CV,
//! streaming against in-memory fits, parameters in `inspect`, and usage errors.
//!
//! Fixtures: tests/fixtures/sklearn_models.json and the rank-deficient data sets in
//! tests/fixtures/rank/, made by
//! `python3 tests/fixtures/make_sklearn_models.py` (scikit-learn 1.5.2).

use serde_json::Value;

use crate::util::{
    assert_close, floats, predictions, repeated_rows, repo, without_our_environment, Workdir,
};

fn fixture() -> Value {
    let text = std::fs::read_to_string(repo().join("tests/fixtures/sklearn_models.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The `train` flags that reproduce a fixture case.
fn flags(case: &Value) -> Vec<String> {
    let mut flags = vec![
        "--algorithm".to_string(),
        case["algorithm"].as_str().unwrap().to_string(),
    ];
    if let Some(alpha) = case["alpha"].as_f64() {
        flags.extend(["--alpha".to_string(), alpha.to_string()]);
    }
    if let Some(l1_ratio) = case["l1_ratio"].as_f64() {
        flags.extend(["--l1-ratio".to_string(), l1_ratio.to_string()]);
    }
    if case["standardize"].as_bool().unwrap() {
        flags.push("--standardize".into());
    }
    flags
}

/// Trains on data/train.csv with `extra` flags into `out`; returns `inspect --json` of it.
fn train(wd: &Workdir, out: &str, extra: &[String]) -> Value {
    let mut args: Vec<&str> = vec![
        "train",
        "--data",
        "data/train.csv",
        "--target",
        "MEDV",
        "--out",
        out,
    ];
    args.extend(extra.iter().map(String::as_str));
    wd.ok(&args);
    wd.inspect_json(Some(out))
}

/// How close we must be to scikit-learn: exact solvers to 1e-9, coordinate descent to 1e-6.
fn tolerance(algorithm: &str) -> f64 {
    match algorithm {
        "ols" | "ridge" => 1e-9,
        _ => 1e-6,
    }
}

/// Checks every fixture case whose algorithm is in `algorithms` and whose standardize flag
/// is `standardize`: test-set predictions, and CV metrics where the fixture has them.
fn check_cases(name: &str, algorithms: &[&str], standardize: bool) {
    let fixture = fixture();
    let wd = Workdir::new(name);
    let mut checked = 0;
    for (i, case) in fixture["cases"].as_array().unwrap().iter().enumerate() {
        let algorithm = case["algorithm"].as_str().unwrap();
        if !algorithms.contains(&algorithm) || case["standardize"] != standardize {
            continue;
        }
        let tol = tolerance(algorithm);
        let out = format!("m{i}.bin");
        let mut extra = flags(case);
        if !case["cv"].is_null() {
            extra.extend(["--cv".to_string(), fixture["cv_folds"].to_string()]);
        }
        let summary = train(&wd, &out, &extra);
        assert_eq!(summary["algorithm"], case["algorithm"], "case {i}");
        let ours = predictions(&wd.ok(&["--model", &out]).stdout());
        eprintln!("case {i}: {extra:?}");
        assert_close(&ours, &floats(&case["predictions"]), tol);
        if !standardize {
            assert_close(
                &[summary["intercept"].as_f64().unwrap()],
                &[case["intercept"].as_f64().unwrap()],
                tol,
            );
        }
        if !case["cv"].is_null() {
            check_cv(&summary["cv"], &case["cv"], tol);
        }
        checked += 1;
    }
    assert!(checked > 0, "no fixture case for {algorithms:?}");
}

/// Our CV metrics against `cross_val_score`'s, fold by fold and on average.
fn check_cv(ours: &Value, reference: &Value, tol: f64) {
    let folds = ours["folds"].as_array().unwrap();
    let expected = reference["folds"].as_array().unwrap();
    assert_eq!(folds.len(), expected.len());
    for (a, b) in folds.iter().zip(expected) {
        assert_eq!(a["rows"], b["rows"]);
        assert_close(
            &[a["mse"].as_f64().unwrap(), a["r2"].as_f64().unwrap()],
            &[b["mse"].as_f64().unwrap(), b["r2"].as_f64().unwrap()],
            tol,
        );
    }
    assert_close(
        &[ours["mse"].as_f64().unwrap(), ours["r2"].as_f64().unwrap()],
        &[
            reference["mse"].as_f64().unwrap(),
            reference["r2"].as_f64().unwrap(),
        ],
        tol,
    );
}

#[test]
fn ols_and_ridge_predict_as_scikit_learn_to_1e_9() {
    check_cases("parity_exact", &["ols", "ridge"], false);
}

#[test]
fn lasso_and_elastic_net_predict_as_scikit_learn_to_1e_6() {
    check_cases("parity_descent", &["lasso", "elastic-net"], false);
}

#[test]
fn standardize_predicts_as_a_standard_scaler_pipeline() {
    check_cases(
        "parity_standardize",
        &["ridge", "lasso", "elastic-net"],
        true,
    );
}

#[test]
fn k_fold_cv_of_ols_matches_cross_val_score_to_1e_9() {
    let fixture = fixture();
    let case = &fixture["cases"][0];
    assert_eq!(case["algorithm"], "ols");
    let wd = Workdir::new("cv_ols");
    let summary = train(&wd, "m.bin", &["--cv".into(), "5".into()]);
    check_cv(&summary["cv"], &case["cv"], 1e-9);
    // The model itself is the one fitted on every row: CV only adds metrics.
    let plain = train(&wd, "plain.bin", &[]);
    assert_eq!(summary["coefficients"], plain["coefficients"]);
}

/// data/train.csv's rows 30 times over, the target nudged differently in each copy, so the
/// file spans several 4096-row batches and is not the original problem.
fn enlarged_training_file(wd: &Workdir) -> usize {
    let text = std::fs::read_to_string(repo().join("data/train.csv")).unwrap();
    let mut lines = text.lines();
    let mut out = format!("{}\n", lines.next().unwrap());
    let rows: Vec<&str> = lines.collect();
    for copy in 0..30 {
        for (i, row) in rows.iter().enumerate() {
            let (features, target) = row.rsplit_once(',').unwrap();
            let target: f64 = target.parse().unwrap();
            let nudge = ((copy * 7 + i) % 11) as f64 * 0.1 - 0.5;
            out += &format!("{features},{}\n", target + nudge);
        }
    }
    wd.create("big.csv", out);
    30 * rows.len()
}

#[test]
fn streaming_agrees_with_the_in_memory_fit_to_1e_9() {
    let wd = Workdir::new("streaming_vs_memory");
    let rows = enlarged_training_file(&wd);
    assert!(rows > 3 * 4096);
    for extra in [
        vec!["--algorithm", "ols"],
        vec!["--algorithm", "ridge", "--alpha", "10"],
        vec!["--algorithm", "ridge", "--alpha", "1", "--standardize"],
    ] {
        let mut summaries = Vec::new();
        for (out, streaming) in [("memory.bin", false), ("streamed.bin", true)] {
            let mut args = vec![
                "train",
                "--data",
                "big.csv",
                "--target",
                "MEDV",
                "--holdout",
                "data/test.csv",
                "--cv",
                "4",
                "--out",
                out,
            ];
            args.extend(&extra);
            if streaming {
                args.push("--streaming");
            }
            wd.ok(&args);
            summaries.push(wd.inspect_json(Some(out)));
        }
        let (memory, streamed) = (&summaries[0], &summaries[1]);
        eprintln!("{extra:?}");
        assert_eq!(streamed["solver"]["streamed"], true);
        let mut coefficients = floats(&streamed["coefficients"]);
        coefficients.push(streamed["intercept"].as_f64().unwrap());
        let mut reference = floats(&memory["coefficients"]);
        reference.push(memory["intercept"].as_f64().unwrap());
        assert_close(&coefficients, &reference, 1e-9);
        for set in ["train", "holdout"] {
            assert_eq!(streamed[set]["rows"], memory[set]["rows"]);
            assert_close(
                &[streamed[set]["mse"].as_f64().unwrap()],
                &[memory[set]["mse"].as_f64().unwrap()],
                1e-9,
            );
        }
        check_cv(&streamed["cv"], &memory["cv"], 1e-9);
        assert_eq!(streamed["train"]["rows"], rows);
    }
}

#[test]
fn streaming_from_standard_input_writes_the_same_model_as_from_the_file() {
    let wd = Workdir::new("streaming_stdin");
    let args = ["--target", "MEDV", "--algorithm", "ridge", "--streaming"];
    let mut from_file = vec!["train", "--data", "data/train.csv", "--out", "file.bin"];
    from_file.extend(args);
    wd.ok(&from_file);
    let mut from_stdin = vec!["train", "--data", "-", "--out", "stdin.bin"];
    from_stdin.extend(args);
    let csv = std::fs::read(wd.path("data/train.csv")).unwrap();
    wd.ok_with_stdin(&from_stdin, &csv);
    assert_eq!(
        std::fs::read(wd.path("file.bin")).unwrap(),
        std::fs::read(wd.path("stdin.bin")).unwrap()
    );
}

/// Memory must not grow with rows: under an address-space limit far below what the rows
/// take as `f64`s, the streaming fit succeeds and the in-memory one cannot.
#[cfg(target_os = "linux")]
#[test]
fn streaming_trains_in_memory_that_does_not_grow_with_the_rows() {
    const ROWS: usize = 200_000;
    const LIMIT_KB: usize = 48 * 1024;
    // 200,000 rows × 14 columns × 8 bytes = 22.4 MB of values: the in-memory path holds
    // them more than once (a growing Vec, then the feature and target arrays) and runs out,
    // which the last assertion checks, while the streaming path needs about 10 MB of address
    // space whatever the number of rows.
    let wd = Workdir::new("streaming_memory");
    wd.create("huge.csv", repeated_rows("data/train.csv", ROWS));
    let run = |extra: &str| {
        let script = format!(
            "ulimit -c 0 && ulimit -v {LIMIT_KB} && exec \"$0\" train -q --data huge.csv --target MEDV \
             --algorithm ridge --out m.bin {extra}"
        );
        let mut cmd = std::process::Command::new("sh");
        cmd.current_dir(wd.path(""))
            .args(["-c", &script, env!("CARGO_BIN_EXE_batch_inference")]);
        without_our_environment(&mut cmd);
        cmd.output().unwrap()
    };
    let streamed = run("--streaming");
    assert!(
        streamed.status.success(),
        "{}",
        String::from_utf8_lossy(&streamed.stderr)
    );
    let summary = wd.inspect_json(Some("m.bin"));
    assert_eq!(summary["train"]["rows"], ROWS);
    // The in-memory fit fails for want of memory (the allocator aborts, or a reservation
    // fails first and says so: which one depends on how much of the limit the binary's own
    // mappings take), not for any other reason, such as a bad flag, that would make this
    // test pass without proving anything.
    let in_memory = run("");
    let stderr = String::from_utf8_lossy(&in_memory.stderr);
    let out_of_memory = stderr.contains("memory allocation of")
        || stderr.contains("need more memory than there is")
        || stderr.contains("cannot hold the training rows in memory");
    assert!(
        !in_memory.status.success() && out_of_memory,
        "the limit is too generous, or the fit failed otherwise: {stderr}"
    );
}

#[test]
fn inspect_shows_the_parameters_solver_and_cv_folds() {
    let wd = Workdir::new("inspect_parameters");
    wd.ok(&[
        "train",
        "--data",
        "data/train.csv",
        "--target",
        "MEDV",
        "--algorithm",
        "elastic-net",
        "--alpha",
        "0.1",
        "--l1-ratio",
        "0.5",
        "--cv",
        "3",
        "--out",
        "en.bin",
    ]);
    let text = wd.ok(&["inspect", "--model", "en.bin"]).stdout();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[2], "algorithm:      elastic-net");
    assert_eq!(
        lines[3],
        "parameters:     alpha 0.1, l1_ratio 0.5, tol 1e-12, max_iter 100000, standardize false"
    );
    assert!(
        lines[4].starts_with("solver:         coordinate descent (linfa-elasticnet), ")
            && lines[4].ends_with("(converged)"),
        "{}",
        lines[4]
    );
    assert!(
        lines[24].starts_with("  cv       folds 3       mse "),
        "{}",
        lines[24]
    );
    assert!(
        lines[25].starts_with("    fold 1 rows 152      mse "),
        "{}",
        lines[25]
    );
    assert!(
        lines[27].starts_with("    fold 3 rows 151      mse "),
        "{}",
        lines[27]
    );
    assert_eq!(lines.len(), 28);

    let json = wd.inspect_json(Some("en.bin"));
    assert_eq!(
        json["parameters"],
        serde_json::json!({"alpha": 0.1, "l1_ratio": 0.5, "tol": 1e-12, "max_iter": 100000,
                           "standardize": false})
    );
    assert_eq!(json["solver"]["method"], "coordinate-descent");
    assert_eq!(json["solver"]["converged"], true);
    let metadata: Value = serde_json::from_str(&wd.read("metadata.json")).unwrap();
    for key in ["parameters", "solver", "cv"] {
        assert_eq!(metadata[key], json[key], "{key}");
    }
}

#[test]
fn coordinate_descent_that_stops_early_warns_and_says_so() {
    let wd = Workdir::new("not_converged");
    let run = wd.ok(&[
        "train",
        "--data",
        "data/train.csv",
        "--target",
        "MEDV",
        "--algorithm",
        "lasso",
        "--max-iter",
        "3",
        "--out",
        "m.bin",
    ]);
    assert!(
        run.stderr().contains(
            "batch_inference: warning: lasso did not converge in 3 iterations: duality gap "
        ) && run
            .stderr()
            .contains("is above --tol 1e-12; raise --max-iter, or try --standardize"),
        "{}",
        run.stderr()
    );
    let json = wd.inspect_json(Some("m.bin"));
    assert_eq!(json["solver"]["converged"], false);
    assert_eq!(json["solver"]["iterations"], 3);
}

/// Runs `train` on data/train.csv with `extra`, expecting exit code `code`; the error line.
fn train_error(name: &str, extra: &[&str], code: i32) -> String {
    let wd = Workdir::new(name);
    let mut args = vec!["train", "--data", "data/train.csv", "--target", "MEDV"];
    args.extend(extra);
    args.extend(["--out", "m.bin"]);
    let error = wd.fails(&args, code).error();
    assert!(!wd.path("m.bin").exists());
    error
}

#[test]
fn invalid_parameters_are_usage_errors_that_name_the_flag() {
    for (extra, message) in [
        (
            &["--algorithm", "ridge", "--alpha", "-1"][..],
            "--alpha must be >= 0, got -1",
        ),
        (
            &["--algorithm", "lasso", "--alpha", "inf"],
            "--alpha must be a finite number, got inf",
        ),
        (
            &["--algorithm", "elastic-net", "--l1-ratio", "1.5"],
            "--l1-ratio must be between 0 and 1, got 1.5",
        ),
        (
            &["--algorithm", "elastic-net", "--l1-ratio", "-0.1"],
            "--l1-ratio must be between 0 and 1, got -0.1",
        ),
        (&["--cv", "1"], "--cv must be at least 2 folds, got 1"),
        (
            &["--algorithm", "lasso", "--tol", "0"],
            "--tol must be a finite number > 0, got 0",
        ),
        (
            &["--algorithm", "lasso", "--max-iter", "0"],
            "--max-iter must be at least 1, got 0",
        ),
        (
            &["--alpha", "1"],
            "--alpha applies to ridge, lasso and elastic-net; ols has no penalty \
             (add --algorithm ridge, for instance)",
        ),
        (
            &["--algorithm", "lasso", "--l1-ratio", "0.5"],
            "--l1-ratio applies only to --algorithm elastic-net (lasso is l1-ratio 1, \
             ridge is l1-ratio 0)",
        ),
        (
            &["--algorithm", "ridge", "--tol", "1e-6"],
            "--tol applies only to lasso and elastic-net, which iterate; ols and ridge are \
             solved exactly",
        ),
        (
            &["--algorithm", "elastic-net", "--streaming"],
            "--streaming supports only ols and ridge, which are fitted from X'X and X'y; \
             elastic-net needs the rows in memory (drop --streaming)",
        ),
    ] {
        let name = format!("usage_{}", extra.join("_").replace('-', ""));
        assert_eq!(train_error(&name, extra, 2), message, "{extra:?}");
    }
}

#[test]
fn cv_with_streaming_needs_a_file_not_standard_input() {
    let wd = Workdir::new("cv_streaming_stdin");
    let run = wd.fails(
        &[
            "train",
            "--data",
            "-",
            "--target",
            "MEDV",
            "--streaming",
            "--cv",
            "5",
        ],
        2,
    );
    assert_eq!(
        run.error(),
        "--cv with --streaming reads the training file twice (once to count the rows for \
         the folds), so --data must be a file, not standard input"
    );
}

#[test]
fn more_folds_than_rows_is_a_data_error() {
    let wd = Workdir::new("too_many_folds");
    wd.create("tiny.csv", "a,y\n1,2\n2,4\n3,7\n");
    let run = wd.fails(
        &[
            "train",
            "--data",
            "tiny.csv",
            "--target",
            "y",
            "--algorithm",
            "ridge",
            "--cv",
            "4",
        ],
        3,
    );
    assert_eq!(
        run.error(),
        "tiny.csv: 3 rows cannot make 4 folds; use --cv 3 or fewer"
    );
}

#[test]
fn a_training_file_without_rows_is_a_data_error_streamed_or_not() {
    let wd = Workdir::new("no_training_rows");
    wd.create("empty.csv", "a,y\n");
    for streaming in [&["--streaming"][..], &[]] {
        let mut args = vec![
            "train",
            "--data",
            "empty.csv",
            "--target",
            "y",
            "--algorithm",
            "ridge",
        ];
        args.extend(streaming);
        assert_eq!(
            wd.fails(&args, 3).error(),
            "empty.csv: the training file has no rows"
        );
    }
}

#[test]
fn a_constant_feature_gets_coefficient_zero_and_a_warning_streamed_or_not() {
    let wd = Workdir::new("streaming_constant");
    wd.create("c.csv", "a,b,y\n1,5,1\n2,5,2\n3,5,4\n4,5,3\n");
    for algorithm in ["ols", "ridge"] {
        for streaming in [&["--streaming"][..], &[]] {
            let mut args = vec![
                "train",
                "--data",
                "c.csv",
                "--target",
                "y",
                "--algorithm",
                algorithm,
                "--out",
                "m.bin",
            ];
            args.extend(streaming);
            let run = wd.ok(&args);
            assert_eq!(wd.inspect_json(Some("m.bin"))["coefficients"][1], 0.0);
            let warned = run.stderr().contains(
                "warning: the centered features have rank 1 of 2 (constant columns, copies",
            );
            assert_eq!(warned, algorithm == "ols", "{}", run.stderr());
        }
    }
}

#[test]
fn train_help_says_which_algorithms_stream() {
    let wd = Workdir::new("train_help");
    let help = wd.ok(&["train", "--help"]).stdout();
    for text in [
        "--algorithm <ALGORITHM>",
        "- elastic-net: Least squares with L1 and L2 penalties",
        "Supports ols and ridge only: lasso and elastic-net need the rows",
        "scikit-learn's `alpha`",
        "scikit-learn's `l1_ratio`",
        "KFold(K)",
    ] {
        assert!(help.contains(text), "{text:?} missing from:\n{help}");
    }
}

/// Trains ols on rank-deficient data set `name` of the fixture's `rank_cases`, in memory and
/// with `--streaming`, and checks test-set predictions against scikit-learn's within 1e-9
/// relative, and the rank in `inspect --json` and `metadata.json` against its `rank_`.
fn check_rank_case(name: &str, methods: [&str; 2]) {
    let fixture = fixture();
    let case = fixture["rank_cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap();
    let train = repo().join(case["train"].as_str().unwrap());
    let test = repo().join(case["test"].as_str().unwrap());
    let wd = Workdir::new(&format!("rank_{name}"));
    wd.mkdir("out");
    for (streaming, method) in [(&[][..], methods[0]), (&["--streaming"][..], methods[1])] {
        let mut args = vec![
            "train",
            "--data",
            train.to_str().unwrap(),
            "--target",
            "MEDV",
            "--out",
            "out/model.bin",
        ];
        args.extend(streaming);
        wd.ok(&args);
        let summary = wd.inspect_json(Some("out/model.bin"));
        assert_eq!(summary["features"], case["features"]);
        assert_eq!(summary["solver"]["method"], method, "{streaming:?}");
        assert_eq!(summary["solver"]["rank"], case["rank"], "{streaming:?}");
        let metadata: Value = serde_json::from_str(&wd.read("out/metadata.json")).unwrap();
        assert_eq!(metadata["solver"], summary["solver"]);
        let ours = predictions(
            &wd.ok(&["--model", "out/model.bin", "--data", test.to_str().unwrap()])
                .stdout(),
        );
        eprintln!("{name} {streaming:?}");
        assert_close(&ours, &floats(&case["predictions"]), 1e-9);
    }
}

#[test]
fn a_constant_column_gives_scikit_learns_predictions_streamed_or_not() {
    check_rank_case("constant", ["svd", "eigh-cholesky"]);
}

#[test]
fn a_duplicated_column_gives_scikit_learns_predictions_streamed_or_not() {
    check_rank_case("duplicate", ["svd", "eigh-cholesky"]);
}

#[test]
fn a_column_that_is_a_multiple_of_another_gives_scikit_learns_predictions_streamed_or_not() {
    check_rank_case("multiple", ["svd", "eigh-cholesky"]);
}

#[test]
fn more_features_than_rows_give_scikit_learns_predictions_streamed_or_not() {
    check_rank_case("wide", ["svd", "eigh-cholesky"]);
}

#[test]
fn a_constant_column_gets_coefficient_zero_and_copies_share_a_weight() {
    let fixture = fixture();
    let wd = Workdir::new("rank_coefficients");
    for case in fixture["rank_cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        if name != "constant" && name != "duplicate" {
            continue;
        }
        let train = repo().join(case["train"].as_str().unwrap());
        wd.ok(&[
            "train",
            "--data",
            train.to_str().unwrap(),
            "--target",
            "MEDV",
            "--out",
            "m.bin",
        ]);
        let ours = floats(&wd.inspect_json(Some("m.bin"))["coefficients"]);
        let theirs = floats(&case["coefficients"]);
        if name == "constant" {
            // CONST, last: scikit-learn's is exactly 0.
            assert_eq!(theirs[13], 0.0);
            assert!(ours[13].abs() < 1e-12, "{}", ours[13]);
            assert_close(&ours[..13], &theirs[..13], 1e-9);
        } else {
            // RM (index 5) and RM_COPY (last) each take half of RM's weight.
            assert_close(&[ours[5], ours[13]], &[theirs[5], theirs[13]], 1e-9);
            assert!((ours[5] - ours[13]).abs() < 1e-9 * ours[5].abs());
        }
    }
}
