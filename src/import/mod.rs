//! `batch_inference import`: an ONNX file of a linear regressor (as skl2onnx writes one) into
//! our model file, scored then by the same kernel as a trained model.
//!
//! - [`onnx`]: the protobuf messages, hand-written for prost.
//! - [`linear`]: the graph folded into weights and an intercept, or refused by operator.
//! - [`trees`]: a graph around one tree ensemble regressor, read into our tree layout.
//!
//! The ONNX file's input is one tensor of shape `[N, p]`, which has no column names, so
//! `--features` names its columns. The model records where it came from ([`Source`]).

pub mod linear;
pub mod onnx;
pub mod trees;

use std::fs::File;
use std::io::Read;

use prost::Message;
use sha2::{Digest, Sha256};

use crate::cli::ImportArgs;
use crate::error::{Error, Result};
use crate::log::Logger;
use crate::model::{Algorithm, FitMetrics, ModelFile, Opset, Solver, Source, MAX_PAYLOAD};
use crate::paths::Paths;

/// Runs `import`.
pub fn import(args: &ImportArgs, log: &Logger) -> Result<()> {
    // Before anything is opened: the output may not be the input.
    Paths::new()
        .input("the ONNX file", args.path.as_str())
        .output("--out", args.out.as_str(), "write the model elsewhere")
        .check()?;
    let bytes = read_limited(&args.path)?;
    let model = decode(&args.path, &bytes)?;
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| Error::model(&args.path, "the ONNX model has no graph"))?;
    check_opsets(&model, graph).map_err(|m| Error::model(&args.path, m))?;
    if trees::is_tree_graph(graph) {
        return import_trees(args, log, &model, graph, &bytes);
    }
    let folded = linear::fold(graph).map_err(|m| Error::model(&args.path, m))?;
    let features = feature_names(args, &folded.input, folded.weights.len())?;
    let source = source_of(&model, folded.operators.clone(), &bytes);
    let p = features.len();
    let imported = ModelFile {
        algorithm: Algorithm::Imported,
        standardize: false,
        solver: Solver::Folded,
        target: folded.output.clone(),
        features,
        coefficients: folded.weights,
        intercept: folded.intercept,
        // Nothing was fitted here, so nothing was measured.
        train: FitMetrics {
            rows: 0,
            mse: f64::NAN,
            r2: f64::NAN,
        },
        holdout: None,
        cv: None,
        training_sha256: String::new(),
        source: Some(source),
        trees: None,
    };
    imported.save_atomic(&args.out)?;
    log.info(&format!(
        "Imported {} ({} {}: {}) into {}: {p} features",
        args.path,
        model.producer_name,
        model.producer_version,
        folded.operators.join(" -> "),
        args.out
    ));
    Ok(())
}

/// Where the model in `bytes` came from.
fn source_of(model: &onnx::ModelProto, operators: Vec<String>, bytes: &[u8]) -> Source {
    Source {
        format: "onnx".into(),
        producer_name: model.producer_name.clone(),
        producer_version: model.producer_version.clone(),
        opsets: model
            .opset_import
            .iter()
            .map(|o| Opset {
                domain: linear::domain_name(&o.domain).to_string(),
                version: o.version,
            })
            .collect(),
        operators,
        sha256: format!("{:x}", Sha256::digest(bytes)),
    }
}

/// Imports the tree ensemble of `graph`.
fn import_trees(
    args: &ImportArgs,
    log: &Logger,
    model: &onnx::ModelProto,
    graph: &onnx::GraphProto,
    bytes: &[u8],
) -> Result<()> {
    let read = trees::read(graph).map_err(|m| Error::model(&args.path, m))?;
    let features = feature_names(args, &read.input, read.width)?;
    let summary = format!(
        "{} trees, max depth {}",
        read.ensemble.trees(),
        read.ensemble.max_depth()
    );
    let imported = ModelFile {
        algorithm: Algorithm::Imported,
        standardize: false,
        solver: Solver::Trees,
        target: read.output.clone(),
        features,
        coefficients: Vec::new(),
        intercept: 0.0,
        // Nothing was fitted here, so nothing was measured.
        train: FitMetrics {
            rows: 0,
            mse: f64::NAN,
            r2: f64::NAN,
        },
        holdout: None,
        cv: None,
        training_sha256: String::new(),
        source: Some(source_of(model, read.operators.clone(), bytes)),
        trees: Some(read.ensemble),
    };
    imported.save_atomic(&args.out)?;
    log.info(&format!(
        "Imported {} ({} {}: {}) into {}: {} features, {summary}",
        args.path,
        model.producer_name,
        model.producer_version,
        read.operators.join(" -> "),
        args.out,
        read.width
    ));
    Ok(())
}

/// Reads the whole file at `path`, refusing one larger than a model file may be.
fn read_limited(path: &str) -> Result<Vec<u8>> {
    let file = File::open(path).map_err(|e| Error::io(path, "open", e))?;
    let mut bytes = Vec::new();
    file.take(MAX_PAYLOAD + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, "read", e))?;
    if bytes.len() as u64 > MAX_PAYLOAD {
        return Err(Error::model(
            path,
            format!("the ONNX file is over the {MAX_PAYLOAD}-byte limit of a model file"),
        ));
    }
    Ok(bytes)
}

/// Decodes the protobuf of an ONNX model.
fn decode(path: &str, bytes: &[u8]) -> Result<onnx::ModelProto> {
    if bytes.is_empty() {
        return Err(Error::model(path, "the file is empty"));
    }
    onnx::ModelProto::decode(bytes).map_err(|e| {
        Error::model(
            path,
            format!("not an ONNX model, or a truncated one: the protobuf does not decode ({e})"),
        )
    })
}

/// Refuses a node whose domain the model imports no operator set of: the file is truncated or
/// not what it claims, and the operators' meaning is unknown.
fn check_opsets(
    model: &onnx::ModelProto,
    graph: &onnx::GraphProto,
) -> std::result::Result<(), String> {
    for (index, node) in graph.node.iter().enumerate() {
        if !model.opset_import.iter().any(|o| o.domain == node.domain) {
            let domain = linear::domain_name(&node.domain);
            return Err(format!(
                "node {index} ({}, domain {domain}): the model imports no operator set of \
                 domain {domain}; the file is truncated or malformed",
                node.op_type
            ));
        }
    }
    Ok(())
}

/// The model's feature names: `--features`, one per column of the graph's `input` of `p`.
fn feature_names(args: &ImportArgs, input: &str, p: usize) -> Result<Vec<String>> {
    let Some(features) = &args.features else {
        return Err(Error::Usage(format!(
            "{}: the ONNX input {} is one tensor of {p} columns with no names; name them with \
             --features A,B,... ({p} names, in the order of the columns)",
            args.path, input
        )));
    };
    if features.len() != p {
        return Err(Error::Usage(format!(
            "--features names {} columns, but the ONNX input {} of {} has {p}; give {p} names",
            features.len(),
            input,
            args.path
        )));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(twice) = features.iter().find(|f| !seen.insert(f.as_str())) {
        return Err(Error::Usage(format!(
            "--features names {twice} twice; each column needs its own name"
        )));
    }
    if let Some(empty) = features.iter().position(String::is_empty) {
        return Err(Error::Usage(format!(
            "--features: name {} is empty; give every column a name",
            empty + 1
        )));
    }
    Ok(features.clone())
}
