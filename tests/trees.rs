//! `import` of tree ensembles: the exports of tests/fixtures/trees/ (made by
//! tests/fixtures/make_tree_models.py) score as scikit-learn or LightGBM predicts, on
//! data/test.csv and on 10,000 generated rows, with the same bytes for any thread count; the
//! seed's GBR (tests/fixtures/trees/seed_gbr.onnx) imports into the committed model/gbr.bin; hostile graphs, made
//! here from a real export with the library's own protobuf messages, are refused by name.

use std::io::Read;

use batch_inference::import::onnx::{AttributeProto, ModelProto, NodeProto};
use prost::Message;

use crate::util::{predictions, repo, Workdir};

const FEATURES: &str = "CRIM,ZN,INDUS,CHAS,NOX,RM,AGE,DIS,RAD,TAX,PTRATIO,B,LSTAT";

/// The bytes of tests/fixtures/trees/`name`.
fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(repo().join("tests/fixtures/trees").join(name)).unwrap()
}

/// tests/fixtures/trees/predictions.json.gz: per export and data set, the library's and
/// onnxruntime's answers.
fn answers() -> serde_json::Map<String, serde_json::Value> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(&fixture("predictions.json.gz")[..])
        .read_to_string(&mut text)
        .unwrap();
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

/// Imports `file` (a path in `wd`) into `out` with the Boston features.
fn import(wd: &Workdir, file: &str, out: &str) {
    wd.ok(&["import", file, "--out", out, "--features", FEATURES]);
}

/// Scores `data` with `model` on `threads` threads; the output's text.
fn score(wd: &Workdir, model: &str, data: &str, threads: &str) -> String {
    wd.ok(&["--model", model, "--data", data, "--threads", threads])
        .stdout()
}

#[test]
fn every_tree_export_scores_as_its_library_predicts_and_no_worse_than_onnxruntime() {
    let wd = Workdir::new("trees_every_export");
    wd.create("generated.csv.gz", fixture("generated.csv.gz"));
    let answers = answers();
    assert_eq!(answers.len(), 11);
    for (name, sets) in &answers {
        wd.create(&format!("{name}.onnx"), fixture(&format!("{name}.onnx")));
        import(&wd, &format!("{name}.onnx"), &format!("{name}.bin"));
        for (set, data) in [("test", "data/test.csv"), ("generated", "generated.csv.gz")] {
            let one = score(&wd, &format!("{name}.bin"), data, "1");
            let four = score(&wd, &format!("{name}.bin"), data, "4");
            assert_eq!(one, four, "{name} on {set}: --threads 1 and 4 differ");
            let ours = predictions(&one);
            let library = crate::util::floats(&sets[set]["library"]);
            let onnxruntime = crate::util::floats(&sets[set]["onnxruntime"]);
            let ours_error = max_relative_error(&ours, &library);
            let runtime_error = max_relative_error(&onnxruntime, &library);
            if name.ends_with("_double") {
                // Double thresholds and leaves: only the order of the f64 sum differs.
                assert!(ours_error <= 1e-9, "{name} on {set}: {ours_error:e}");
            } else {
                // Float thresholds and leaves, compared and summed as onnxruntime's, in f64.
                assert!(ours_error <= 2e-6, "{name} on {set}: {ours_error:e}");
                assert!(
                    ours_error <= runtime_error,
                    "{name} on {set}: ours {ours_error:e}, onnxruntime {runtime_error:e}"
                );
            }
        }
    }
}

#[test]
fn the_seeds_gbr_imports_into_the_committed_model_and_scores_as_scikit_learn_predicts() {
    let wd = Workdir::new("trees_seed_gbr");
    wd.create("seed_gbr.onnx", fixture("seed_gbr.onnx"));
    import(&wd, "seed_gbr.onnx", "gbr.bin");
    assert!(
        std::fs::read(wd.path("gbr.bin")).unwrap()
            == std::fs::read(repo().join("model/gbr.bin")).unwrap(),
        "import of seed_gbr.onnx is not byte for byte model/gbr.bin"
    );
    let answers: serde_json::Value = serde_json::from_slice(&fixture("seed_gbr.json")).unwrap();
    let sklearn = crate::util::floats(&answers["test"]["library"]);
    let onnxruntime = crate::util::floats(&answers["test"]["onnxruntime"]);
    let ours = predictions(&score(&wd, "model/gbr.bin", "data/test.csv", "2"));
    let ours_error = max_relative_error(&ours, &sklearn);
    assert!(ours_error <= 2e-6, "{ours_error:e}");
    assert!(ours_error <= max_relative_error(&onnxruntime, &sklearn));
    // The classic job printed 8 decimals: scikit-learn's first two predictions with
    // random_state=0 are its first two, as the README says; ours, from the export's float32
    // leaves, are within a few units of the 8th decimal.
    let printed: Vec<String> = sklearn[..2].iter().map(|p| format!("{p:.8}")).collect();
    assert_eq!(printed, ["15.32448686", "27.68741572"]);
    for (ours, sklearn) in ours.iter().zip(&sklearn) {
        assert!((ours - sklearn).abs() < 1e-7, "{ours} vs {sklearn}");
    }
}

#[test]
fn the_fuzzers_tree_seed_is_what_import_makes_of_the_decision_tree() {
    let wd = Workdir::new("trees_fuzz_seed");
    wd.create("tree.onnx", fixture("decision_tree_float.onnx"));
    import(&wd, "tree.onnx", "tree.bin");
    assert!(std::fs::read(wd.path("tree.bin")).unwrap() == fixture("decision_tree_float.bin"));
}

#[test]
fn inspect_shows_the_trees_and_where_they_came_from() {
    let wd = Workdir::new("trees_inspect");
    let text = wd.ok(&["inspect", "--model", "model/gbr.bin"]).stdout();
    for line in [
        "format version: 4\n",
        "solver:         not fitted here: trees read from the imported graph\n",
        "features:       13\n",
        "kind:           tree ensemble\n",
        "trees:          500\n",
        "max depth:      4\n",
        "aggregate:      sum of the leaves, plus 22.643516540527344\n",
        "comparisons:    features rounded to float32 first\n",
        // skl2onnx declares the default domain twice, as "" and as "ai.onnx": shown once.
        "opsets:         ai.onnx.ml 1, ai.onnx 22\n",
    ] {
        assert!(text.contains(line), "{line:?} not in:\n{text}");
    }
    let json = wd.inspect_json(Some("model/gbr.bin"));
    assert_eq!(
        json["source"]["opsets"],
        serde_json::json!([
            {"domain": "ai.onnx.ml", "version": 1},
            {"domain": "ai.onnx", "version": 22}
        ])
    );
    let onnx = fixture("seed_gbr.onnx");
    let sha = format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(&onnx));
    assert!(text.contains(&sha), "no sha256 {sha} in:\n{text}");
    assert!(text.contains("skl2onnx 1.20.0"), "{text}");
}

/// tests/fixtures/trees/seed_gbr.onnx decoded, changed by `change` (given its tree node), encoded to `bad.onnx`,
/// imported: the refusal's message, after the exit code 4 is checked.
fn refusal(wd: &Workdir, change: impl FnOnce(&mut NodeProto)) -> String {
    let bytes = fixture("seed_gbr.onnx");
    let mut model = ModelProto::decode(&bytes[..]).unwrap();
    let graph = model.graph.as_mut().unwrap();
    change(&mut graph.node[0]);
    wd.create("bad.onnx", model.encode_to_vec());
    wd.fails(
        &[
            "import",
            "bad.onnx",
            "--out",
            "bad.bin",
            "--features",
            FEATURES,
        ],
        4,
    )
    .error()
}

/// The attribute `name` of `node`.
fn attribute<'a>(node: &'a mut NodeProto, name: &str) -> &'a mut AttributeProto {
    node.attribute.iter_mut().find(|a| a.name == name).unwrap()
}

const NODE: &str =
    "bad.onnx: invalid model file: node 0 (TreeEnsembleRegressor, domain ai.onnx.ml)";

#[test]
fn hostile_tree_graphs_are_refused_by_tree_and_node() {
    let wd = Workdir::new("trees_hostile");
    // Tree 0 is node 0 (root, branches to 1 and 16), ...: a child pointing back at the root.
    let cycle = refusal(&wd, |n| attribute(n, "nodes_falsenodeids").ints[1] = 0);
    assert_eq!(
        cycle,
        format!("{NODE}: tree 0: node 0 is reached twice (a cycle or a shared subtree)")
    );
    let out_of_range = refusal(&wd, |n| attribute(n, "nodes_truenodeids").ints[0] = 999_999);
    assert_eq!(
        out_of_range,
        format!("{NODE}: tree 0: node 0 has child 999999, which is not a node of the tree")
    );
    let feature = refusal(&wd, |n| attribute(n, "nodes_featureids").ints[0] = 13);
    assert_eq!(
        feature,
        format!("{NODE}: tree 0: node 0 tests feature 13, past the input's 13 columns")
    );
    let missing_leaf = refusal(&wd, |n| {
        let targets = attribute(n, "target_nodeids");
        let leaf = targets.ints[0];
        targets.ints[0] = 0;
        assert_ne!(leaf, 0);
    });
    assert_eq!(
        missing_leaf,
        format!("{NODE}: tree 0: node 0 is a branch with a target weight")
    );
    let no_weight = refusal(&wd, |n| {
        for key in ["target_treeids", "target_nodeids", "target_ids"] {
            attribute(n, key).ints.remove(0);
        }
        attribute(n, "target_weights").floats.remove(0);
    });
    assert_eq!(
        no_weight,
        format!("{NODE}: tree 0: leaf 4 has no target weight")
    );
    let sizes = refusal(&wd, |n| {
        attribute(n, "nodes_modes").strings.pop();
    });
    assert_eq!(
        sizes,
        format!("{NODE}: nodes_modes has 14649 entries for 14650 nodes in nodes_treeids")
    );
    let aggregate = refusal(&wd, |n| {
        n.attribute.push(AttributeProto {
            name: "aggregate_function".into(),
            r#type: 3,
            s: b"MAX".to_vec(),
            ..Default::default()
        })
    });
    assert_eq!(
        aggregate,
        format!("{NODE}: aggregate_function is MAX; SUM and AVERAGE are supported")
    );
    let post = refusal(&wd, |n| {
        attribute(n, "post_transform").s = b"SOFTMAX".to_vec()
    });
    assert_eq!(
        post,
        format!("{NODE}: post_transform is SOFTMAX; only NONE is supported")
    );
    let mode = refusal(&wd, |n| {
        attribute(n, "nodes_modes").strings[0] = b"BRANCH_X".to_vec()
    });
    assert!(mode.starts_with(&format!("{NODE}: tree 0: node 0 has mode BRANCH_X;")));
    let newer = refusal(&wd, |n| n.op_type = "TreeEnsemble".into());
    assert_eq!(
        newer,
        "bad.onnx: invalid model file: node 0 (TreeEnsemble, domain ai.onnx.ml): operator \
         TreeEnsemble of domain ai.onnx.ml is not supported; export with ai.onnx.ml opset 3 \
         or lower, which writes TreeEnsembleRegressor"
    );
}

#[test]
fn a_truncated_or_gigantic_tree_export_is_refused() {
    let wd = Workdir::new("trees_truncated");
    let bytes = fixture("gbr_float.onnx");
    for len in [bytes.len() / 3, bytes.len() - 1] {
        wd.create("bad.onnx", &bytes[..len]);
        let error = wd
            .fails(
                &[
                    "import",
                    "bad.onnx",
                    "--out",
                    "bad.bin",
                    "--features",
                    FEATURES,
                ],
                4,
            )
            .error();
        assert!(
            error.starts_with(
                "bad.onnx: invalid model file: not an ONNX model, or a truncated one: the \
                 protobuf does not decode"
            ),
            "{error}"
        );
    }
    // A graph (field 7) that declares 2^40 bytes, in a file of a few.
    let mut gigantic = vec![0x3a];
    let mut size: u64 = 1 << 40;
    while size >= 0x80 {
        gigantic.push((size as u8 & 0x7f) | 0x80);
        size >>= 7;
    }
    gigantic.push(size as u8);
    wd.create("bad.onnx", &gigantic);
    let error = wd
        .fails(
            &[
                "import",
                "bad.onnx",
                "--out",
                "bad.bin",
                "--features",
                FEATURES,
            ],
            4,
        )
        .error();
    assert!(
        error.starts_with("bad.onnx: invalid model file: not an ONNX model, or a truncated one"),
        "{error}"
    );
}
