//! `batch_inference train`: read a CSV through the scorer's own reader, fit ordinary least
//! squares with linfa-linear, and write the model file and `metadata.json`, both atomically.

use std::io::{self, Read};
use std::path::Path;
use std::time::SystemTime;

use linfa::prelude::*;
use linfa_linear::LinearRegression;
use ndarray::{s, Array1, Array2, Axis};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::atomic::write_atomic;
use crate::batch::{display_name, open_input, Batch, BatchReader};
use crate::cli::TrainArgs;
use crate::error::{Error, Location, Result};
use crate::inspect::ModelSummary;
use crate::log::{utc_timestamp, Logger};
use crate::model::{Algorithm, FitMetrics, ModelFile};
use crate::score::predict_into;

/// A reader that hashes what passes through it, so the training file is read once.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// A whole data set in memory: features and target, with the input's SHA-256.
struct Table {
    x: Array2<f64>,
    y: Array1<f64>,
    sha256: String,
}

/// Reads `path`'s `features` and `target` columns whole, through the batch reader.
fn read_table(
    path: &str,
    features: Option<&[String]>,
    target: &str,
) -> Result<(Vec<String>, Table)> {
    let input = HashingReader {
        inner: open_input(path)?,
        hasher: Sha256::new(),
    };
    let mut reader = BatchReader::new(path, input)?;
    let header = reader.header();
    let name = display_name(path);
    if header.position(target).is_none() {
        header.resolve(&[target.to_string()], "target")?;
    }
    let features: Vec<String> = match features {
        Some(list) => list.to_vec(),
        None => header
            .names()
            .iter()
            .filter(|n| *n != target)
            .cloned()
            .collect(),
    };
    if features.is_empty() {
        return Err(Error::data(
            Location::line(name, 1),
            "no feature columns besides the target",
        ));
    }
    if features.iter().any(|f| f == target) {
        return Err(Error::Usage(format!(
            "--features names the target column {target}; a model cannot use its own target"
        )));
    }
    let mut columns = features.clone();
    columns.push(target.to_string());
    reader.select(&columns, "feature", None)?;

    let mut values: Vec<f64> = Vec::new();
    let mut batch = Batch::new(4096, columns.len());
    loop {
        let n = reader.read_batch(&mut batch)?;
        if n == 0 {
            break;
        }
        values.extend(batch.x.slice(s![..n, ..]).iter());
    }
    let rows = values.len() / columns.len();
    let all = Array2::from_shape_vec((rows, columns.len()), values).expect("rows × columns values");
    let (x, y) = all.view().split_at(Axis(1), features.len());
    let sha256 = hex(&reader.into_inner().hasher.finalize());
    Ok((
        features,
        Table {
            x: x.to_owned(),
            y: y.column(0).to_owned(),
            sha256,
        },
    ))
}

/// Mean squared error and R² of `coefficients`/`intercept` on a table, as scikit-learn defines
/// them (`r2_score`: 1 when a constant target is predicted exactly, 0 otherwise).
fn metrics(table: &Table, coefficients: &Array1<f64>, intercept: f64) -> FitMetrics {
    let mut predictions = Array1::zeros(table.y.len());
    predict_into(
        table.x.view(),
        coefficients,
        intercept,
        predictions.view_mut(),
    );
    let n = table.y.len() as f64;
    let ss_res: f64 = predictions
        .iter()
        .zip(&table.y)
        .map(|(p, y)| (y - p) * (y - p))
        .sum();
    let mean = table.y.sum() / n;
    let ss_tot: f64 = table.y.iter().map(|y| (y - mean) * (y - mean)).sum();
    let r2 = if ss_tot > 0.0 {
        1.0 - ss_res / ss_tot
    } else if ss_res == 0.0 {
        1.0
    } else {
        0.0
    };
    FitMetrics {
        rows: table.y.len() as u64,
        mse: ss_res / n,
        r2,
    }
}

/// What `metadata.json` holds: the model's summary plus where and when it was made.
#[derive(Serialize)]
struct Metadata<'a> {
    #[serde(flatten)]
    summary: ModelSummary<'a>,
    training_data: &'a str,
    holdout_data: Option<&'a str>,
    holdout_sha256: Option<&'a str>,
    created_at: String,
    created_by: String,
}

/// Runs `train`.
pub fn train(args: &TrainArgs, log: &Logger) -> Result<()> {
    log.info(&format!(
        "Loading training data from: {}",
        display_name(&args.data)
    ));
    let (features, train) = read_table(&args.data, args.features.as_deref(), &args.target)?;
    let needed = features.len() + 1;
    if train.y.len() < needed {
        return Err(Error::data(
            Location::file(display_name(&args.data)),
            format!(
                "{} rows are too few to fit {} features and an intercept; need at least {needed}",
                train.y.len(),
                features.len()
            ),
        ));
    }
    let holdout = match &args.holdout {
        Some(path) => {
            log.info(&format!(
                "Loading holdout data from: {}",
                display_name(path)
            ));
            let (_, table) = read_table(path, Some(&features), &args.target)?;
            if table.y.is_empty() {
                return Err(Error::data(
                    Location::file(display_name(path)),
                    "the holdout file has no rows",
                ));
            }
            Some(table)
        }
        None => None,
    };

    log.info(&format!(
        "Fitting ols on {} rows, {} features...",
        train.y.len(),
        features.len()
    ));
    let dataset = Dataset::new(train.x.clone(), train.y.clone());
    let fitted = LinearRegression::new().fit(&dataset).map_err(|e| {
        Error::data(
            Location::file(display_name(&args.data)),
            format!("cannot fit: {e}"),
        )
    })?;
    let coefficients = fitted.params().clone();
    let intercept = fitted.intercept();
    if !coefficients.iter().all(|c| c.is_finite()) || !intercept.is_finite() {
        return Err(Error::data(
            Location::file(display_name(&args.data)),
            "the fit gave non-finite coefficients: are some feature columns constant or copies of others?",
        ));
    }

    let model = ModelFile {
        algorithm: Algorithm::Ols,
        target: args.target.clone(),
        features,
        train: metrics(&train, &coefficients, intercept),
        holdout: holdout
            .as_ref()
            .map(|h| metrics(h, &coefficients, intercept)),
        coefficients: coefficients.to_vec(),
        intercept,
        training_sha256: train.sha256.clone(),
    };
    model.save_atomic(&args.out)?;

    let metadata_path = Path::new(&args.out).with_file_name("metadata.json");
    let metadata_path = metadata_path.to_string_lossy();
    let metadata = Metadata {
        summary: ModelSummary::new(&model),
        training_data: display_name(&args.data),
        holdout_data: args.holdout.as_deref().map(display_name),
        holdout_sha256: holdout.as_ref().map(|h| h.sha256.as_str()),
        created_at: utc_timestamp(created_at()),
        created_by: format!("batch_inference {}", env!("CARGO_PKG_VERSION")),
    };
    let mut json = serde_json::to_string_pretty(&metadata).expect("metadata always serializes");
    json.push('\n');
    write_atomic(&metadata_path, json.as_bytes())?;

    let holdout_r2 = model
        .holdout
        .map_or(String::new(), |h| format!(", holdout R² {:.4}", h.r2));
    log.info(&format!(
        "Wrote {} and {metadata_path} (train R² {:.4}{holdout_r2})",
        args.out, model.train.r2
    ));
    Ok(())
}

/// Now, or `SOURCE_DATE_EPOCH` when set, so a rebuild can reproduce `metadata.json` exactly.
fn created_at() -> SystemTime {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map_or_else(SystemTime::now, |secs| {
            SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs)
        })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn r2_follows_scikit_learn_for_perfect_and_constant_fits() {
        let table = Table {
            x: array![[1.0], [2.0], [3.0]],
            y: array![3.0, 5.0, 7.0],
            sha256: String::new(),
        };
        let perfect = metrics(&table, &array![2.0], 1.0);
        assert_eq!((perfect.mse, perfect.r2), (0.0, 1.0));
        let off = metrics(&table, &array![2.0], 2.0);
        assert_eq!((off.mse, off.r2), (1.0, 1.0 - 3.0 / 8.0));
    }

    #[test]
    fn hex_is_lower_case_and_two_digits_a_byte() {
        assert_eq!(hex(&[0, 15, 255]), "000fff");
    }
}
