//! Inspect: what a model holds, as text and as JSON.

use crate::util::Workdir;

#[test]
fn inspect_lists_version_algorithm_features_and_metrics() {
    let wd = Workdir::new("inspect_text");
    let text = wd.ok(&["inspect"]).stdout();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "model:          model/model.bin");
    assert_eq!(lines[1], "format version: 3");
    assert_eq!(lines[2], "algorithm:      ols");
    assert_eq!(lines[3], "parameters:     standardize false");
    assert_eq!(
        lines[4],
        "solver:         least squares by QR (linfa-linear), rank 13 of 13"
    );
    assert_eq!(lines[5], "target:         MEDV");
    assert_eq!(lines[7], "features:       13");
    assert!(lines[8].trim_start().starts_with("CRIM "), "{}", lines[8]);
    assert!(
        lines[21].trim_start().starts_with("intercept "),
        "{}",
        lines[21]
    );
    assert!(
        lines[23].starts_with("  train    rows 455 "),
        "{}",
        lines[23]
    );
    assert!(
        lines[24].starts_with("  holdout  rows 51 "),
        "{}",
        lines[24]
    );
    assert_eq!(lines.len(), 25);
}

#[test]
fn inspect_json_matches_the_metadata_written_at_training() {
    let wd = Workdir::new("inspect_json");
    let summary = wd.inspect_json(None);
    let metadata: serde_json::Value =
        serde_json::from_str(&wd.read("model/metadata.json")).unwrap();
    for key in [
        "format_version",
        "algorithm",
        "parameters",
        "solver",
        "target",
        "features",
        "coefficients",
        "intercept",
        "train",
        "holdout",
        "cv",
        "training_sha256",
    ] {
        assert_eq!(summary[key], metadata[key], "{key}");
    }
}

#[test]
fn a_format_version_1_file_still_loads_and_scores_as_the_shipped_model() {
    // tests/fixtures/model_v1.bin is model/model.bin as format version 1 wrote it (commit
    // "Keep today's model/model.bin"): the same fit, without the rank.
    let wd = Workdir::new("model_v1");
    let v1 = crate::util::repo().join("tests/fixtures/model_v1.bin");
    std::fs::copy(&v1, wd.path("v1.bin")).unwrap();
    assert_eq!(
        wd.ok(&["--model", "v1.bin"]).output.stdout,
        wd.ok(&[]).output.stdout
    );
    let text = wd.ok(&["inspect", "--model", "v1.bin"]).stdout();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[1], "format version: 1");
    assert_eq!(
        lines[4],
        "solver:         least squares by QR (linfa-linear), rank not recorded"
    );
    let summary = wd.inspect_json(Some("v1.bin"));
    assert_eq!(summary["format_version"], 1);
    assert_eq!(summary["solver"], serde_json::json!({"method": "qr"}));
    assert_eq!(
        summary["coefficients"],
        wd.inspect_json(None)["coefficients"]
    );
}
