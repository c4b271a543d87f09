//! `batch_inference import`: an ONNX file of a linear regressor or a tree ensemble (as skl2onnx
//! and onnxmltools write them), or an MLflow model directory holding one, into our model file,
//! scored then by the same predictor as a trained model.
//!
//! - [`onnx`]: the protobuf messages, hand-written for prost.
//! - [`mlflow`]: an MLflow model directory's `MLmodel`: the ONNX file and the signature.
//! - [`graph`]: what every graph must be (names used once, topological order).
//! - [`inputs`]: one input per column, merged by a Concat, folded into one input.
//! - [`linear`]: the graph folded into weights and an intercept, or refused by operator.
//! - [`trees`]: a graph around one tree ensemble regressor, read into our tree layout.
//!
//! The feature names come from the graph's inputs when there is one per column, else from an
//! MLflow signature of columns, else from `--features` (an input of shape `[N, p]` has none).
//! The model records where it came from ([`Source`]). [`convert`] does the whole import of
//! bytes in memory (the fuzzer calls it); [`import`] adds the files around it.

pub mod graph;
pub mod inputs;
pub mod linear;
pub mod mlflow;
pub mod names;
pub mod onnx;
pub mod sniff;
pub mod trees;

use std::fs::File;
use std::io::Read;
use std::path::Path;

use prost::Message;
use sha2::{Digest, Sha256};

use crate::cli::ImportArgs;
use crate::error::{Error, Result};
use crate::log::Logger;
use crate::model::{Algorithm, FitMetrics, ModelFile, Opset, Solver, Source, MAX_PAYLOAD};
use crate::paths::Paths;

/// Runs `import`.
pub fn import(args: &ImportArgs, log: &Logger) -> Result<()> {
    if args.path == "-" {
        return Err(Error::Usage(
            "import -: a model is not read from standard input; give the path of the ONNX file \
             or MLflow model directory (a pipe works too: import <(cat model.onnx))"
                .into(),
        ));
    }
    check_out(&args.out)?;
    let mlflow = if Path::new(&args.path).is_dir() {
        Some(mlflow::read(&args.path)?)
    } else {
        None
    };
    let onnx_path = mlflow
        .as_ref()
        .map_or(args.path.as_str(), |m| m.onnx.as_str());
    // Before anything is written: the output may not be an input.
    Paths::new()
        .input("the ONNX file", onnx_path)
        .input(
            "the MLflow model file",
            mlflow.as_ref().map(|m| m.mlmodel.as_str()),
        )
        .output("--out", args.out.as_str(), "write the model elsewhere")
        .check()?;
    let bytes = read_limited(onnx_path)?;
    let given = names::Given {
        features: args.features.as_deref(),
        signature: mlflow
            .as_ref()
            .and_then(|m| m.signature.as_ref().map(|s| (m.mlmodel.as_str(), s))),
    };
    let imported = convert(onnx_path, &bytes, &given)?;
    imported.save_atomic(&args.out)?;
    let source = imported.source.as_ref().expect("convert sets the source");
    let trees = match &imported.trees {
        Some(trees) => format!(", {} trees, max depth {}", trees.trees(), trees.max_depth()),
        None => String::new(),
    };
    log.info(&format!(
        "Imported {} ({} {}: {}) into {}: {} features{trees}",
        args.path,
        source.producer_name,
        source.producer_version,
        source.operators.join(" -> "),
        args.out,
        imported.features.len()
    ));
    Ok(())
}

/// Imports the ONNX model in `bytes` (read from `path`, which messages name), with the feature
/// names `given` beside it: a model, or a model error (exit 4) for a file we cannot represent,
/// or a usage error (exit 2) for names that are missing or disagree with the model's own.
pub fn convert(path: &str, bytes: &[u8], given: &names::Given) -> Result<ModelFile> {
    let model = decode(path, bytes)?;
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| Error::model(path, "the ONNX model has no graph"))?;
    check_opsets(&model, graph).map_err(|m| Error::model(path, m))?;
    graph::check(graph).map_err(|m| Error::model(path, m))?;
    let columns = inputs::merge(graph).map_err(|m| Error::model(path, m))?;
    if trees::is_tree_graph(&columns.graph) {
        let read = trees::read(&columns.graph).map_err(|m| Error::model(path, m))?;
        let features = names::choose(path, &read.input, read.width, columns.names, given)?;
        return Ok(ModelFile {
            solver: Solver::Trees,
            target: read.output.clone(),
            features,
            coefficients: Vec::new(),
            intercept: 0.0,
            source: Some(source_of(&model, read.operators, bytes)),
            trees: Some(read.ensemble),
            ..imported_model()
        });
    }
    let folded = linear::fold(&columns.graph).map_err(|m| Error::model(path, m))?;
    let p = folded.weights.len();
    let features = names::choose(path, &folded.input, p, columns.names, given)?;
    check_finite(path, &folded, &features)?;
    Ok(ModelFile {
        solver: Solver::Folded,
        target: folded.output.clone(),
        features,
        source: Some(source_of(&model, folded.operators.clone(), bytes)),
        coefficients: folded.weights,
        intercept: folded.intercept,
        ..imported_model()
    })
}

/// What every imported model shares: nothing was fitted here, so nothing was measured.
fn imported_model() -> ModelFile {
    ModelFile {
        algorithm: Algorithm::Imported,
        standardize: false,
        solver: Solver::Folded,
        target: String::new(),
        features: Vec::new(),
        coefficients: Vec::new(),
        intercept: 0.0,
        train: FitMetrics {
            rows: 0,
            mse: f64::NAN,
            r2: f64::NAN,
        },
        holdout: None,
        cv: None,
        training_sha256: String::new(),
        source: None,
        trees: None,
    }
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

/// Reads the whole file at `path`, refusing one larger than a model file may be.
fn read_limited(path: &str) -> Result<Vec<u8>> {
    let bytes = if crate::store::is_url(path) {
        crate::store::get::read_to_limit(path, MAX_PAYLOAD)?
    } else {
        let file = File::open(path).map_err(|e| Error::io(path, "open", e))?;
        let mut bytes = Vec::new();
        file.take(MAX_PAYLOAD + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(path, "read", e))?;
        bytes
    };
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
    if let Some(hint) = sniff::hint(bytes) {
        return Err(Error::model(path, format!("not an ONNX model: {hint}")));
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
        // `""` and `ai.onnx` are two names of the default domain.
        let domain = linear::domain_name(&node.domain);
        if !model
            .opset_import
            .iter()
            .any(|o| linear::domain_name(&o.domain) == domain)
        {
            return Err(format!(
                "node {index} ({}, domain {domain}): the model imports no operator set of \
                 domain {domain}; the file is truncated or malformed",
                node.op_type
            ));
        }
    }
    Ok(())
}

/// Refuses weights or an intercept that folded into infinity or NaN (a scale of zero, or
/// constants that overflow): scoring with them would print no number.
fn check_finite(path: &str, folded: &linear::Folded, features: &[String]) -> Result<()> {
    let problem = match folded.weights.iter().position(|w| !w.is_finite()) {
        Some(j) => format!(
            "the graph folds into a weight of {} for column {}",
            folded.weights[j], features[j]
        ),
        None if !folded.intercept.is_finite() => {
            format!("the graph folds into an intercept of {}", folded.intercept)
        }
        None => return Ok(()),
    };
    Err(Error::model(
        path,
        format!("{problem}, not a finite number: a scale of zero, or constants that overflow"),
    ))
}

/// Refuses an `--out` that cannot be a model file: standard output (`-`: the model is binary,
/// and written whole) or a directory.
fn check_out(out: &str) -> Result<()> {
    if out == "-" {
        return Err(Error::Usage(
            "--out -: import writes the model to a file, not to standard output; give a path \
             such as model.bin"
                .into(),
        ));
    }
    if Path::new(out).is_dir() {
        return Err(Error::Usage(format!(
            "--out {out} is a directory; give the model file's path, such as {}",
            Path::new(out).join("model.bin").display()
        )));
    }
    Ok(())
}
