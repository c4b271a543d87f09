//! `batch_inference inspect`: what a model file holds, as text for people or JSON for tools.
//! The JSON is also the heart of the `metadata.json` that `train` writes beside a model.

use serde::Serialize;

use crate::cli::InspectArgs;
use crate::error::{Error, Result};
use crate::model::{FitMetrics, ModelFile, FORMAT_VERSION};

/// A model file described for people and tools.
#[derive(Debug, Serialize)]
pub struct ModelSummary<'a> {
    /// The model file format version.
    pub format_version: u32,
    /// The estimator's short name.
    pub algorithm: &'static str,
    /// The target column.
    pub target: &'a str,
    /// Feature names, in coefficient order.
    pub features: &'a [String],
    /// Coefficients, one per feature.
    pub coefficients: &'a [f64],
    /// The intercept.
    pub intercept: f64,
    /// Metrics on the training data.
    pub train: FitMetrics,
    /// Metrics on the holdout data, if any.
    pub holdout: Option<FitMetrics>,
    /// SHA-256 (hex) of the training file.
    pub training_sha256: &'a str,
}

impl<'a> ModelSummary<'a> {
    /// Describes `model`.
    pub fn new(model: &'a ModelFile) -> ModelSummary<'a> {
        ModelSummary {
            format_version: FORMAT_VERSION,
            algorithm: model.algorithm.name(),
            target: &model.target,
            features: &model.features,
            coefficients: &model.coefficients,
            intercept: model.intercept,
            train: model.train,
            holdout: model.holdout,
            training_sha256: &model.training_sha256,
        }
    }
}

/// Runs `inspect`: prints the description to standard output.
pub fn inspect(args: &InspectArgs) -> Result<()> {
    let model = ModelFile::load(&args.model)?;
    let text = if args.json {
        let mut text = serde_json::to_string_pretty(&ModelSummary::new(&model))
            .expect("a summary always serializes");
        text.push('\n');
        text
    } else {
        render(&args.model, &model)
    };
    use std::io::Write;
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(|e| Error::io("<stdout>", "write", e))
}

/// The text form of `inspect`.
pub fn render(path: &str, model: &ModelFile) -> String {
    let width = model
        .features
        .iter()
        .map(String::len)
        .max()
        .unwrap_or(0)
        .max(9);
    let mut out = String::new();
    out += &format!("model:          {path}\n");
    out += &format!("format version: {FORMAT_VERSION}\n");
    out += &format!("algorithm:      {}\n", model.algorithm.name());
    out += &format!("target:         {}\n", model.target);
    out += &format!("training data:  sha256 {}\n", model.training_sha256);
    out += &format!("features:       {}\n", model.features.len());
    for (name, coef) in model.features.iter().zip(&model.coefficients) {
        out += &format!("  {name:<width$}  {coef:>24}\n");
    }
    out += &format!("  {:<width$}  {:>24}\n", "intercept", model.intercept);
    out += "metrics:\n";
    let mut metrics = |label: &str, m: &FitMetrics| {
        out += &format!(
            "  {label:<8} rows {:<8} mse {:<22} r2 {}\n",
            m.rows, m.mse, m.r2
        );
    };
    metrics("train", &model.train);
    if let Some(h) = &model.holdout {
        metrics("holdout", h);
    }
    out
}
