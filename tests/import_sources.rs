//! `import` of where feature names come from: ONNX graphs with one input per column
//! (tests/fixtures/onnx/columns/) and MLflow model directories (tests/fixtures/mlflow/), both
//! made by tests/fixtures/make_mlflow_models.py, scored against scikit-learn's predictions.

use std::path::Path;

use crate::util::{repo, Workdir};

const FEATURES: &str = "CRIM,ZN,INDUS,CHAS,NOX,RM,AGE,DIS,RAD,TAX,PTRATIO,B,LSTAT";

/// Copies the fixture folder `rel` (under tests/fixtures/) into `wd` as `to`.
fn copy_folder(wd: &Workdir, rel: &str, to: &str) {
    let from = repo().join("tests/fixtures").join(rel);
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        wd.create(&format!("{to}/{name}"), std::fs::read(&path).unwrap());
    }
}

/// `answers[name][key]` of the predictions.json in tests/fixtures/`rel`.
fn answer(rel: &str, name: Option<&str>, key: &str) -> Vec<f64> {
    let path = repo()
        .join("tests/fixtures")
        .join(rel)
        .join("predictions.json");
    let all: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let entry = name.map_or(&all, |n| &all[n]);
    crate::util::floats(&entry[key])
}

/// Scores data/test.csv with the model `model` of `wd`.
fn score(wd: &Workdir, model: &str) -> Vec<f64> {
    let stdout = wd
        .ok(&["--model", model, "--data", "data/test.csv"])
        .stdout();
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("prediction"));
    lines.map(|l| l.parse().unwrap()).collect()
}

fn max_relative_error(ours: &[f64], reference: &[f64]) -> f64 {
    assert_eq!(ours.len(), reference.len());
    ours.iter()
        .zip(reference)
        .map(|(a, b)| (a - b).abs() / b.abs())
        .fold(0.0, f64::max)
}

#[test]
fn per_column_inputs_name_the_features_and_score_as_scikit_learn_predicts() {
    let wd = Workdir::new("import_per_column");
    copy_folder(&wd, "onnx/columns", "columns");
    for name in [
        "ols_double",
        "ridge_scaled_double",
        "ols_float",
        "ridge_scaled_float",
    ] {
        let onnx = format!("columns/{name}.onnx");
        let out = format!("{name}.bin");
        wd.ok(&["import", &onnx, "--out", &out]);
        let features = wd.inspect_json(Some(&out))["features"].clone();
        assert_eq!(
            features
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap())
                .collect::<Vec<_>>(),
            FEATURES.split(',').collect::<Vec<_>>(),
            "{name}"
        );
        // The Concat is folded away: the operators are those of the model after it.
        let graph = wd.ok(&["inspect", "--model", &out]).stdout();
        assert!(!graph.contains("Concat"), "{name}: {graph}");
        let ours = score(&wd, &out);
        let sklearn = answer("onnx/columns", Some(name), "sklearn");
        let error = max_relative_error(&ours, &sklearn);
        if name.ends_with("_double") {
            assert!(error <= 1e-9, "{name}: {error:e}");
        } else {
            let exact = answer("onnx/columns", Some(name), "float64");
            assert!(max_relative_error(&ours, &exact) <= 1e-12, "{name}");
            assert!(error <= 4e-6, "{name}: {error:e}");
        }
    }
}

#[test]
fn features_that_disagree_with_per_column_inputs_name_the_first_difference() {
    let wd = Workdir::new("import_per_column_features");
    copy_folder(&wd, "onnx/columns", "columns");
    let onnx = "columns/ols_double.onnx";
    // The same names, given again, are accepted.
    wd.ok(&["import", onnx, "--out", "m.bin", "--features", FEATURES]);
    let swapped = FEATURES.replace("ZN,INDUS", "INDUS,ZN");
    let run = wd.fails(
        &["import", onnx, "--out", "n.bin", "--features", &swapped],
        2,
    );
    assert_eq!(
        run.error(),
        "--features names column 2 INDUS, but the graph's per-column inputs name it ZN; leave \
         out --features to use the model's names, or give them in the model's order"
    );
    let run = wd.fails(&["import", onnx, "--out", "n.bin", "--features", "A,B"], 2);
    assert_eq!(
        run.error(),
        "--features names 2 columns, but the ONNX input merged_columns of columns/ols_double.onnx \
         has 13; give 13 names"
    );
    assert!(!wd.path("n.bin").exists());
}

#[test]
fn inputs_merged_by_a_feature_vectorizer_are_refused_by_name() {
    let wd = Workdir::new("import_vectorizer");
    copy_folder(&wd, "onnx/columns", "columns");
    let run = wd.fails(
        &["import", "columns/vectorizer_double.onnx", "--out", "m.bin"],
        4,
    );
    assert_eq!(
        run.error(),
        "columns/vectorizer_double.onnx: invalid model file: the graph has 13 inputs, and its \
         first node (FeatureVectorizer, domain ai.onnx.ml) is not a Concat along axis 1 of \
         them; import supports one [N, p] input, or one [N, 1] input per column merged by a \
         Concat (as skl2onnx writes for a pipeline that starts with a ColumnTransformer)"
    );
}

#[test]
fn an_mlflow_directory_with_a_column_signature_needs_no_features() {
    let wd = Workdir::new("import_mlflow_columns");
    copy_folder(&wd, "mlflow/columns", "ridge");
    let run = wd.ok(&["import", "ridge", "--out", "ridge.bin"]);
    assert!(
        run.stderr().contains("Imported ridge (skl2onnx 1.20.0"),
        "{}",
        run.stderr()
    );
    let summary = wd.inspect_json(Some("ridge.bin"));
    assert_eq!(summary["features"].as_array().unwrap().len(), 13);
    assert_eq!(summary["features"][12], "LSTAT");
    let sha256 = {
        use sha2::Digest;
        let bytes = std::fs::read(wd.path("ridge/model.onnx")).unwrap();
        format!("{:x}", sha2::Sha256::digest(bytes))
    };
    assert_eq!(summary["source"]["sha256"], sha256);
    let ours = score(&wd, "ridge.bin");
    let error = max_relative_error(&ours, &answer("mlflow", None, "sklearn"));
    assert!(error <= 1e-9, "{error:e}");
}

#[test]
fn an_mlflow_directory_with_a_tensor_signature_needs_features() {
    let wd = Workdir::new("import_mlflow_tensor");
    copy_folder(&wd, "mlflow/tensor", "ridge");
    let run = wd.fails(&["import", "ridge", "--out", "ridge.bin"], 2);
    assert_eq!(
        run.error(),
        "ridge/model.onnx: the ONNX input X is one tensor of 13 columns with no names; name \
         them with --features A,B,... (13 names, in the order of the columns)"
    );
    wd.ok(&[
        "import",
        "ridge",
        "--out",
        "ridge.bin",
        "--features",
        FEATURES,
    ]);
    let ours = score(&wd, "ridge.bin");
    assert!(max_relative_error(&ours, &answer("mlflow", None, "sklearn")) <= 1e-9);
}

#[test]
fn an_mlflow_directory_without_an_onnx_flavor_says_why_no_pickle_is_loaded() {
    let wd = Workdir::new("import_mlflow_sklearn");
    copy_folder(&wd, "mlflow/sklearn", "sk");
    let run = wd.fails(&["import", "sk", "--out", "m.bin"], 4);
    assert_eq!(
        run.error(),
        "sk/MLmodel: invalid model file: it has the flavors python_function, sklearn but no \
         onnx flavor; import does not load a pickle (model.pkl), since unpickling runs \
         whatever code the file holds; export the model to ONNX (skl2onnx.to_onnx(model, \
         X[:1]), then mlflow.onnx.save_model) and import that"
    );
    wd.mkdir("empty");
    let run = wd.fails(&["import", "empty", "--out", "m.bin"], 2);
    assert_eq!(
        run.error(),
        "empty is a directory without an MLmodel file; import takes an ONNX file (model.onnx) \
         or an MLflow model directory (one holding MLmodel)"
    );
    assert!(!wd.path("m.bin").exists());
}

#[test]
fn an_mlflow_directory_that_does_not_describe_its_onnx_file_is_refused() {
    let wd = Workdir::new("import_mlflow_broken");
    copy_folder(&wd, "mlflow/columns", "ridge");
    let mlmodel = wd.read("ridge/MLmodel");
    // The data file is missing.
    std::fs::remove_file(wd.path("ridge/model.onnx")).unwrap();
    let run = wd.fails(&["import", "ridge", "--out", "m.bin"], 4);
    assert_eq!(
        run.error(),
        "ridge/MLmodel: invalid model file: the onnx flavor's data file model.onnx is not in \
         ridge (ridge/model.onnx is missing or not a file); copy the whole MLflow model \
         directory"
    );
    copy_folder(&wd, "mlflow/columns", "ridge");
    // A signature one column short: the names cannot be those of the graph's columns.
    let short = mlmodel.replace(
        "{\"type\": \"double\", \"name\": \"ZN\", \"required\": true}, ",
        "",
    );
    let short = short.replace(
        "{\"type\": \"double\",\n    \"name\": \"ZN\", \"required\": true}, ",
        "",
    );
    assert_ne!(short, mlmodel, "the fixture's signature lists ZN");
    wd.create("ridge/MLmodel", &short);
    let run = wd.fails(&["import", "ridge", "--out", "m.bin"], 4);
    assert_eq!(
        run.error(),
        "ridge/MLmodel: invalid model file: the signature names 12 input columns, but the ONNX \
         graph of ridge/model.onnx reads 13; the signature does not describe this model"
    );
    // The --out may not be the directory's ONNX file.
    wd.create("ridge/MLmodel", &mlmodel);
    let run = wd.fails(&["import", "ridge", "--out", "ridge/model.onnx"], 2);
    assert_eq!(
        run.error(),
        "--out ridge/model.onnx is the same file as the ONNX file ridge/model.onnx: it would be \
         destroyed; write the model elsewhere"
    );
    assert!(Path::new(&wd.path("ridge/model.onnx")).exists());
}
