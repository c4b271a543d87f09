//! `import`: skl2onnx exports of linear models (tests/fixtures/onnx/, made by
//! tests/fixtures/make_onnx_models.py) score as scikit-learn predicts; anything else is refused
//! with its exit code and message.

use sha2::Digest;

use crate::util::{repo, Workdir};

const FEATURES: &str = "CRIM,ZN,INDUS,CHAS,NOX,RM,AGE,DIS,RAD,TAX,PTRATIO,B,LSTAT";

/// The bytes of fixture `name`.onnx.
fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(repo().join(format!("tests/fixtures/onnx/{name}.onnx"))).unwrap()
}

/// tests/fixtures/onnx/predictions.json: per export, scikit-learn's and onnxruntime's answers.
fn answers() -> serde_json::Map<String, serde_json::Value> {
    let text =
        std::fs::read_to_string(repo().join("tests/fixtures/onnx/predictions.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The largest relative error of `ours` against `reference`.
fn max_relative_error(ours: &[f64], reference: &[f64]) -> f64 {
    assert_eq!(ours.len(), reference.len());
    ours.iter()
        .zip(reference)
        .map(|(a, b)| (a - b).abs() / b.abs())
        .fold(0.0, f64::max)
}

/// Imports `name`.onnx (copied into `wd`) with the Boston features, scores data/test.csv.
fn import_and_score(wd: &Workdir, name: &str) -> Vec<f64> {
    wd.create(&format!("{name}.onnx"), fixture(name));
    wd.ok(&[
        "import",
        &format!("{name}.onnx"),
        "--out",
        &format!("{name}.bin"),
        "--features",
        FEATURES,
    ]);
    let run = wd.ok(&["--model", &format!("{name}.bin"), "--data", "data/test.csv"]);
    let stdout = run.stdout();
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("prediction"));
    lines.map(|l| l.parse().unwrap()).collect()
}

#[test]
fn every_export_scores_as_scikit_learn_predicts_and_floats_no_worse_than_onnxruntime() {
    let wd = Workdir::new("import_every_export");
    let answers = answers();
    assert_eq!(answers.len(), 16);
    for (name, answer) in &answers {
        let ours = import_and_score(&wd, name);
        let sklearn = crate::util::floats(&answer["sklearn"]);
        let onnxruntime = crate::util::floats(&answer["onnxruntime"]);
        let ours_error = max_relative_error(&ours, &sklearn);
        let runtime_error = max_relative_error(&onnxruntime, &sklearn);
        println!("{name}: ours {ours_error:.3e}, onnxruntime {runtime_error:.3e} (vs sklearn)");
        if name.ends_with("_double") {
            assert!(ours_error <= 1e-9, "{name}: {ours_error:e}");
        } else {
            // The file's float32 parameters are all there is: applied exactly (in float64, by
            // numpy) they are what we score, up to the order of the arithmetic.
            let exact = crate::util::floats(&answer["float64"]);
            let folding_error = max_relative_error(&ours, &exact);
            assert!(folding_error <= 1e-12, "{name}: {folding_error:e}");
            // Their rounding alone costs up to 3.4e-6 against scikit-learn (lasso_scaled_float,
            // where onnxruntime's is 5.8e-6).
            assert!(ours_error <= 4e-6, "{name}: {ours_error:e}");
            assert!(
                ours_error <= runtime_error,
                "{name}: ours {ours_error:e} > onnxruntime's {runtime_error:e}"
            );
        }
    }
}

#[test]
fn inspect_shows_an_imported_model_and_where_it_came_from() {
    let wd = Workdir::new("import_inspect");
    import_and_score(&wd, "ridge_scaled_double");
    let sha256 = format!("{:x}", sha2::Sha256::digest(fixture("ridge_scaled_double")));
    let stdout = wd
        .ok(&["inspect", "--model", "ridge_scaled_double.bin"])
        .stdout();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[2], "algorithm:      imported");
    assert_eq!(
        lines[4],
        "solver:         not fitted here: weights and intercept folded in f64 from the \
         imported graph"
    );
    assert_eq!(lines[5], "target:         variable");
    assert_eq!(lines[6], "imported from:  onnx, written by skl2onnx 1.20.0");
    assert_eq!(lines[7], "opsets:         ai.onnx 14");
    assert_eq!(
        lines[8],
        "graph:          ai.onnx.Sub -> ai.onnx.Div -> ai.onnx.MatMul -> ai.onnx.Add -> \
         ai.onnx.Reshape"
    );
    assert_eq!(lines[9], format!("onnx file:      sha256 {sha256}"));
    assert_eq!(lines[10], "features:       13");
    assert_eq!(
        lines.last(),
        Some(&"metrics:        none (imported, not fitted here)")
    );
    let summary = wd.inspect_json(Some("ridge_scaled_double.bin"));
    assert_eq!(summary["format_version"], 3);
    assert_eq!(summary["algorithm"], "imported");
    assert_eq!(summary["solver"]["method"], "folded");
    assert_eq!(summary["source"]["producer_name"], "skl2onnx");
    assert_eq!(summary["source"]["sha256"], sha256);
}

#[test]
fn an_input_without_names_needs_features_and_the_right_count_of_them() {
    let wd = Workdir::new("import_features");
    wd.create("ols.onnx", fixture("ols_double"));
    let run = wd.fails(&["import", "ols.onnx", "--out", "m.bin"], 2);
    assert_eq!(
        run.error(),
        "ols.onnx: the ONNX input X is one tensor of 13 columns with no names; name them \
         with --features A,B,... (13 names, in the order of the columns)"
    );
    let run = wd.fails(
        &["import", "ols.onnx", "--out", "m.bin", "--features", "A,B"],
        2,
    );
    assert_eq!(
        run.error(),
        "--features names 2 columns, but the ONNX input X of ols.onnx has 13; give 13 names"
    );
    let twice = FEATURES.replace("ZN", "CRIM");
    let run = wd.fails(
        &["import", "ols.onnx", "--out", "m.bin", "--features", &twice],
        2,
    );
    assert_eq!(
        run.error(),
        "--features names CRIM twice; each column needs its own name"
    );
    assert_eq!(wd.list("."), ["data", "model", "ols.onnx"]);
}

#[test]
fn the_output_may_not_be_the_onnx_file() {
    let wd = Workdir::new("import_alias");
    wd.create("ols.onnx", fixture("ols_double"));
    let run = wd.fails(
        &[
            "import",
            "ols.onnx",
            "--out",
            "ols.onnx",
            "--features",
            FEATURES,
        ],
        2,
    );
    assert_eq!(
        run.error(),
        "--out ols.onnx is the same file as the ONNX file ols.onnx: it would be destroyed; \
         write the model elsewhere"
    );
    assert_eq!(
        fixture("ols_double"),
        std::fs::read(wd.path("ols.onnx")).unwrap()
    );
}

#[test]
fn the_output_is_a_file_not_standard_output_nor_a_directory() {
    let wd = Workdir::new("import_out");
    wd.create("ols.onnx", fixture("ols_double"));
    let import = |out| ["import", "ols.onnx", "--out", out, "--features", FEATURES];
    let run = wd.fails(&import("-"), 2);
    assert_eq!(
        run.error(),
        "--out -: import writes the model to a file, not to standard output; give a path such \
         as model.bin"
    );
    assert_eq!(run.stdout(), "");
    let run = wd.fails(&import("model"), 2);
    assert_eq!(
        run.error(),
        "--out model is a directory; give the model file's path, such as model/model.bin"
    );
    assert_eq!(wd.list("."), ["data", "model", "ols.onnx"]);
}

/// Imports `bytes` as bad.onnx, which must fail with exit 4; returns the message.
fn refusal(wd: &Workdir, bytes: &[u8]) -> String {
    wd.create("bad.onnx", bytes);
    let run = wd.fails(
        &[
            "import",
            "bad.onnx",
            "--out",
            "m.bin",
            "--features",
            FEATURES,
        ],
        4,
    );
    assert!(!wd.path("m.bin").exists());
    run.error()
}

const SUPPORTED: &str = "import supports the linear regressors skl2onnx writes (ai.onnx Sub, \
                         Div, MatMul, Add, Reshape, Identity; ai.onnx.ml Scaler, LinearRegressor)";

#[test]
fn an_unsupported_operator_is_refused_by_name_and_domain() {
    let wd = Workdir::new("import_unsupported");
    assert_eq!(
        refusal(&wd, &fixture("relu")),
        format!(
            "bad.onnx: invalid model file: node 0 (Relu, domain ai.onnx): operator Relu of \
             domain ai.onnx is not supported; {SUPPORTED}"
        )
    );
    assert_eq!(
        refusal(&wd, &fixture("classifier")),
        format!(
            "bad.onnx: invalid model file: node 0 (LinearClassifier, domain ai.onnx.ml): \
             operator LinearClassifier of domain ai.onnx.ml is not supported; {SUPPORTED}"
        )
    );
}

#[test]
fn a_file_that_is_not_onnx_is_refused() {
    let wd = Workdir::new("import_not_onnx");
    assert_eq!(
        refusal(&wd, b""),
        "bad.onnx: invalid model file: the file is empty"
    );
    assert_eq!(
        refusal(&wd, &std::fs::read(wd.path("data/test.csv")).unwrap()),
        "bad.onnx: invalid model file: not an ONNX model: it is text that looks like CSV; an \
         ONNX model is a binary protobuf, as skl2onnx's to_onnx writes (score a CSV with --data)"
    );
    assert_eq!(
        refusal(&wd, &std::fs::read(wd.path("model/model.bin")).unwrap()),
        "bad.onnx: invalid model file: not an ONNX model: it is a batch_inference model file \
         already: score it with --model, or show it with inspect; import reads ONNX files"
    );
    // Bytes that are neither text nor a protobuf.
    assert_eq!(
        refusal(&wd, &[0xff, 0xff, 0xff]),
        "bad.onnx: invalid model file: not an ONNX model, or a truncated one: the protobuf \
         does not decode (failed to decode Protobuf message: invalid varint)"
    );
    // A protobuf that is not a model: an empty message, field 15 unknown to ModelProto.
    assert_eq!(
        refusal(&wd, &[0x78, 0x01]),
        "bad.onnx: invalid model file: the ONNX model has no graph"
    );
}

#[test]
fn every_truncation_of_an_export_is_refused() {
    let wd = Workdir::new("import_truncated");
    let whole = fixture("ols_scaled_double");
    assert_eq!(
        refusal(&wd, &whole[..200]),
        "bad.onnx: invalid model file: not an ONNX model, or a truncated one: the protobuf \
         does not decode (failed to decode Protobuf message: ModelProto.graph: buffer \
         underflow)"
    );
    for len in 1..whole.len() {
        refusal(&wd, &whole[..len]);
    }
}

/// ols_scaled_double.onnx, decoded, changed by `edit`, encoded again.
fn edited(edit: impl FnOnce(&mut batch_inference::import::onnx::GraphProto)) -> Vec<u8> {
    use prost::Message;
    let mut model =
        batch_inference::import::onnx::ModelProto::decode(&fixture("ols_scaled_double")[..])
            .unwrap();
    edit(model.graph.as_mut().unwrap());
    model.encode_to_vec()
}

#[test]
fn a_node_of_domain_ai_onnx_is_in_the_default_operator_set_it_names() {
    // ONNX names the default domain both "" and "ai.onnx": a graph that imports the operator
    // set as "" but names its nodes' domain "ai.onnx" is the same graph.
    let wd = Workdir::new("import_ai_onnx_domain");
    wd.create("plain.onnx", fixture("ols_scaled_double"));
    wd.create(
        "named.onnx",
        edited(|g| {
            for node in &mut g.node {
                node.domain = "ai.onnx".into();
            }
        }),
    );
    for name in ["plain", "named"] {
        wd.ok(&[
            "import",
            &format!("{name}.onnx"),
            "--out",
            &format!("{name}.bin"),
            "--features",
            FEATURES,
        ]);
    }
    let score = |model: &str| wd.ok(&["-q", "--model", model]).output.stdout;
    assert_eq!(score("named.bin"), score("plain.bin"));
}

#[test]
fn hostile_files_are_refused_with_the_value_or_node_at_fault() {
    let wd = Workdir::new("import_hostile");
    // Field 7 (the graph), length-delimited, declaring 2^62 bytes where 0 follow.
    let gigantic = [0x3a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40];
    assert_eq!(
        refusal(&wd, &gigantic),
        "bad.onnx: invalid model file: not an ONNX model, or a truncated one: the protobuf \
         does not decode (failed to decode Protobuf message: ModelProto.graph: buffer \
         underflow)"
    );
    // The Sub reads what the Div makes from the Sub's output: a cycle.
    let cycle = edited(|g| g.node[0].input[0] = g.node[1].output[0].clone());
    assert_eq!(
        refusal(&wd, &cycle),
        "bad.onnx: invalid model file: node 0 (Sub, domain ai.onnx): it reads variable1, which \
         node 1 makes after it: the nodes are not in topological order, or the graph has a \
         cycle"
    );
    let twice = edited(|g| g.input.push(g.input[0].clone()));
    assert_eq!(
        refusal(&wd, &twice),
        "bad.onnx: invalid model file: the graph input X is declared twice; each input needs \
         its own name"
    );
    let short = edited(|g| {
        let coef = g.initializer.iter_mut().find(|t| t.name == "coef").unwrap();
        coef.dims = vec![14, 1];
    });
    assert_eq!(
        refusal(&wd, &short),
        "bad.onnx: invalid model file: the initializer coef declares dimensions [14, 1] but \
         holds 13 elements; the file is corrupt"
    );
    let huge = edited(|g| {
        let coef = g.initializer.iter_mut().find(|t| t.name == "coef").unwrap();
        coef.dims = vec![i64::MAX, i64::MAX];
    });
    assert_eq!(
        refusal(&wd, &huge),
        format!(
            "bad.onnx: invalid model file: the initializer coef declares dimensions [{0}, {0}] \
             but holds 13 elements; the file is corrupt",
            i64::MAX
        )
    );
    // A scale of zero folds into an infinite weight.
    let zero = edited(|g| {
        let scale = g
            .initializer
            .iter_mut()
            .find(|t| t.name == "Di_Divcst")
            .unwrap();
        assert!(scale.raw_data.is_empty(), "skl2onnx writes double_data");
        scale.double_data[0] = 0.0;
    });
    assert_eq!(
        refusal(&wd, &zero),
        "bad.onnx: invalid model file: the graph folds into a weight of -inf for column CRIM, \
         not a finite number: a scale of zero, or constants that overflow"
    );
}
