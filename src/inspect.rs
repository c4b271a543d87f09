//! `batch_inference inspect`: what a model file holds, as text for people or JSON for tools.
//! The JSON is also the heart of the `metadata.json` that `train` writes beside a model.

use serde::Serialize;

use crate::cli::InspectArgs;
use crate::error::{Error, Result};
use crate::model::{CrossValidation, FitMetrics, ModelFile, Solver, FORMAT_VERSION};

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
    /// SHA-256 (hex) of the training file.
    pub training_sha256: &'a str,
}

impl<'a> ModelSummary<'a> {
    /// Describes `model`.
    pub fn new(model: &'a ModelFile) -> ModelSummary<'a> {
        ModelSummary {
            format_version: FORMAT_VERSION,
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
    fn render(&self) -> String {
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
/// rank), `cholesky`, `eigh-cholesky` (least squares from X'X below full rank) or
/// `coordinate-descent`.
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
fn full_rank(model: &ModelFile, rank: u32) -> bool {
    rank as usize == model.features.len()
}

/// How `model` was fitted, in one line for people.
fn render_solver(model: &ModelFile) -> String {
    let p = model.features.len();
    let streamed = ", from X'X and X'y accumulated batch by batch";
    match model.solver {
        Solver::Qr => "least squares by QR (linfa-linear), rank not recorded".into(),
        Solver::LeastSquares { rank } if full_rank(model, rank) => {
            format!("least squares by QR (linfa-linear), rank {rank} of {p}")
        }
        Solver::LeastSquares { rank } => {
            format!("minimum-norm least squares by SVD, rank {rank} of {p}")
        }
        Solver::NormalEquations { rank, streamed: s } => format!(
            "{}, rank {rank} of {p}{}",
            if full_rank(model, rank) {
                "normal equations by Cholesky"
            } else {
                "minimum-norm normal equations (null space by eigendecomposition, then Cholesky)"
            },
            if s { streamed } else { "" }
        ),
        Solver::Cholesky { streamed: true } => {
            "normal equations by Cholesky, from X'X and X'y accumulated batch by batch".into()
        }
        Solver::Cholesky { streamed: false } => "normal equations by Cholesky".into(),
        Solver::CoordinateDescent {
            iterations,
            duality_gap,
        } => {
            let verdict = match model.solver.converged(model.algorithm) {
                Some(true) => "converged",
                _ => "did not converge",
            };
            format!(
                "coordinate descent (linfa-elasticnet), {iterations} iterations, duality gap \
                 {duality_gap:.2e} of ||y - mean(y)||² ({verdict})"
            )
        }
    }
}

/// Runs `inspect`: prints the description to standard output.
pub fn inspect(args: &InspectArgs) -> Result<()> {
    let (model, version) = ModelFile::load_versioned(&args.model)?;
    let text = if args.json {
        let summary = ModelSummary {
            format_version: version,
            ..ModelSummary::new(&model)
        };
        let mut text = serde_json::to_string_pretty(&summary).expect("a summary always serializes");
        text.push('\n');
        text
    } else {
        render(&args.model, &model, version)
    };
    use std::io::Write;
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(|e| Error::io("<stdout>", "write", e))
}

/// The text form of `inspect`, of a model read from a file of format `version`.
pub fn render(path: &str, model: &ModelFile, version: u32) -> String {
    let width = model
        .features
        .iter()
        .map(String::len)
        .max()
        .unwrap_or(0)
        .max(9);
    let mut out = String::new();
    out += &format!("model:          {path}\n");
    out += &format!("format version: {version}\n");
    out += &format!("algorithm:      {}\n", model.algorithm.name());
    out += &format!("parameters:     {}\n", Parameters::new(model).render());
    out += &format!("solver:         {}\n", render_solver(model));
    out += &format!("target:         {}\n", model.target);
    out += &format!("training data:  sha256 {}\n", model.training_sha256);
    out += &format!("features:       {}\n", model.features.len());
    for (name, coef) in model.features.iter().zip(&model.coefficients) {
        out += &format!("  {name:<width$}  {coef:>24}\n");
    }
    out += &format!("  {:<width$}  {:>24}\n", "intercept", model.intercept);
    out += "metrics:\n";
    let line = |label: &str, m: &FitMetrics| {
        format!(
            "  {label:<8} rows {:<8} mse {:<22} r2 {}\n",
            m.rows, m.mse, m.r2
        )
    };
    out += &line("train", &model.train);
    if let Some(h) = &model.holdout {
        out += &line("holdout", h);
    }
    if let Some(cv) = &model.cv {
        out += &format!(
            "  {:<8} folds {:<7} mse {:<22} r2 {}   (means over the folds)\n",
            "cv",
            cv.folds.len(),
            cv.mse,
            cv.r2
        );
        for (i, fold) in cv.folds.iter().enumerate() {
            out += &line(&format!("  fold {}", i + 1), fold);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Algorithm;

    #[test]
    fn each_solver_is_described_and_convergence_follows_tol() {
        let mut model = crate::testing::model(&["a"], &[1.0], 0.0);
        let cases = [
            (
                Solver::Qr,
                "least squares by QR (linfa-linear), rank not recorded",
            ),
            (
                Solver::LeastSquares { rank: 1 },
                "least squares by QR (linfa-linear), rank 1 of 1",
            ),
            (
                Solver::LeastSquares { rank: 0 },
                "minimum-norm least squares by SVD, rank 0 of 1",
            ),
            (
                Solver::NormalEquations {
                    rank: 0,
                    streamed: true,
                },
                "minimum-norm normal equations (null space by eigendecomposition, then \
                 Cholesky), rank 0 of 1, from X'X and X'y accumulated batch by batch",
            ),
            (
                Solver::Cholesky { streamed: false },
                "normal equations by Cholesky",
            ),
            (
                Solver::Cholesky { streamed: true },
                "normal equations by Cholesky, from X'X and X'y accumulated batch by batch",
            ),
        ];
        for (solver, text) in cases {
            model.solver = solver;
            assert_eq!(render_solver(&model), text);
            assert_eq!(SolverSummary::new(&model).converged, None);
        }
        model.algorithm = Algorithm::Lasso {
            alpha: 0.1,
            tol: 1e-4,
            max_iter: 50,
        };
        for (gap, verdict) in [(5e-5, "converged"), (1e-4, "did not converge")] {
            model.solver = Solver::CoordinateDescent {
                iterations: 7,
                duality_gap: gap,
            };
            assert_eq!(
                render_solver(&model),
                format!(
                    "coordinate descent (linfa-elasticnet), 7 iterations, duality gap {gap:.2e} \
                     of ||y - mean(y)||² ({verdict})"
                )
            );
            let summary = SolverSummary::new(&model);
            assert_eq!(summary.converged, Some(verdict == "converged"));
        }
    }
}
