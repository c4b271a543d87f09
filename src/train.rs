//! `batch_inference train`: check the parameters, read a CSV through the scorer's own reader,
//! fit one of the estimators of [`crate::estimator`], optionally cross-validate, and write the
//! model file and `metadata.json`, both atomically.
//!
//! In memory, the rows are held whole. With `--streaming` (ols and ridge) only the sufficient
//! statistics are: [`Moments`] updated batch by batch, so memory does not grow with the rows.

use std::io::{self, Read};
use std::path::Path;
use std::time::SystemTime;

use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2, Axis};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::atomic::write_atomic;
use crate::cli::{AlgorithmName, TrainArgs};
use crate::error::{Error, Location, Result};
use crate::estimator::{self, Fit, Moments};
use crate::log::{utc_timestamp, Logger};
use crate::model::linear::predict_into;
use crate::model::summary::ModelSummary;
use crate::model::{Algorithm, CrossValidation, FitMetrics, ModelFile, Solver};
use crate::paths::Paths;
use crate::read::batch::Batch;
use crate::read::names::missing_columns;
use crate::read::parquet::{is_parquet, ParquetReader};
use crate::read::reader::BatchReader;
use crate::read::{display_name, open_input};
use crate::store::source::Chunks;
use crate::store::whole::WholeObject;
use crate::store::{is_prefix, is_url};

/// Rows per batch while reading training and holdout data (fewer for files wide enough that
/// these would pass the batch memory budget).
const BATCH_ROWS: usize = 4096;
/// Coordinate descent's default tolerance: tight enough that the fit is the optimum to about
/// 1e-10 relative, where scikit-learn's default 1e-4 stops up to 4e-3 away on our data.
const DEFAULT_TOL: f64 = 1e-12;
/// Coordinate descent's default iteration limit: the Boston data needs about 200 passes.
const DEFAULT_MAX_ITER: u32 = 100_000;

/// What to fit, checked: the command line turned into parameters that make sense together.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Plan {
    algorithm: Algorithm,
    standardize: bool,
    folds: Option<usize>,
    streaming: bool,
}

impl Plan {
    /// Checks the parameters; every message names the flag and how to fix it.
    fn new(args: &TrainArgs) -> Result<Plan> {
        let usage = |m: String| Err(Error::Usage(m));
        let name = args.algorithm;
        let penalized = name != AlgorithmName::Ols;
        let iterative = matches!(name, AlgorithmName::Lasso | AlgorithmName::ElasticNet);
        if args.alpha.is_some() && !penalized {
            return usage(
                "--alpha applies to ridge, lasso and elastic-net; ols has no penalty \
                 (add --algorithm ridge, for instance)"
                    .into(),
            );
        }
        if args.l1_ratio.is_some() && name != AlgorithmName::ElasticNet {
            return usage(
                "--l1-ratio applies only to --algorithm elastic-net (lasso is l1-ratio 1, \
                 ridge is l1-ratio 0)"
                    .into(),
            );
        }
        if (args.tol.is_some() || args.max_iter.is_some()) && !iterative {
            let flag = if args.tol.is_some() {
                "--tol"
            } else {
                "--max-iter"
            };
            return usage(format!(
                "{flag} applies only to lasso and elastic-net, which iterate; ols and ridge \
                 are solved exactly"
            ));
        }
        if let Some(features) = &args.features {
            let mut seen = std::collections::HashSet::new();
            if let Some(twice) = features.iter().find(|f| !seen.insert(f.as_str())) {
                return usage(format!(
                    "--features names {twice} more than once; list each feature once"
                ));
            }
        }
        let alpha = args.alpha.unwrap_or(1.0);
        if !alpha.is_finite() {
            return usage(format!("--alpha must be a finite number, got {alpha}"));
        }
        if alpha < 0.0 {
            return usage(format!("--alpha must be >= 0, got {alpha}"));
        }
        let l1_ratio = args.l1_ratio.unwrap_or(0.5);
        if !(0.0..=1.0).contains(&l1_ratio) {
            return usage(format!(
                "--l1-ratio must be between 0 and 1, got {l1_ratio}"
            ));
        }
        let tol = args.tol.unwrap_or(DEFAULT_TOL);
        if !(tol > 0.0 && tol.is_finite()) {
            return usage(format!("--tol must be a finite number > 0, got {tol}"));
        }
        let max_iter = args.max_iter.unwrap_or(DEFAULT_MAX_ITER);
        if max_iter == 0 {
            return usage("--max-iter must be at least 1, got 0".into());
        }
        let folds = match args.cv {
            None => None,
            Some(k) if k < 2 => return usage(format!("--cv must be at least 2 folds, got {k}")),
            Some(k) => Some(usize::try_from(k).unwrap_or(usize::MAX)),
        };
        if folds.is_some() && args.streaming && args.data == "-" {
            return usage(
                "--cv with --streaming reads the training file twice (once to count the rows \
                 for the folds), so --data must be a file, not standard input"
                    .into(),
            );
        }
        let algorithm = match name {
            AlgorithmName::Ols => Algorithm::Ols,
            AlgorithmName::Ridge => Algorithm::Ridge { alpha },
            AlgorithmName::Lasso => Algorithm::Lasso {
                alpha,
                tol,
                max_iter,
            },
            AlgorithmName::ElasticNet => Algorithm::ElasticNet {
                alpha,
                l1_ratio,
                tol,
                max_iter,
            },
        };
        if args.streaming && iterative {
            return usage(format!(
                "--streaming supports only ols and ridge, which are fitted from X'X and X'y; \
                 {} needs the rows in memory (drop --streaming)",
                algorithm.name()
            ));
        }
        Ok(Plan {
            algorithm,
            standardize: args.standardize,
            folds,
            streaming: args.streaming,
        })
    }

    /// The estimator and its parameters, for the log.
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(alpha) = self.algorithm.alpha() {
            parts.push(format!("alpha {alpha}"));
        }
        if let Some(l1_ratio) = self.algorithm.l1_ratio() {
            parts.push(format!("l1_ratio {l1_ratio}"));
        }
        if self.standardize {
            parts.push("standardized".into());
        }
        if parts.is_empty() {
            self.algorithm.name().to_string()
        } else {
            format!("{} ({})", self.algorithm.name(), parts.join(", "))
        }
    }
}

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

/// A CSV opened through the batch reader with the feature columns and the target (last)
/// selected, hashing its bytes as they are read; or a Parquet file (hashed whole at the end)
/// or object (read once, front to back, hashed on the way: [`WholeObject`]).
struct Source {
    path: String,
    features: Vec<String>,
    reader: Rows,
    batch: Batch,
    /// An object read once, front to back, whose digest is taken as it is read.
    whole: Option<WholeObject>,
}

/// Where a source's rows come from.
enum Rows {
    Csv(Box<BatchReader<HashingReader<Box<dyn Read + Send>>>>),
    Parquet(Box<ParquetReader<Chunks>>),
}

impl Source {
    /// Opens `path`; `features` defaults to every column but the target. Without `digest`
    /// (a pass that only counts the rows), a Parquet object is read by the ranges of its
    /// columns alone, not whole.
    fn open(path: &str, features: Option<&[String]>, target: &str, digest: bool) -> Result<Source> {
        if is_parquet(path) {
            return Source::open_parquet(path, features, target, digest);
        }
        let input = HashingReader {
            inner: open_input(path)?.reader,
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
        reader.select(&columns, "feature", &[])?;
        Ok(Source {
            path: name.to_string(),
            features,
            reader: Rows::Csv(Box::new(reader)),
            batch: Batch::new(BATCH_ROWS, columns.len()),
            whole: None,
        })
    }

    /// Opens the Parquet file at `path`, as [`Source::open`] a CSV.
    fn open_parquet(
        path: &str,
        features: Option<&[String]>,
        target: &str,
        digest: bool,
    ) -> Result<Source> {
        // Every row is read, and the digest needs every byte: an object is read in one pass
        // rather than by the ranges of its columns and then once more for the digest.
        let (mut reader, whole) = if digest && is_url(path) && !is_prefix(path) {
            let whole = WholeObject::open(path)?;
            let reader = ParquetReader::new(path, Chunks::Whole(whole.clone()))?;
            (reader, Some(whole))
        } else {
            (crate::read::parquet::open_file(path)?, None)
        };
        let names = reader.column_names();
        if !names.iter().any(|n| n == target) {
            return Err(Error::data(
                Location::file(path),
                missing_columns("target", &[target], &names),
            ));
        }
        let features: Vec<String> = match features {
            Some(list) => list.to_vec(),
            None => names.iter().filter(|n| *n != target).cloned().collect(),
        };
        if features.iter().any(|f| f == target) {
            return Err(Error::Usage(format!(
                "--features names the target column {target}; a model cannot use its own target"
            )));
        }
        let mut columns = features.clone();
        columns.push(target.to_string());
        reader.select(&columns, "feature", &[])?;
        Ok(Source {
            path: path.to_string(),
            features,
            reader: Rows::Parquet(Box::new(reader)),
            batch: Batch::new(BATCH_ROWS, columns.len()),
            whole,
        })
    }

    /// The next batch's rows, features then target; empty at the end.
    fn next_rows(&mut self) -> Result<ArrayView2<'_, f64>> {
        let n = match &mut self.reader {
            Rows::Csv(reader) => reader.read_batch(&mut self.batch)?,
            Rows::Parquet(reader) => {
                // Every row is needed to fit: a null fails the run, as a bad CSV cell does.
                reader.read_batch(&mut self.batch, None)?;
                self.batch.rows
            }
        };
        Ok(self.batch.x.slice(s![..n, ..]))
    }

    /// The SHA-256 (hex) of every byte read (the whole file, for Parquet).
    fn finish(self) -> Result<String> {
        if let Some(whole) = &self.whole {
            return whole.finish();
        }
        match self.reader {
            Rows::Csv(reader) => Ok(hex(&reader.into_inner().hasher.finalize())),
            Rows::Parquet(_) => {
                // A local file is read once more for its digest (from the page cache, most
                // often): its columns were read by position. So is an object opened without
                // `digest`, should one be asked for it.
                let file: Box<dyn Read + Send> = match is_url(&self.path) {
                    true => crate::store::get::open(&self.path)?,
                    false => Box::new(
                        std::fs::File::open(&self.path)
                            .map_err(|e| Error::io(&self.path, "open", e))?,
                    ),
                };
                let mut hashing = HashingReader {
                    inner: file,
                    hasher: Sha256::new(),
                };
                io::copy(&mut hashing, &mut io::sink())
                    .map_err(|e| Error::io(&self.path, "read", e))?;
                Ok(hex(&hashing.hasher.finalize()))
            }
        }
    }
}

/// A whole data set in memory: features and target, with the input's SHA-256.
struct Table {
    x: Array2<f64>,
    y: Array1<f64>,
    sha256: String,
}

/// Reads a source's feature and target columns whole. Memory grows with the file, so each
/// batch's room is reserved with `try_reserve`: a file larger than memory is an error (exit 5)
/// that points at `--streaming`, not an abort.
fn read_table(mut source: Source) -> Result<(Vec<String>, Table)> {
    let p = source.features.len();
    let path = source.path.clone();
    let mut x: Vec<f64> = Vec::new();
    let mut y: Vec<f64> = Vec::new();
    loop {
        let batch = source.next_rows()?;
        if batch.is_empty() {
            break;
        }
        let rows = y.len() + batch.nrows();
        reserve_rows(&mut x, batch.nrows() * p, rows, p, &path)?;
        reserve_rows(&mut y, batch.nrows(), rows, p, &path)?;
        for row in batch.rows() {
            x.extend(row.iter().take(p));
            y.push(row[p]);
        }
    }
    let rows = y.len();
    let x = Array2::from_shape_vec((rows, p), x).expect("rows × features values");
    let features = std::mem::take(&mut source.features);
    Ok((
        features,
        Table {
            x,
            y: Array1::from(y),
            sha256: source.finish()?,
        },
    ))
}

/// Makes room for `additional` more values in `values`, which will then hold `rows` rows of
/// `features` features (or their targets): an out-of-memory error naming `path` when there is
/// none.
fn reserve_rows(
    values: &mut Vec<f64>,
    additional: usize,
    rows: usize,
    features: usize,
    path: &str,
) -> Result<()> {
    values.try_reserve(additional).map_err(|_| {
        Error::io(
            path,
            "hold the training rows in memory",
            io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!(
                    "{rows} rows of {features} features need more memory than there is; \
                     --streaming fits ols and ridge in constant memory"
                ),
            ),
        )
    })
}

/// Checks that `matrices` matrices of `columns`² values (X'X and X'y, whose size the header
/// decides, not the rows) fit in memory before the first is made: a file with tens of
/// thousands of columns is an out-of-memory error (exit 5) naming the fix, not an abort. The
/// room is reserved and given back at once, so what is checked is what the allocator would
/// grant.
fn reserve_moments(path: &str, columns: usize, matrices: usize) -> Result<()> {
    let bytes = columns
        .checked_mul(columns)
        .and_then(|values| values.checked_mul(std::mem::size_of::<f64>()))
        .and_then(|one| one.checked_mul(matrices));
    let fits = bytes.is_some_and(|bytes| Vec::<u8>::new().try_reserve_exact(bytes).is_ok());
    if fits {
        return Ok(());
    }
    Err(Error::io(
        path,
        "hold X'X in memory",
        io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!(
                "{matrices} matrices of {columns} x {columns} values need more memory than there \
                 is; choose fewer columns with --features"
            ),
        ),
    ))
}

/// Mean squared error and R² of `coefficients`/`intercept` on rows `x` with target `y`, as
/// scikit-learn's `mean_squared_error` and `r2_score`.
fn metrics(
    x: ArrayView2<f64>,
    y: ArrayView1<f64>,
    coefficients: &Array1<f64>,
    intercept: f64,
) -> FitMetrics {
    let mut predictions = Array1::zeros(y.len());
    predict_into(x, coefficients, intercept, predictions.view_mut());
    let n = y.len() as f64;
    let ss_res: f64 = predictions
        .iter()
        .zip(&y)
        .map(|(p, y)| (y - p) * (y - p))
        .sum();
    let mean = y.sum() / n;
    let ss_tot: f64 = y.iter().map(|y| (y - mean) * (y - mean)).sum();
    FitMetrics {
        rows: y.len() as u64,
        mse: ss_res / n,
        r2: estimator::r2(ss_res, ss_tot),
    }
}

/// Scores a holdout file batch by batch, in constant memory: its metrics and SHA-256.
fn holdout_metrics(
    mut source: Source,
    coefficients: &Array1<f64>,
    intercept: f64,
) -> Result<(FitMetrics, String)> {
    let p = source.features.len();
    let mut predictions = Array1::zeros(source.batch.capacity());
    let mut target_moments = Moments::new(1);
    let mut ss_res = 0.0;
    loop {
        let rows = source.next_rows()?;
        let n = rows.nrows();
        if n == 0 {
            break;
        }
        let mut out = predictions.slice_mut(s![..n]);
        predict_into(
            rows.slice(s![.., ..p]),
            coefficients,
            intercept,
            out.view_mut(),
        );
        for (p, y) in out.iter().zip(rows.column(p)) {
            ss_res += (y - p) * (y - p);
        }
        target_moments.add_rows(rows.slice(s![.., p..]));
    }
    let rows = target_moments.rows();
    if rows == 0 {
        return Err(Error::data(
            Location::file(&source.path),
            "the holdout file has no rows",
        ));
    }
    let metrics = FitMetrics {
        rows,
        mse: ss_res / rows as f64,
        r2: estimator::r2(ss_res, target_moments.sum_of_squares(0)),
    };
    Ok((metrics, source.finish()?))
}

/// The `[start, end)` rows of each of `k` folds of `n` rows, as scikit-learn's `KFold(k)`: the
/// first `n % k` folds have one row more than the others.
fn fold_bounds(n: usize, k: usize) -> Vec<(usize, usize)> {
    let mut bounds = Vec::with_capacity(k);
    let mut start = 0;
    for i in 0..k {
        let size = n / k + usize::from(i < n % k);
        bounds.push((start, start + size));
        start += size;
    }
    bounds
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

/// A model fitted on the training data, with what it learned about itself.
struct Trained {
    features: Vec<String>,
    fit: Fit,
    train: FitMetrics,
    cv: Option<CrossValidation>,
    sha256: String,
}

/// Runs `train`.
pub fn train(args: &TrainArgs, log: &Logger) -> Result<()> {
    let plan = Plan::new(args)?;
    let metadata_path = Path::new(&args.out).with_file_name("metadata.json");
    let metadata_path = metadata_path.to_string_lossy();
    if Path::new(&args.out).file_name() == Some("metadata.json".as_ref()) {
        return Err(Error::Usage(format!(
            "--out {}: metadata.json is the name of the metadata written beside the model; \
             name the model otherwise, such as model.bin",
            args.out
        )));
    }
    // Before anything is opened: neither output may be an input or the other output.
    Paths::new()
        .input("--data", args.data.as_str())
        .input("--holdout", args.holdout.as_deref())
        .output("--out", args.out.as_str(), "write the model elsewhere")
        .output(
            "--out's metadata",
            metadata_path.as_ref(),
            "write the model to another folder",
        )
        .check()?;
    log.info(&format!(
        "Loading training data from: {}",
        display_name(&args.data)
    ));
    let source = Source::open(&args.data, args.features.as_deref(), &args.target, true)?;
    // The holdout's header is checked before fitting; its rows are scored after.
    let holdout = match &args.holdout {
        Some(path) => {
            log.info(&format!(
                "Loading holdout data from: {}",
                display_name(path)
            ));
            Some(Source::open(
                path,
                Some(&source.features),
                &args.target,
                true,
            )?)
        }
        None => None,
    };
    let Trained {
        features,
        fit,
        train,
        cv,
        sha256,
    } = if plan.streaming {
        train_streaming(&plan, args, source, log)?
    } else {
        train_in_memory(&plan, args, source, log)?
    };
    log_rank(&fit, features.len(), log);
    let holdout = match holdout {
        Some(source) => Some(holdout_metrics(source, &fit.coefficients, fit.intercept)?),
        None => None,
    };

    let model = ModelFile {
        algorithm: plan.algorithm,
        standardize: plan.standardize,
        solver: fit.solver,
        target: args.target.clone(),
        features,
        coefficients: fit.coefficients.to_vec(),
        intercept: fit.intercept,
        train,
        holdout: holdout.as_ref().map(|(m, _)| *m),
        cv,
        training_sha256: sha256,
        source: None,
        trees: None,
    };
    model.save_atomic(&args.out)?;

    let metadata = Metadata {
        summary: ModelSummary::new(&model, model.format_version()),
        training_data: display_name(&args.data),
        holdout_data: args.holdout.as_deref().map(display_name),
        holdout_sha256: holdout.as_ref().map(|(_, sha)| sha.as_str()),
        created_at: utc_timestamp(created_at()),
        created_by: format!("batch_inference {}", env!("CARGO_PKG_VERSION")),
    };
    let mut json = serde_json::to_string_pretty(&metadata).expect("metadata always serializes");
    json.push('\n');
    write_atomic(&metadata_path, json.as_bytes())?;

    let holdout_r2 = model
        .holdout
        .map_or(String::new(), |h| format!(", holdout R² {:.4}", h.r2));
    let cv_r2 = model.cv.as_ref().map_or(String::new(), |cv| {
        format!(", {}-fold cv R² {:.4}", cv.folds.len(), cv.r2)
    });
    log.info(&format!(
        "Wrote {} and {metadata_path} (train R² {:.4}{holdout_r2}{cv_r2})",
        args.out, model.train.r2
    ));
    Ok(())
}

/// Logs the rank of the least-squares problem; below full rank, as a warning that says what
/// the fit did about it.
fn log_rank(fit: &Fit, features: usize, log: &Logger) {
    match fit.solver.rank() {
        Some(rank) if rank as usize == features => {
            log.info(&format!(
                "Rank of the centered features: {rank} of {features}"
            ));
        }
        Some(rank) => log.warn(&format!(
            "the centered features have rank {rank} of {features} (constant columns, copies, \
             combinations of others, or fewer rows than features): the fit is the \
             minimum-norm least-squares solution, as scikit-learn's, so constant features get \
             0 and copies share a weight; leave redundant features out with --features"
        )),
        None => {}
    }
}

/// Checks that there are training rows. Any number fits every model: with no more rows than
/// features, least squares takes the minimum-norm solution, as scikit-learn does.
fn check_rows(path: &str, rows: usize) -> Result<()> {
    if rows == 0 {
        return Err(Error::data(
            Location::file(display_name(path)),
            "the training file has no rows",
        ));
    }
    Ok(())
}

/// Checks that `rows` rows make `k` folds (each then leaves at least one row to fit on).
fn check_folds(path: &str, rows: usize, k: usize) -> Result<()> {
    if rows < k {
        return Err(Error::data(
            Location::file(display_name(path)),
            format!("{rows} rows cannot make {k} folds; use --cv {rows} or fewer"),
        ));
    }
    Ok(())
}

/// Fits the plan on `x`, `y`, turning a failure into a data error about `path`.
fn fit_rows(
    plan: &Plan,
    path: &str,
    x: ArrayView2<f64>,
    y: ArrayView1<f64>,
    features: &[String],
    context: &str,
    log: &Logger,
) -> Result<Fit> {
    let fit = estimator::fit(plan.algorithm, plan.standardize, x, y, features)
        .map_err(|m| Error::data(Location::file(display_name(path)), format!("{context}{m}")))?;
    warn_unless_converged(plan, &fit, context, log);
    Ok(fit)
}

/// Logs, as scikit-learn's `ConvergenceWarning` does, when coordinate descent stopped at
/// `--max-iter` with the duality gap still above `--tol`.
fn warn_unless_converged(plan: &Plan, fit: &Fit, context: &str, log: &Logger) {
    if let (
        Solver::CoordinateDescent {
            iterations,
            duality_gap,
        },
        Some((tol, _)),
        Some(false),
    ) = (
        fit.solver,
        plan.algorithm.stopping(),
        fit.solver.converged(plan.algorithm),
    ) {
        log.warn(&format!(
            "{context}{} did not converge in {iterations} iterations: duality gap \
             {duality_gap:.2e} is above --tol {tol:e}; raise --max-iter, or try --standardize",
            plan.algorithm.name()
        ));
    }
}

/// Fits with every row in memory.
fn train_in_memory(plan: &Plan, args: &TrainArgs, source: Source, log: &Logger) -> Result<Trained> {
    let (features, table) = read_table(source)?;
    let rows = table.y.len();
    check_rows(&args.data, rows)?;
    if let Some(k) = plan.folds {
        check_folds(&args.data, rows, k)?;
    }
    log.info(&format!(
        "Fitting {} on {rows} rows, {} features...",
        plan.describe(),
        features.len()
    ));
    let fit = fit_rows(
        plan,
        &args.data,
        table.x.view(),
        table.y.view(),
        &features,
        "",
        log,
    )?;
    let train = metrics(
        table.x.view(),
        table.y.view(),
        &fit.coefficients,
        fit.intercept,
    );
    let bounds = plan.folds.map(|k| fold_bounds(rows, k));
    let cv = cross_validate(plan.folds, log, |i, context| {
        let (start, end) = bounds.as_ref().expect("folds were asked for")[i];
        let kept: Vec<usize> = (0..start).chain(end..rows).collect();
        let fold_fit = fit_rows(
            plan,
            &args.data,
            table.x.select(Axis(0), &kept).view(),
            table.y.select(Axis(0), &kept).view(),
            &features,
            context,
            log,
        )?;
        Ok(metrics(
            table.x.slice(s![start..end, ..]),
            table.y.slice(s![start..end]),
            &fold_fit.coefficients,
            fold_fit.intercept,
        ))
    })?;
    Ok(Trained {
        features,
        fit,
        train,
        cv,
        sha256: table.sha256,
    })
}

/// Fits ols or ridge from statistics accumulated batch by batch, in memory that does not grow
/// with the rows. Cross-validation keeps one set of statistics per fold; each fold's model is
/// fitted on the others' merged statistics and scored on its own ([`Moments::metrics`]).
fn train_streaming(
    plan: &Plan,
    args: &TrainArgs,
    mut source: Source,
    log: &Logger,
) -> Result<Trained> {
    let alpha = plan.algorithm.alpha().unwrap_or(0.0);
    // KFold's folds depend on the number of rows, so with --cv a first pass counts them.
    let bounds = match plan.folds {
        Some(k) => {
            let features = args.features.as_deref();
            let mut counting = Source::open(&args.data, features, &args.target, false)?;
            let mut rows = 0;
            loop {
                let n = counting.next_rows()?.nrows();
                if n == 0 {
                    break;
                }
                rows += n;
            }
            check_folds(&args.data, rows, k)?;
            fold_bounds(rows, k)
        }
        None => vec![(0, usize::MAX)],
    };
    let columns = source.features.len() + 1;
    // One matrix per fold, the whole, a batch's and the solver's copy.
    reserve_moments(&source.path, columns, bounds.len() + 3)?;
    log.info(&format!(
        "Accumulating X'X and X'y of {} features in batches of {} rows...",
        columns - 1,
        source.batch.capacity()
    ));
    let mut parts = vec![Moments::new(columns); bounds.len()];
    let mut seen = 0;
    loop {
        let rows = source.next_rows()?;
        let n = rows.nrows();
        if n == 0 {
            break;
        }
        // The batch's rows [seen, seen + n) split at the fold boundaries.
        for (part, &(start, end)) in parts.iter_mut().zip(&bounds) {
            let from = start.max(seen);
            let to = end.min(seen + n);
            if from < to {
                part.add_rows(rows.slice(s![from - seen..to - seen, ..]));
            }
        }
        seen += n;
    }
    // Rows past the count would fall in no fold, and out of the whole fit with them.
    if let (Some(_), Some(&(_, counted))) = (plan.folds, bounds.last()) {
        if counted != seen {
            return Err(Error::data(
                Location::file(display_name(&args.data)),
                format!(
                    "the file changed while it was read: {counted} rows when counted for the \
                     folds, {seen} when fitted; train again on a file that stays put"
                ),
            ));
        }
    }
    let features = std::mem::take(&mut source.features);
    let sha256 = source.finish()?;
    let mut all = Moments::new(columns);
    for part in &parts {
        all.merge(part);
    }
    check_rows(&args.data, seen)?;
    log.info(&format!(
        "Fitting {} on {seen} rows, {} features...",
        plan.describe(),
        features.len()
    ));
    let solve = |moments: &Moments, context: &str| {
        moments
            .solve(alpha, plan.standardize, &features, true)
            .map_err(|m| {
                Error::data(
                    Location::file(display_name(&args.data)),
                    format!("{context}{m}"),
                )
            })
    };
    let fit = solve(&all, "")?;
    let train = all.metrics(&fit.coefficients, fit.intercept);
    let cv = cross_validate(plan.folds, log, |i, context| {
        let mut others = Moments::new(columns);
        for (j, other) in parts.iter().enumerate() {
            if j != i {
                others.merge(other);
            }
        }
        let fold_fit = solve(&others, context)?;
        Ok(parts[i].metrics(&fold_fit.coefficients, fold_fit.intercept))
    })?;
    Ok(Trained {
        features,
        fit,
        train,
        cv,
        sha256,
    })
}

/// Cross-validates with `folds` folds when asked: `fold(i, context)` fits on every fold but
/// `i` and gives its metrics on fold `i`; `context` starts its error messages.
fn cross_validate(
    folds: Option<usize>,
    log: &Logger,
    mut fold: impl FnMut(usize, &str) -> Result<FitMetrics>,
) -> Result<Option<CrossValidation>> {
    let Some(k) = folds else {
        return Ok(None);
    };
    log.info(&format!("Cross-validating with {k} folds..."));
    let metrics = (0..k)
        .map(|i| fold(i, &format!("cross-validation fold {} of {k}: ", i + 1)))
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(cross_validation(metrics)))
}

/// The folds' metrics and their means, as `cross_val_score(...).mean()` reports them.
fn cross_validation(folds: Vec<FitMetrics>) -> CrossValidation {
    let k = folds.len() as f64;
    CrossValidation {
        mse: folds.iter().map(|f| f.mse).sum::<f64>() / k,
        r2: folds.iter().map(|f| f.r2).sum::<f64>() / k,
        folds,
    }
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
    fn rows_that_do_not_fit_in_memory_are_an_error_that_suggests_streaming() {
        let mut values = vec![1.0];
        let err =
            reserve_rows(&mut values, usize::MAX / 4, usize::MAX / 4, 3, "t.csv").unwrap_err();
        assert_eq!(err.exit_code(), 5);
        assert_eq!(
            err.to_string(),
            format!(
                "t.csv: cannot hold the training rows in memory: {} rows of 3 features need more \
                 memory than there is; --streaming fits ols and ridge in constant memory",
                usize::MAX / 4
            )
        );
        assert_eq!(values, [1.0]);
        reserve_rows(&mut values, 10, 11, 3, "t.csv").unwrap();
        assert!(values.capacity() >= 11);
    }

    #[test]
    fn matrices_that_cannot_fit_are_an_error_that_suggests_fewer_features() {
        reserve_moments("t.csv", 14, 8).unwrap();
        let err = reserve_moments("t.csv", 1 << 33, 4).unwrap_err();
        assert_eq!(err.exit_code(), 5);
        assert_eq!(
            err.to_string(),
            "t.csv: cannot hold X'X in memory: 4 matrices of 8589934592 x 8589934592 values need \
             more memory than there is; choose fewer columns with --features"
        );
    }

    #[test]
    fn r2_follows_scikit_learn_for_perfect_and_constant_fits() {
        let x = array![[1.0], [2.0], [3.0]];
        let y = array![3.0, 5.0, 7.0];
        let perfect = metrics(x.view(), y.view(), &array![2.0], 1.0);
        assert_eq!((perfect.mse, perfect.r2), (0.0, 1.0));
        let off = metrics(x.view(), y.view(), &array![2.0], 2.0);
        assert_eq!((off.mse, off.r2), (1.0, 1.0 - 3.0 / 8.0));
    }

    #[test]
    fn folds_are_contiguous_and_the_first_ones_take_the_remainder() {
        // KFold(3).split(range(8)): sizes 3, 3, 2.
        assert_eq!(fold_bounds(8, 3), [(0, 3), (3, 6), (6, 8)]);
        assert_eq!(fold_bounds(455, 5)[0], (0, 91));
        assert_eq!(fold_bounds(4, 4), [(0, 1), (1, 2), (2, 3), (3, 4)]);
    }

    #[test]
    fn cross_validation_reports_the_means_of_the_folds() {
        let fold = |mse, r2| FitMetrics { rows: 2, mse, r2 };
        let cv = cross_validation(vec![fold(1.0, 0.5), fold(3.0, 0.7)]);
        assert_eq!((cv.mse, cv.r2), (2.0, 0.6));
    }

    #[test]
    fn hex_is_lower_case_and_two_digits_a_byte() {
        assert_eq!(hex(&[0, 15, 255]), "000fff");
    }
}
