//! `batch_inference inspect`: what a model file holds, as text for people or as the JSON of
//! [`ModelSummary`] for tools (the heart of the `metadata.json` that `train` writes too).

use crate::cli::InspectArgs;
use crate::error::{Error, Result};
use crate::model::summary::{ModelSummary, Parameters};
use crate::model::{FitMetrics, ModelFile, Solver, FORMAT_VERSION};

/// How `model` was fitted, in one line for people.
fn render_solver(model: &ModelFile) -> String {
    match model.solver {
        Solver::Qr => "least squares by QR (linfa-linear)".into(),
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
    use crate::model::summary::SolverSummary;
    use crate::model::Algorithm;

    #[test]
    fn each_solver_is_described_and_convergence_follows_tol() {
        let mut model = crate::testing::model(&["a"], &[1.0], 0.0);
        let cases = [
            (Solver::Qr, "least squares by QR (linfa-linear)"),
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
