//! `batch_inference inspect`: what a model file holds, as text for people or as the JSON of
//! [`ModelSummary`] for tools (the heart of the `metadata.json` that `train` writes too).

use crate::cli::InspectArgs;
use crate::error::{Error, Result};
use crate::model::summary::{full_rank, ModelSummary, Parameters};
use crate::model::trees::{Aggregate, TreeEnsemble};
use crate::model::{FitMetrics, LoadedModel, ModelFile, Solver, Source};

/// How `model` was fitted, in one line for people.
fn render_solver(model: &ModelFile) -> String {
    let p = model.features.len();
    let streamed = ", from X'X and X'y accumulated batch by batch";
    match model.solver {
        Solver::Folded => {
            "not fitted here: weights and intercept folded in f64 from the imported graph".into()
        }
        Solver::Trees => "not fitted here: trees read from the imported graph".into(),
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

/// A tree ensemble, as lines of `inspect`: the features its branches test, then its shape.
fn render_trees(model: &ModelFile, trees: &TreeEnsemble) -> String {
    let used = trees.features_used();
    let names: Vec<&str> = used.iter().map(|&j| model.features[j].as_str()).collect();
    let mut out = format!(
        "  used by the trees: {} of {}: {}\n",
        used.len(),
        model.features.len(),
        names.join(", ")
    );
    let aggregate = match trees.aggregate {
        Aggregate::Sum => "sum",
        Aggregate::Average => "average",
    };
    out += "kind:           tree ensemble\n";
    out += &format!("trees:          {}\n", trees.trees());
    out += &format!("max depth:      {}\n", trees.max_depth());
    out += &format!("leaves:         {}\n", trees.leaves());
    out += &format!(
        "aggregate:      {aggregate} of the leaves, plus {}\n",
        trees.base
    );
    out += &format!(
        "comparisons:    {}\n",
        if trees.float_features {
            "features rounded to float32 first"
        } else {
            "features as float64"
        }
    );
    out
}

/// Where an imported model came from, as lines of `inspect`.
fn render_source(source: &Source) -> String {
    let opsets: Vec<String> = source
        .distinct_opsets()
        .iter()
        .map(|o| format!("{} {}", o.domain, o.version))
        .collect();
    let mut out = format!(
        "imported from:  {}, written by {} {}\n",
        source.format, source.producer_name, source.producer_version
    );
    out += &format!("opsets:         {}\n", opsets.join(", "));
    out += &format!("graph:          {}\n", source.operators.join(" -> "));
    out += &format!("{} file:      sha256 {}\n", source.format, source.sha256);
    out
}

/// Runs `inspect`: prints the description to standard output.
pub fn inspect(args: &InspectArgs) -> Result<()> {
    let LoadedModel { model, version, .. } = ModelFile::load(&args.model)?;
    let text = if args.json {
        let summary = ModelSummary::new(&model, version);
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
    match &model.source {
        Some(source) => out += &render_source(source),
        None => out += &format!("training data:  sha256 {}\n", model.training_sha256),
    }
    out += &format!("features:       {}\n", model.features.len());
    if let Some(trees) = &model.trees {
        out += &render_trees(model, trees);
    } else {
        for (name, coef) in model.features.iter().zip(&model.coefficients) {
            out += &format!("  {name:<width$}  {coef:>24}\n");
        }
        out += &format!("  {:<width$}  {:>24}\n", "intercept", model.intercept);
    }
    if model.source.is_some() {
        out += "metrics:        none (imported, not fitted here)\n";
        return out;
    }
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
    use crate::model::summary::SolverSummary;
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
