//! Scoring: the whole data path of the default command, and the one vectorized kernel.
//!
//! file -> header -> batches -> `x · w + b` -> writer, in input order, in constant memory.

use std::time::Instant;

use ndarray::{s, Array1, ArrayView2, ArrayViewMut1};

use crate::batch::{display_name, open_input, Batch, BatchReader};
use crate::cli::ScoreArgs;
use crate::error::{Error, Location, Result};
use crate::log::Logger;
use crate::model::ModelFile;
use crate::output::PredictionWriter;

/// Predicts every row of `x` into `out`: one matrix-vector product, then the intercept, in the
/// order scikit-learn's `X @ coef_ + intercept_` uses.
pub fn predict_into(
    x: ArrayView2<f64>,
    weights: &Array1<f64>,
    intercept: f64,
    mut out: ArrayViewMut1<f64>,
) {
    ndarray::linalg::general_mat_vec_mul(1.0, &x, weights, 0.0, &mut out);
    out += intercept;
}

/// Runs the default command: scores `args.data` with `args.model` into the output.
pub fn score(args: &ScoreArgs, log: &Logger) -> Result<()> {
    let started = Instant::now();
    log.info("Running inference...");
    log.info("Loading data...");
    let input = open_input(&args.data)?;
    let total_bytes = std::fs::metadata(&args.data)
        .ok()
        .map(|m| m.len())
        .filter(|_| args.data != "-");
    let mut reader = BatchReader::new(&args.data, input)?;
    log.info(&format!("Loading model from: {}", args.model));
    let model = ModelFile::load(&args.model)?;
    reader.select(&model.features, "feature", args.id_column.as_deref())?;
    let weights = Array1::from(model.coefficients.clone());
    let mut writer = PredictionWriter::create(
        args.output.as_deref(),
        args.format,
        args.id_column.as_deref(),
    )?;

    log.info("Scoring observations...");
    let mut batch = Batch::new(args.batch_rows as usize, model.features.len());
    let mut predictions = Array1::zeros(batch.x.nrows());
    let mut rows: u64 = 0;
    let mut progress = log.progress(total_bytes);
    loop {
        let n = reader.read_batch(&mut batch)?;
        if n == 0 {
            break;
        }
        predict_into(
            batch.x.slice(s![..n, ..]),
            &weights,
            model.intercept,
            predictions.slice_mut(s![..n]),
        );
        if let Some(i) = predictions
            .slice(s![..n])
            .iter()
            .position(|p| !p.is_finite())
        {
            return Err(Error::data(
                Location::file(display_name(&args.data)),
                format!(
                    "data row {}: the prediction overflows f64; are the values in the right units?",
                    rows + i as u64 + 1
                ),
            ));
        }
        let ids = args.id_column.as_ref().map(|_| &batch.ids);
        writer.write_batch(
            &predictions
                .as_slice()
                .expect("a fresh Array1 is contiguous")[..n],
            ids,
        )?;
        rows += n as u64;
        progress.update(rows, reader.bytes_read());
    }
    progress.finish();
    writer.finish()?;
    log.summary(
        rows,
        started.elapsed(),
        display_name(&args.data),
        args.output.as_deref(),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn a_prediction_is_the_dot_product_plus_the_intercept() {
        let x = array![[1.0, 2.0], [0.0, 0.0], [-1.0, 0.5]];
        let w = array![3.0, -1.0];
        let mut out = Array1::zeros(3);
        predict_into(x.view(), &w, 0.5, out.view_mut());
        assert_eq!(out, array![1.5, 0.5, -3.0]);
    }
}
