//! Training: reproduces the shipped model, agrees with scikit-learn, writes metadata.

use crate::util::{assert_close, floats, repo, Workdir};

fn sklearn_coefficients() -> serde_json::Value {
    let text = std::fs::read_to_string(repo().join("tests/fixtures/sklearn_ols_coefficients.json"))
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn retraining_reproduces_the_shipped_model_byte_for_byte() {
    let wd = Workdir::new("retrain");
    let shipped = std::fs::read(wd.path("model/model.bin")).unwrap();
    let shipped_predictions = wd.ok(&[]).output.stdout;
    wd.mkdir("out");
    let run = wd.ok(&[
        "train",
        "--data",
        "data/train.csv",
        "--target",
        "MEDV",
        "--holdout",
        "data/test.csv",
        "--out",
        "out/model.bin",
    ]);
    assert!(
        run.stderr()
            .contains("Wrote out/model.bin and out/metadata.json"),
        "{}",
        run.stderr()
    );
    assert_eq!(std::fs::read(wd.path("out/model.bin")).unwrap(), shipped);
    assert_eq!(
        wd.ok(&["--model", "out/model.bin"]).output.stdout,
        shipped_predictions
    );
    assert_eq!(wd.list("out"), ["metadata.json", "model.bin"]);
}

#[test]
fn the_fitted_coefficients_agree_with_scikit_learn() {
    let wd = Workdir::new("coefficients");
    let ours = wd.inspect_json(None);
    let reference = sklearn_coefficients();
    assert_eq!(ours["features"], reference["features"]);
    assert_close(
        &floats(&ours["coefficients"]),
        &floats(&reference["coefficients"]),
        1e-9,
    );
    assert_close(
        &[ours["intercept"].as_f64().unwrap()],
        &[reference["intercept"].as_f64().unwrap()],
        1e-9,
    );
}

#[test]
fn metadata_records_what_was_trained_on_what() {
    let wd = Workdir::new("metadata");
    let mut cmd = wd.command(&[
        "train",
        "--data",
        "data/train.csv",
        "--target",
        "MEDV",
        "--holdout",
        "data/test.csv",
        "--out",
        "model/new.bin",
    ]);
    cmd.env("SOURCE_DATE_EPOCH", "1795830000");
    wd.output(&mut cmd).assert_code(0);
    let meta: serde_json::Value = serde_json::from_str(&wd.read("model/metadata.json")).unwrap();
    assert_eq!(meta["format_version"], 3);
    assert_eq!(meta["algorithm"], "ols");
    assert_eq!(
        meta["solver"],
        serde_json::json!({"method": "qr", "rank": 13})
    );
    assert_eq!(meta["target"], "MEDV");
    assert_eq!(meta["features"], sklearn_coefficients()["features"]);
    assert_eq!(meta["train"]["rows"], 455);
    assert_eq!(meta["holdout"]["rows"], 51);
    assert_eq!(meta["created_at"], "2026-11-28T01:40:00Z");
    assert_eq!(meta["training_data"], "data/train.csv");
    // sha256sum data/train.csv
    assert_eq!(
        meta["training_sha256"],
        "85aef8b12a3af3879322c635178ebe758d4fb6023c8a02f3eba7fff16fbf1ad1"
    );
    // scikit-learn: r2_score(y_test, model.predict(X_test)) on the same split.
    let r2 = meta["holdout"]["r2"].as_f64().unwrap();
    assert!((r2 - 0.7175304666402).abs() < 1e-9, "{r2}");
}

#[test]
fn a_feature_subset_trains_a_smaller_model_that_scores_the_full_file() {
    let wd = Workdir::new("feature_subset");
    wd.ok(&[
        "train",
        "--data",
        "data/train.csv",
        "--target",
        "MEDV",
        "--features",
        "RM,LSTAT",
        "--out",
        "small.bin",
    ]);
    let summary: serde_json::Value = serde_json::from_str(
        &wd.ok(&["inspect", "--model", "small.bin", "--json"])
            .stdout(),
    )
    .unwrap();
    assert_eq!(summary["features"], serde_json::json!(["RM", "LSTAT"]));
    assert!(summary["holdout"].is_null());
    let out = wd.ok(&["--model", "small.bin"]).stdout();
    assert_eq!(out.lines().count(), 52);
}

#[test]
fn a_missing_target_column_is_a_data_error() {
    let wd = Workdir::new("missing_target");
    let run = wd.fails(
        &[
            "train",
            "--data",
            "data/train.csv",
            "--target",
            "PRICE",
            "--out",
            "m.bin",
        ],
        3,
    );
    assert!(
        run.error()
            .starts_with("data/train.csv:1: missing target column PRICE (the file has: CRIM, ZN,"),
        "{}",
        run.error()
    );
}

#[test]
fn a_target_column_with_a_space_around_it_is_pointed_out() {
    let wd = Workdir::new("near_miss_target");
    wd.create("t.csv", "x, y\n1,2\n2,4\n3,7\n");
    let run = wd.fails(
        &[
            "train", "--data", "t.csv", "--target", "y", "--out", "m.bin",
        ],
        3,
    );
    assert_eq!(
        run.error(),
        "t.csv:1: missing target column y; the file has \" y\" (y with a leading space), but \
         column names must match exactly"
    );
}

#[test]
fn fewer_rows_than_features_fit_with_a_warning_about_the_rank() {
    // Centered, the two rows leave one direction, d = (3, 3): w = d·(6 − 3)/‖d‖² = (0.5, 0.5).
    let wd = Workdir::new("too_few_rows");
    wd.create("tiny.csv", "a,b,y\n1,2,3\n4,5,6\n");
    let run = wd.ok(&[
        "train", "--data", "tiny.csv", "--target", "y", "--out", "m.bin",
    ]);
    assert!(
        run.stderr()
            .contains("warning: the centered features have rank 1 of 2 (constant columns"),
        "{}",
        run.stderr()
    );
    let summary = wd.inspect_json(Some("m.bin"));
    assert_close(&floats(&summary["coefficients"]), &[0.5, 0.5], 1e-12);
    assert_eq!(
        summary["solver"],
        serde_json::json!({"method": "svd", "rank": 1})
    );
}

#[test]
fn the_target_cannot_be_a_feature() {
    let wd = Workdir::new("target_as_feature");
    let run = wd.fails(
        &[
            "train",
            "--data",
            "data/train.csv",
            "--target",
            "MEDV",
            "--features",
            "RM,MEDV",
        ],
        2,
    );
    assert_eq!(
        run.error(),
        "--features names the target column MEDV; a model cannot use its own target"
    );
}

#[test]
fn a_feature_named_twice_is_a_usage_error_before_anything_is_read() {
    let wd = Workdir::new("duplicate_features");
    for data in ["data/train.csv", "missing.csv"] {
        let run = wd.fails(
            &[
                "train",
                "--data",
                data,
                "--target",
                "MEDV",
                "--features",
                "RM,LSTAT,RM",
                "--out",
                "m.bin",
            ],
            2,
        );
        assert_eq!(
            run.error(),
            "--features names RM more than once; list each feature once"
        );
    }
    assert!(!wd.path("m.bin").exists());
}
