//! What a model file is, described for people and tools: the summary that `inspect --json`
//! prints and `train` writes into `metadata.json`.

use serde::Serialize;

use crate::model::{CrossValidation, FitMetrics, ModelFile, Solver, Source};

/// A model file described for people and tools.
#[derive(Debug, Serialize)]
pub struct ModelSummary<'a> {
    /// The model file format version.
    pub format_version: u32,
    /// The estimator's short name.
    pub algorithm: &'static str,
    /// The estimator's parameters.
    pub parameters: Parameters,
    /// How the coefficients were computed.
    pub solver: SolverSummary,
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
    /// Cross-validation metrics, if asked for.
    pub cv: Option<&'a CrossValidation>,
    /// SHA-256 (hex) of the training file; empty for an imported model.
    pub training_sha256: &'a str,
    /// Where an imported model came from, each operator set once; absent for a model `train`
    /// fitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
}

impl<'a> ModelSummary<'a> {
    /// Describes `model`, read from (or to be written in) a file of format `version`.
    pub fn new(model: &'a ModelFile, version: u32) -> ModelSummary<'a> {
        ModelSummary {
            format_version: version,
            algorithm: model.algorithm.name(),
            parameters: Parameters::new(model),
            solver: SolverSummary::new(model),
            target: &model.target,
            features: &model.features,
            coefficients: &model.coefficients,
            intercept: model.intercept,
            train: model.train,
            holdout: model.holdout,
            cv: model.cv.as_ref(),
            training_sha256: &model.training_sha256,
            source: model.source.as_ref().map(|source| Source {
                opsets: source.distinct_opsets(),
                ..source.clone()
            }),
        }
    }
}

/// An estimator's parameters, named as scikit-learn names them; those an algorithm does not
/// have are left out.
#[derive(Debug, Serialize)]
pub struct Parameters {
    /// Penalty weight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    /// The L1 share of the penalty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub l1_ratio: Option<f64>,
    /// Coordinate descent's tolerance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tol: Option<f64>,
    /// Coordinate descent's iteration limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_iter: Option<u32>,
    /// Whether the features were standardized for fitting.
    pub standardize: bool,
}

impl Parameters {
    /// The parameters of `model`.
    pub fn new(model: &ModelFile) -> Parameters {
        let stopping = model.algorithm.stopping();
        Parameters {
            alpha: model.algorithm.alpha(),
            l1_ratio: model.algorithm.l1_ratio(),
            tol: stopping.map(|(tol, _)| tol),
            max_iter: stopping.map(|(_, max_iter)| max_iter),
            standardize: model.standardize,
        }
    }

    /// `alpha 0.1, l1_ratio 0.5, …, standardize false`.
    pub fn render(&self) -> String {
        let mut parts = Vec::new();
        if let Some(alpha) = self.alpha {
            parts.push(format!("alpha {alpha}"));
        }
        if let Some(l1_ratio) = self.l1_ratio {
            parts.push(format!("l1_ratio {l1_ratio}"));
        }
        if let Some(tol) = self.tol {
            parts.push(format!("tol {tol:e}"));
        }
        if let Some(max_iter) = self.max_iter {
            parts.push(format!("max_iter {max_iter}"));
        }
        parts.push(format!("standardize {}", self.standardize));
        parts.join(", ")
    }
}

/// How the coefficients were computed, for tools: `method` is `qr`, `svd` (ols below full
/// rank), `cholesky`, `eigh-cholesky` (least squares from X'X below full rank),
/// `coordinate-descent`, `folded` (an imported linear graph) or `trees` (an imported tree
/// ensemble).
#[derive(Debug, Serialize)]
pub struct SolverSummary {
    /// The method.
    pub method: &'static str,
    /// Least squares: the rank of the centered features (absent from format version 1 files).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rank: Option<u32>,
    /// Cholesky: whether the statistics were accumulated batch by batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub streamed: Option<bool>,
    /// Coordinate descent: passes over the features.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iterations: Option<u32>,
    /// Coordinate descent: the last duality gap relative to `‖y − ȳ‖²`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duality_gap: Option<f64>,
    /// Coordinate descent: whether the gap got below `tol`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub converged: Option<bool>,
}

impl SolverSummary {
    /// How `model` was fitted.
    pub fn new(model: &ModelFile) -> SolverSummary {
        let none = SolverSummary {
            method: "qr",
            rank: model.solver.rank(),
            streamed: None,
            iterations: None,
            duality_gap: None,
            converged: None,
        };
        match model.solver {
            Solver::Qr => none,
            Solver::Folded => SolverSummary {
                method: "folded",
                ..none
            },
            Solver::Trees => SolverSummary {
                method: "trees",
                ..none
            },
            Solver::LeastSquares { rank } => SolverSummary {
                method: if full_rank(model, rank) { "qr" } else { "svd" },
                ..none
            },
            Solver::NormalEquations { rank, streamed } => SolverSummary {
                method: if full_rank(model, rank) {
                    "cholesky"
                } else {
                    "eigh-cholesky"
                },
                streamed: Some(streamed),
                ..none
            },
            Solver::Cholesky { streamed } => SolverSummary {
                method: "cholesky",
                streamed: Some(streamed),
                ..none
            },
            Solver::CoordinateDescent {
                iterations,
                duality_gap,
            } => SolverSummary {
                method: "coordinate-descent",
                iterations: Some(iterations),
                duality_gap: Some(duality_gap),
                converged: model.solver.converged(model.algorithm),
                ..none
            },
        }
    }
}

/// Whether a least-squares `rank` is that of `model`'s features.
pub fn full_rank(model: &ModelFile, rank: u32) -> bool {
    rank as usize == model.features.len()
}
