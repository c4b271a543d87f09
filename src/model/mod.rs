//! The model file: our own small, versioned, checksummed container around a bincode payload.
//!
//! Layout (all integers little-endian):
//!
//! | offset | size | field                                            |
//! |--------|------|--------------------------------------------------|
//! | 0      | 8    | magic `\x89BIM\r\n\x1a\n` (catches text-mode mangling, like PNG's) |
//! | 8      | 4    | format version (u32): 4 for a tree model, 3 for a linear one (1 to 4 are read) |
//! | 12     | 8    | payload length in bytes (u64)                    |
//! | 20     | 32   | SHA-256 of the payload                           |
//! | 52     | n    | payload: bincode 2 (standard config) of [`ModelFile`] |
//!
//! The payload is our own struct built from linfa's fitted model (coefficients and intercept),
//! so linfa's internal layout never becomes our file format. Every size is checked before
//! anything is allocated, so a truncated, corrupt, foreign or hostile file is a clear error.
//!
//! Version 2 added the [`Solver`] variants that record the rank of the least-squares problem
//! ([`Solver::LeastSquares`], [`Solver::NormalEquations`]), after the others, so a version 1
//! payload decodes as the same struct; a version 1 file that names one of them is refused.
//! Version 3 added [`Algorithm::Imported`], [`Solver::Folded`] (again last) and, at the end of
//! [`ModelFile`], the [`Source`] of an imported model; a version 1 or 2 payload is decoded as
//! the struct without it (`ModelFileV2`) and has no source.
//! Version 4 added [`Solver::Trees`] (last) and, at the end of [`ModelFile`], the tree ensemble
//! of an imported tree model ([`trees::TreeEnsemble`]); a version 3 payload is decoded as the
//! struct without it (`ModelFileV3`).

pub mod linear;
pub mod predictor;
pub mod summary;
pub mod trees;
pub mod trees_avx512;
pub mod trees_block;

use std::fs::File;
use std::io::{self, Read};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::atomic::write_atomic;
use crate::error::{Error, Result};

/// The first eight bytes of every model file.
pub const MAGIC: [u8; 8] = *b"\x89BIM\r\n\x1a\n";
/// The format version this build writes, and the newest it reads.
pub const FORMAT_VERSION: u32 = 4;
/// Bytes before the payload.
pub const HEADER_LEN: usize = 52;
/// The largest payload we accept: ample for a million features, small enough to allocate.
pub const MAX_PAYLOAD: u64 = 64 * 1024 * 1024;

/// The bincode configuration of the payload, with the size limit that guards every allocation.
const BINCODE: bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<{ MAX_PAYLOAD as usize }>,
> = bincode::config::standard().with_limit::<{ MAX_PAYLOAD as usize }>();

/// The estimator that produced a model, with the parameters it was fitted with. Scoring is the
/// same for all: `x · w + b`. Each parameter means exactly what scikit-learn's parameter of the
/// same name means (`Ridge`, `Lasso`, `ElasticNet`); the objectives, with `n` rows, are:
///
/// | variant      | minimises                                                              |
/// |--------------|------------------------------------------------------------------------|
/// | `Ols`        | `‖y − Xw − b‖²`                                                        |
/// | `Ridge`      | `‖y − Xw − b‖² + alpha·‖w‖²` (no `1/n`)                                 |
/// | `Lasso`      | `1/(2n)·‖y − Xw − b‖² + alpha·‖w‖₁`                                     |
/// | `ElasticNet` | `1/(2n)·‖y − Xw − b‖² + alpha·l1_ratio·‖w‖₁ + alpha·(1 − l1_ratio)/2·‖w‖²` |
///
/// `Ols` stays first so that its bincode variant index stays 0; new variants go last.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Algorithm {
    /// Ordinary least squares with intercept.
    Ols,
    /// Least squares with an L2 penalty.
    Ridge {
        /// Penalty weight, `>= 0`.
        alpha: f64,
    },
    /// Least squares with an L1 penalty, by coordinate descent.
    Lasso {
        /// Penalty weight, `>= 0`.
        alpha: f64,
        /// Stop when the duality gap is below `tol · ‖y − ȳ‖²`, as scikit-learn's `tol`.
        tol: f64,
        /// The most passes over the features, as scikit-learn's `max_iter`.
        max_iter: u32,
    },
    /// Least squares with a mix of L1 and L2 penalties, by coordinate descent.
    ElasticNet {
        /// Penalty weight, `>= 0`.
        alpha: f64,
        /// The L1 share of the penalty, in `[0, 1]`.
        l1_ratio: f64,
        /// Stop when the duality gap is below `tol · ‖y − ȳ‖²`, as scikit-learn's `tol`.
        tol: f64,
        /// The most passes over the features, as scikit-learn's `max_iter`.
        max_iter: u32,
    },
    /// A linear model made elsewhere and imported (`batch_inference import`); its
    /// [`ModelFile::source`] says where from. Which estimator fitted it is not recorded in an
    /// ONNX file, so it is not known.
    Imported,
}

impl Algorithm {
    /// The short name used on the command line and in `inspect`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Ols => "ols",
            Algorithm::Ridge { .. } => "ridge",
            Algorithm::Lasso { .. } => "lasso",
            Algorithm::ElasticNet { .. } => "elastic-net",
            Algorithm::Imported => "imported",
        }
    }

    /// The penalty weight, for every algorithm but OLS.
    pub fn alpha(self) -> Option<f64> {
        match self {
            Algorithm::Ols | Algorithm::Imported => None,
            Algorithm::Ridge { alpha }
            | Algorithm::Lasso { alpha, .. }
            | Algorithm::ElasticNet { alpha, .. } => Some(alpha),
        }
    }

    /// The L1 share of the penalty: 1 for lasso, the parameter for elastic net.
    pub fn l1_ratio(self) -> Option<f64> {
        match self {
            Algorithm::ElasticNet { l1_ratio, .. } => Some(l1_ratio),
            _ => None,
        }
    }

    /// Coordinate descent's tolerance and iteration limit, for lasso and elastic net.
    pub fn stopping(self) -> Option<(f64, u32)> {
        match self {
            Algorithm::Lasso { tol, max_iter, .. }
            | Algorithm::ElasticNet { tol, max_iter, .. } => Some((tol, max_iter)),
            _ => None,
        }
    }

    /// Checks the parameters' ranges, as a model file must have them.
    pub fn validate(self) -> std::result::Result<(), String> {
        let alpha_ok = self.alpha().is_none_or(|a| a >= 0.0 && a.is_finite());
        let l1_ok = self.l1_ratio().is_none_or(|r| (0.0..=1.0).contains(&r));
        let stop_ok = self
            .stopping()
            .is_none_or(|(tol, max_iter)| tol > 0.0 && tol.is_finite() && max_iter > 0);
        if alpha_ok && l1_ok && stop_ok {
            Ok(())
        } else {
            Err(format!(
                "the {} parameters are out of range: {self:?}",
                self.name()
            ))
        }
    }
}

/// How the coefficients were computed: what `inspect` reports so a reader can judge them.
/// New variants go last, so that older files keep their bincode variant indices.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Solver {
    /// Least squares by QR on the rows in memory (linfa-linear), as format version 1 wrote it:
    /// the rank was not checked.
    Qr,
    /// The normal equations of the centered data, `(X'X + alpha·I) w = X'y`, by Cholesky after
    /// scaling the columns to a unit diagonal.
    Cholesky {
        /// True when `X'X` and `X'y` were accumulated batch by batch (`--streaming`).
        streamed: bool,
    },
    /// Coordinate descent (linfa-elasticnet) on the centered data.
    CoordinateDescent {
        /// Passes over the features.
        iterations: u32,
        /// The last duality gap, relative to `‖y − ȳ‖²`: the fit converged when it is below
        /// `tol`.
        duality_gap: f64,
    },
    /// Least squares on the rows in memory, the minimum-norm solution as scikit-learn's
    /// `LinearRegression`: QR (linfa-linear) when the centered features have full rank, the
    /// SVD's pseudo-inverse when they do not.
    LeastSquares {
        /// The rank of the centered features (see `estimator::least_squares_rank`).
        rank: u32,
    },
    /// Least squares from the centered normal equations `X'X w = X'y` (`--streaming`, or ridge
    /// with alpha 0), the minimum-norm solution: Cholesky, after pinning the null space of
    /// `X'X` (from its eigendecomposition) to zero when it has one.
    NormalEquations {
        /// The rank of `X'X` (see `estimator::Moments::rank`).
        rank: u32,
        /// True when `X'X` and `X'y` were accumulated batch by batch (`--streaming`).
        streamed: bool,
    },
    /// Not fitted here: the weights and intercept were folded, in f64, from an imported graph
    /// of linear operators (a scaler's shift and scale into the weights).
    Folded,
    /// Not fitted here: the trees were read from an imported graph ([`ModelFile::trees`]).
    Trees,
}

impl Solver {
    /// The rank of the least-squares problem, for the solvers that record it.
    pub fn rank(self) -> Option<u32> {
        match self {
            Solver::LeastSquares { rank } | Solver::NormalEquations { rank, .. } => Some(rank),
            _ => None,
        }
    }

    /// Whether an iterative solver got its duality gap below `algorithm`'s `tol`; `None` for
    /// the direct solvers, and for an algorithm with no `tol`.
    pub fn converged(self, algorithm: Algorithm) -> Option<bool> {
        match (self, algorithm.stopping()) {
            (Solver::CoordinateDescent { duality_gap, .. }, Some((tol, _))) => {
                Some(duality_gap < tol)
            }
            _ => None,
        }
    }
}

/// Goodness of fit on one data set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FitMetrics {
    /// Rows the metrics were computed on.
    pub rows: u64,
    /// Mean squared error.
    pub mse: f64,
    /// Coefficient of determination, as scikit-learn's `r2_score`.
    pub r2: f64,
}

/// K-fold cross-validation: each fold scored by a model fitted on the other folds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossValidation {
    /// Metrics of each fold, in file order (contiguous, unshuffled folds).
    pub folds: Vec<FitMetrics>,
    /// The mean of the folds' MSE, as `-cross_val_score(..., scoring="neg_mean_squared_error")
    /// .mean()`.
    pub mse: f64,
    /// The mean of the folds' R², as `cross_val_score(..., scoring="r2").mean()`.
    pub r2: f64,
}

/// An operator set a graph imports: a domain (`ai.onnx`, `ai.onnx.ml`) at a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opset {
    /// The domain, `ai.onnx` for the default (empty) one.
    pub domain: String,
    /// The operator set version.
    pub version: i64,
}

/// Where an imported model came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The file format it was imported from: `onnx`.
    pub format: String,
    /// The tool that wrote the file, as it names itself (`skl2onnx`).
    pub producer_name: String,
    /// That tool's version.
    pub producer_version: String,
    /// The operator sets the graph imports, in file order.
    pub opsets: Vec<Opset>,
    /// The graph's operators, in order, each as `domain.op_type` (`ai.onnx.MatMul`).
    pub operators: Vec<String>,
    /// SHA-256 (hex) of the imported file's bytes.
    pub sha256: String,
}

impl Source {
    /// The operator sets, each domain and version once, in file order. ONNX names the default
    /// domain both `""` and `ai.onnx`, and skl2onnx declares both: the stored list (kept as
    /// imported, so that a model file's bytes do not change) has `ai.onnx` twice.
    pub fn distinct_opsets(&self) -> Vec<Opset> {
        let mut distinct: Vec<Opset> = Vec::with_capacity(self.opsets.len());
        for opset in &self.opsets {
            if !distinct.contains(opset) {
                distinct.push(opset.clone());
            }
        }
        distinct
    }
}

/// What a model file holds: everything scoring needs, and how the model came to be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    /// The estimator and its parameters.
    pub algorithm: Algorithm,
    /// True when the model was fitted on standardized features. The stored coefficients and
    /// intercept are always on the original scale, so scoring needs no extra step.
    pub standardize: bool,
    /// How the coefficients were computed.
    pub solver: Solver,
    /// The name of the target column it was trained to predict.
    pub target: String,
    /// Feature column names, in coefficient order.
    pub features: Vec<String>,
    /// One coefficient per feature.
    pub coefficients: Vec<f64>,
    /// The intercept.
    pub intercept: f64,
    /// Metrics on the training data.
    pub train: FitMetrics,
    /// Metrics on the holdout data, when one was given.
    pub holdout: Option<FitMetrics>,
    /// Cross-validation metrics, when asked for.
    pub cv: Option<CrossValidation>,
    /// SHA-256 (hex) of the training file's bytes; empty for an imported model.
    pub training_sha256: String,
    /// Where an imported model came from; `None` for a model `train` fitted. Last, since
    /// format version 3 appended it.
    pub source: Option<Source>,
    /// The trees of an imported tree ensemble, which then predicts instead of the (empty)
    /// coefficients; `None` for a linear model. Last, since format version 4 appended it.
    pub trees: Option<trees::TreeEnsemble>,
}

/// [`ModelFile`] as format version 3 wrote it: without `trees`.
#[derive(Deserialize)]
struct ModelFileV3 {
    algorithm: Algorithm,
    standardize: bool,
    solver: Solver,
    target: String,
    features: Vec<String>,
    coefficients: Vec<f64>,
    intercept: f64,
    train: FitMetrics,
    holdout: Option<FitMetrics>,
    cv: Option<CrossValidation>,
    training_sha256: String,
    source: Option<Source>,
}

impl From<ModelFileV3> for ModelFile {
    fn from(old: ModelFileV3) -> ModelFile {
        ModelFile {
            algorithm: old.algorithm,
            standardize: old.standardize,
            solver: old.solver,
            target: old.target,
            features: old.features,
            coefficients: old.coefficients,
            intercept: old.intercept,
            train: old.train,
            holdout: old.holdout,
            cv: old.cv,
            training_sha256: old.training_sha256,
            source: old.source,
            trees: None,
        }
    }
}

/// [`ModelFile`] as format versions 1 and 2 wrote it: without `source`.
#[derive(Deserialize)]
struct ModelFileV2 {
    algorithm: Algorithm,
    standardize: bool,
    solver: Solver,
    target: String,
    features: Vec<String>,
    coefficients: Vec<f64>,
    intercept: f64,
    train: FitMetrics,
    holdout: Option<FitMetrics>,
    cv: Option<CrossValidation>,
    training_sha256: String,
}

impl From<ModelFileV2> for ModelFile {
    fn from(old: ModelFileV2) -> ModelFile {
        ModelFile {
            algorithm: old.algorithm,
            standardize: old.standardize,
            solver: old.solver,
            target: old.target,
            features: old.features,
            coefficients: old.coefficients,
            intercept: old.intercept,
            train: old.train,
            holdout: old.holdout,
            cv: old.cv,
            training_sha256: old.training_sha256,
            source: None,
            trees: None,
        }
    }
}

impl LoadedModel {
    /// Decodes and checks the whole model file `bytes` (`path` is for messages), and hashes
    /// those very bytes.
    pub fn decode(path: &str, bytes: &[u8]) -> Result<LoadedModel> {
        let (model, version) = ModelFile::from_bytes_versioned(path, bytes)?;
        Ok(LoadedModel {
            model,
            version,
            sha256: format!("{:x}", Sha256::digest(bytes)),
        })
    }
}

/// Decodes a payload as `T`, which must use all of it.
fn decode_payload<T: serde::de::DeserializeOwned>(path: &str, payload: &[u8]) -> Result<T> {
    let (value, used): (T, usize) =
        bincode::serde::decode_from_slice(payload, BINCODE).map_err(|e| {
            Error::model(
                path,
                format!("cannot decode payload: {}", decode_problem(&e)),
            )
        })?;
    if used != payload.len() {
        return Err(Error::model(
            path,
            format!(
                "{} unexpected bytes after the payload",
                payload.len() - used
            ),
        ));
    }
    Ok(value)
}

/// A model as read from its file, with the SHA-256 of exactly the bytes it was decoded from:
/// what names the model in a run's report, in `serve`'s `/metrics` and in `inspect`. Hashing
/// the bytes that were decoded, rather than reading the file again, gives the digest of the
/// model that scores even when the file is replaced meanwhile, an object URL is fetched once,
/// and a pipe (which cannot be read twice) has one.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedModel {
    /// The model.
    pub model: ModelFile,
    /// The format version of the file.
    pub version: u32,
    /// SHA-256 (hex) of the file's bytes.
    pub sha256: String,
}

impl ModelFile {
    /// Reads and checks the model file at `path`: a file, an object URL, or a pipe such as a
    /// FIFO or a process substitution (`--model <(cat model.bin)`, which names `/dev/fd/63`).
    /// The sizes come from the header rather than the file's metadata, which a pipe does not
    /// have, and nothing beyond the header and the payload it announces (within
    /// [`MAX_PAYLOAD`]) is held.
    pub fn load(path: &str) -> Result<LoadedModel> {
        if crate::store::is_url(path) {
            let limit = (HEADER_LEN as u64).saturating_add(MAX_PAYLOAD);
            let bytes = crate::store::get::read_to_limit(path, limit)?;
            return LoadedModel::decode(path, &bytes);
        }
        if path == "-" {
            return Err(Error::Usage(
                "--model -: a model is not read from standard input; give its path (a pipe \
                 works too: --model <(cat model.bin))"
                    .into(),
            ));
        }
        let read_error = |e| Error::io(path, "read", e);
        let mut file = File::open(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound if crate::error::mistyped_url(path).is_none() => {
                Error::io(path, "open", no_model())
            }
            _ => Error::io(path, "open", e),
        })?;
        let meta = file.metadata().map_err(read_error)?;
        if meta.is_dir() {
            return Err(Error::directory(
                path,
                "read",
                "give the model file's path, such as model/model.bin (an MLflow model directory \
                 is imported first: batch_inference import DIR --out model.bin)",
            ));
        }
        let mut bytes = Vec::with_capacity(HEADER_LEN);
        (&mut file)
            .take(HEADER_LEN as u64)
            .read_to_end(&mut bytes)
            .map_err(read_error)?;
        let payload_len = check_header(path, &bytes)?;
        bytes.reserve_exact(payload_len);
        (&mut file)
            .take(payload_len as u64)
            .read_to_end(&mut bytes)
            .map_err(read_error)?;
        // Bytes after the payload are counted, not kept: a file's by its length, a pipe's by
        // reading them. Either way the model is refused, so the digest is of the whole file.
        let after = if meta.is_file() {
            meta.len().saturating_sub(bytes.len() as u64)
        } else {
            io::copy(&mut file, &mut io::sink()).map_err(read_error)?
        };
        check_length(path, payload_len, (bytes.len() - HEADER_LEN) as u64 + after)?;
        LoadedModel::decode(path, &bytes)
    }

    /// Decodes and checks a whole model file held in memory; `path` is for messages.
    pub fn from_bytes(path: &str, bytes: &[u8]) -> Result<ModelFile> {
        ModelFile::from_bytes_versioned(path, bytes).map(|(model, _)| model)
    }

    /// Decodes and checks a whole model file held in memory; also returns its format version.
    pub fn from_bytes_versioned(path: &str, bytes: &[u8]) -> Result<(ModelFile, u32)> {
        let payload_len = check_header(path, bytes)?;
        check_length(path, payload_len, (bytes.len() - HEADER_LEN) as u64)?;
        let payload = &bytes[HEADER_LEN..HEADER_LEN + payload_len];
        if Sha256::digest(payload).as_slice() != &bytes[20..HEADER_LEN] {
            return Err(Error::model(
                path,
                "checksum mismatch: the file is corrupt (retrain or copy it again)",
            ));
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        let model = match version {
            1 | 2 => decode_payload::<ModelFileV2>(path, payload)?.into(),
            3 => decode_payload::<ModelFileV3>(path, payload)?.into(),
            _ => decode_payload::<ModelFile>(path, payload)?,
        };
        model.validate().map_err(|m| Error::model(path, m))?;
        if version == 1 && model.solver.rank().is_some() {
            return Err(Error::model(
                path,
                "format version 1 cannot hold a solver with a rank: the header or payload is \
                 corrupt (retrain)",
            ));
        }
        if version < 4 && model.solver == Solver::Trees {
            return Err(Error::model(
                path,
                format!(
                    "format version {version} cannot hold trees: the header or payload is \
                     corrupt (import again)"
                ),
            ));
        }
        Ok((model, version))
    }

    /// Encodes the model with its header. A linear model is written as format version 3 (its
    /// payload without the empty `trees`, the one byte of `None` at the end), so that a file
    /// that needs nothing of version 4 stays readable by older builds and the shipped
    /// model/model.bin does not change; a tree model is version 4.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut payload = bincode::serde::encode_to_vec(self, BINCODE)
            .expect("a model of validated size always encodes");
        let version = self.format_version();
        if version == 3 {
            assert_eq!(payload.pop(), Some(0), "`trees: None` is one 0 at the end");
        }
        let mut bytes = Vec::with_capacity(HEADER_LEN + payload.len());
        bytes.extend_from_slice(&MAGIC);
        bytes.extend_from_slice(&version.to_le_bytes());
        bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&Sha256::digest(&payload));
        bytes.extend_from_slice(&payload);
        bytes
    }

    /// The format version [`ModelFile::to_bytes`] writes the model as: 3 for a linear model, 4
    /// ([`FORMAT_VERSION`]) for a tree model.
    pub fn format_version(&self) -> u32 {
        if self.trees.is_none() {
            3
        } else {
            FORMAT_VERSION
        }
    }

    /// Checks the model and writes it to `path` atomically.
    pub fn save_atomic(&self, path: &str) -> Result<()> {
        self.validate().map_err(|m| Error::model(path, m))?;
        write_atomic(path, &self.to_bytes())
    }

    /// The checks every model must pass before it scores anything.
    fn validate(&self) -> std::result::Result<(), String> {
        self.algorithm.validate()?;
        let imported = [
            self.algorithm == Algorithm::Imported,
            matches!(self.solver, Solver::Folded | Solver::Trees),
            self.source.is_some(),
        ];
        if imported.contains(&true) && imported.contains(&false) {
            return Err(
                "an imported model needs all of algorithm imported, solver folded and a source"
                    .into(),
            );
        }
        if (self.solver == Solver::Trees) != self.trees.is_some() {
            return Err("a tree model needs both solver trees and a tree ensemble".into());
        }
        if let Some(cv) = &self.cv {
            if cv.folds.len() < 2 {
                return Err(format!(
                    "cross-validation with {} folds; there must be at least 2",
                    cv.folds.len()
                ));
            }
        }
        if self.features.is_empty() {
            return Err("the model has no features".into());
        }
        if let Some(trees) = &self.trees {
            if !self.coefficients.is_empty() || self.intercept != 0.0 {
                return Err("a tree model has no coefficients and no intercept".into());
            }
            trees.validate(self.features.len())?;
        } else if self.coefficients.len() != self.features.len() {
            return Err(format!(
                "the model has {} feature names but {} coefficients",
                self.features.len(),
                self.coefficients.len()
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for name in &self.features {
            if !seen.insert(name.as_str()) {
                return Err(format!("feature {name:?} appears twice"));
            }
        }
        if let Some(i) = self.coefficients.iter().position(|c| !c.is_finite()) {
            return Err(format!(
                "coefficient of feature {} is {}, not a finite number",
                self.features[i], self.coefficients[i]
            ));
        }
        if !self.intercept.is_finite() {
            return Err(format!(
                "the intercept is {}, not a finite number",
                self.intercept
            ));
        }
        Ok(())
    }
}

/// What is wrong with a payload that does not decode, in words: bincode's own messages are its
/// Debug text.
fn decode_problem(err: &bincode::error::DecodeError) -> String {
    use bincode::error::DecodeError as E;
    match err {
        E::UnexpectedEnd { .. } => "it ends in the middle of a value".into(),
        E::LimitExceeded => format!("a length in it is over the {MAX_PAYLOAD}-byte limit"),
        E::Utf8 { .. } => "a name in it is not valid UTF-8".into(),
        E::OtherString(message) => message.clone(),
        other => other.to_string(),
    }
}

/// Checks magic, version and the payload's announced size; returns the payload length. `header`
/// holds the file's first bytes: all of them, or at least [`HEADER_LEN`].
fn check_header(path: &str, header: &[u8]) -> Result<usize> {
    if header.is_empty() {
        return Err(Error::model(path, "the file is empty"));
    }
    let magic_len = header.len().min(MAGIC.len());
    if header[..magic_len] != MAGIC[..magic_len] {
        return Err(Error::model(
            path,
            "not a batch_inference model (wrong magic bytes); make one with `batch_inference train`",
        ));
    }
    if header.len() < HEADER_LEN {
        return Err(Error::model(
            path,
            format!(
                "truncated: {} bytes, shorter than the {HEADER_LEN}-byte header",
                header.len()
            ),
        ));
    }
    let version = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
    if version > FORMAT_VERSION {
        return Err(Error::model(
            path,
            format!(
                "format version {version} is newer than this program reads ({FORMAT_VERSION}); \
                 upgrade batch_inference"
            ),
        ));
    }
    if version == 0 {
        return Err(Error::model(path, "unknown format version 0"));
    }
    let payload_len = u64::from_le_bytes(header[12..20].try_into().expect("8 bytes"));
    if payload_len > MAX_PAYLOAD {
        return Err(Error::model(
            path,
            format!(
                "the header claims a {payload_len}-byte payload, over the {MAX_PAYLOAD}-byte limit"
            ),
        ));
    }
    Ok(payload_len as usize)
}

/// Checks that the file holds the `payload_len` bytes its header announced, and no more:
/// `actual` bytes follow the header.
fn check_length(path: &str, payload_len: usize, actual: u64) -> Result<()> {
    let payload_len = payload_len as u64;
    if actual < payload_len {
        return Err(Error::model(
            path,
            format!(
                "truncated: the header promises {payload_len} payload bytes, the file has {actual}"
            ),
        ));
    }
    if actual > payload_len {
        return Err(Error::model(
            path,
            format!(
                "{} unexpected bytes after the payload",
                actual - payload_len
            ),
        ));
    }
    Ok(())
}

/// A model file that is not there, said with the two ways to make one.
fn no_model() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        "no such file; train one with `batch_inference train`, or import one with \
         `batch_inference import`",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    fn model() -> ModelFile {
        testing::model(&["a", "b"], &[2.0, -0.5], 1.0)
    }

    fn message(bytes: &[u8]) -> String {
        ModelFile::from_bytes("m.bin", bytes)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_model_survives_a_round_trip_through_bytes() {
        let bytes = model().to_bytes();
        assert_eq!(&bytes[..8], &MAGIC);
        assert_eq!(ModelFile::from_bytes("m.bin", &bytes).unwrap(), model());
    }

    #[test]
    fn a_loaded_model_carries_the_digest_of_the_whole_file_it_was_decoded_from() {
        let bytes = model().to_bytes();
        let path = testing::scratch_file("model-digest", "m.bin", &bytes);
        let loaded = ModelFile::load(&path).unwrap();
        assert_eq!(loaded.model, model());
        assert_eq!(loaded.version, 3);
        // Of the header and the payload, not the payload alone (whose digest the header holds).
        assert_eq!(loaded.sha256, format!("{:x}", Sha256::digest(&bytes)));
        assert_ne!(
            loaded.sha256,
            format!("{:x}", Sha256::digest(&bytes[HEADER_LEN..]))
        );
        assert_eq!(LoadedModel::decode(&path, &bytes).unwrap(), loaded);
    }

    #[test]
    fn ols_keeps_bincode_variant_index_zero() {
        assert_eq!(model().to_bytes()[HEADER_LEN], 0);
    }

    #[test]
    fn parameters_solver_and_cross_validation_survive_a_round_trip() {
        let fold = FitMetrics {
            rows: 2,
            mse: 0.5,
            r2: 0.25,
        };
        let m = ModelFile {
            algorithm: Algorithm::ElasticNet {
                alpha: 0.1,
                l1_ratio: 0.5,
                tol: 1e-12,
                max_iter: 1000,
            },
            standardize: true,
            solver: Solver::CoordinateDescent {
                iterations: 17,
                duality_gap: 3e-13,
            },
            cv: Some(CrossValidation {
                folds: vec![fold, fold],
                mse: 0.5,
                r2: 0.25,
            }),
            ..model()
        };
        assert_eq!(ModelFile::from_bytes("m.bin", &m.to_bytes()).unwrap(), m);
    }

    #[test]
    fn out_of_range_parameters_are_refused() {
        let mut m = model();
        m.algorithm = Algorithm::Ridge { alpha: -1.0 };
        assert!(message(&m.to_bytes())
            .ends_with("the ridge parameters are out of range: Ridge { alpha: -1.0 }"));
    }

    #[test]
    fn every_truncation_is_a_clean_error() {
        let bytes = model().to_bytes();
        for len in 0..bytes.len() {
            let err = ModelFile::from_bytes("m.bin", &bytes[..len]).unwrap_err();
            assert_eq!(err.exit_code(), 4, "length {len}");
        }
        assert_eq!(
            message(&bytes[..10]),
            "m.bin: invalid model file: truncated: 10 bytes, shorter than the 52-byte header"
        );
    }

    #[test]
    fn every_flipped_payload_byte_fails_the_checksum() {
        let bytes = model().to_bytes();
        for i in HEADER_LEN..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            assert!(message(&bad).contains("checksum mismatch"), "byte {i}");
        }
    }

    #[test]
    fn a_foreign_file_is_named_as_such() {
        assert!(message(b"CRIM,ZN,INDUS\n1,2,3\n").contains("wrong magic bytes"));
    }

    #[test]
    fn a_future_version_asks_for_an_upgrade() {
        let mut bytes = model().to_bytes();
        bytes[8..12].copy_from_slice(&4u32.to_le_bytes());
        bytes[8..12].copy_from_slice(&5u32.to_le_bytes());
        assert!(message(&bytes).contains("format version 5 is newer than this program reads (4)"));
    }

    /// `m` (a linear model) as format `version` 1, 2 or 3 wrote it: a linear model is written
    /// as version 3, whose payload for a trained model is the older payload and one 0
    /// (`source: None`).
    fn as_version(m: &ModelFile, version: u32) -> Vec<u8> {
        let mut bytes = m.to_bytes();
        if version < 3 {
            assert_eq!(bytes.pop(), Some(0));
        }
        let payload_len = (bytes.len() - HEADER_LEN) as u64;
        bytes[8..12].copy_from_slice(&version.to_le_bytes());
        bytes[12..20].copy_from_slice(&payload_len.to_le_bytes());
        let digest = Sha256::digest(&bytes[HEADER_LEN..]);
        bytes[20..HEADER_LEN].copy_from_slice(&digest);
        bytes
    }

    #[test]
    fn a_version_1_file_decodes_unless_it_names_a_version_2_solver() {
        let mut m = model();
        let bytes = as_version(&m, 1);
        assert_eq!(
            ModelFile::from_bytes_versioned("m.bin", &bytes).unwrap(),
            (m.clone(), 1)
        );
        m.solver = Solver::LeastSquares { rank: 2 };
        let bytes = as_version(&m, 2);
        assert_eq!(
            ModelFile::from_bytes_versioned("m.bin", &bytes).unwrap(),
            (m.clone(), 2)
        );
        let bytes = as_version(&m, 1);
        assert!(message(&bytes).ends_with("format version 1 cannot hold a solver with a rank: the header or payload is corrupt (retrain)"));
    }

    #[test]
    fn an_imported_model_keeps_its_source_and_needs_all_three_marks() {
        let mut m = model();
        m.algorithm = Algorithm::Imported;
        m.solver = Solver::Folded;
        m.source = Some(Source {
            format: "onnx".into(),
            producer_name: "skl2onnx".into(),
            producer_version: "1.20.0".into(),
            opsets: vec![Opset {
                domain: "ai.onnx".into(),
                version: 13,
            }],
            operators: vec!["ai.onnx.MatMul".into(), "ai.onnx.Add".into()],
            sha256: "ab".into(),
        });
        assert_eq!(ModelFile::from_bytes("m.bin", &m.to_bytes()).unwrap(), m);
        m.source = None;
        assert!(message(&m.to_bytes()).ends_with(
            "an imported model needs all of algorithm imported, solver folded and a source"
        ));
    }

    #[test]
    fn a_version_2_payload_has_no_source_field() {
        let m = model();
        assert_eq!(
            ModelFile::from_bytes_versioned("m.bin", &as_version(&m, 2)).unwrap(),
            (m.clone(), 2)
        );
        let mut v3 = as_version(&m, 2);
        v3[8..12].copy_from_slice(&3u32.to_le_bytes());
        assert_eq!(
            message(&v3),
            "m.bin: invalid model file: cannot decode payload: it ends in the middle of a value"
        );
    }

    #[test]
    fn a_huge_length_prefix_is_refused_before_allocating() {
        let mut bytes = model().to_bytes();
        bytes[12..20].copy_from_slice(&(1u64 << 40).to_le_bytes());
        assert!(message(&bytes).contains("over the 67108864-byte limit"));
    }

    #[test]
    fn an_inconsistent_model_is_refused() {
        let mut m = model();
        m.coefficients.push(1.0);
        assert!(
            message(&m.to_bytes()).ends_with("the model has 2 feature names but 3 coefficients")
        );
        let mut m = model();
        m.coefficients[1] = f64::NAN;
        assert!(message(&m.to_bytes())
            .ends_with("coefficient of feature b is NaN, not a finite number"));
    }

    fn tree_model() -> ModelFile {
        use trees::{kind, Aggregate, TreeEnsemble};
        ModelFile {
            algorithm: Algorithm::Imported,
            solver: Solver::Trees,
            coefficients: vec![],
            intercept: 0.0,
            source: Some(Source {
                format: "onnx".into(),
                producer_name: "skl2onnx".into(),
                producer_version: "1.20.0".into(),
                opsets: vec![],
                operators: vec!["ai.onnx.ml.TreeEnsembleRegressor".into()],
                sha256: "ab".into(),
            }),
            trees: Some(TreeEnsemble {
                float_features: true,
                aggregate: Aggregate::Sum,
                base: 1.5,
                roots: vec![0],
                kinds: vec![kind::LEQ, kind::LEAF, kind::LEAF],
                features: vec![1, 0, 0],
                values: vec![0.5, -1.0, 1.0],
                yes: vec![1, 0, 0],
                no: vec![2, 0, 0],
            }),
            ..model()
        }
    }

    #[test]
    fn a_tree_model_survives_a_round_trip_and_is_checked_on_load() {
        let m = tree_model();
        assert_eq!(
            ModelFile::from_bytes_versioned("m.bin", &m.to_bytes()).unwrap(),
            (m.clone(), 4)
        );
        let mut bad = m.clone();
        bad.trees.as_mut().unwrap().yes[0] = 7;
        assert_eq!(
            message(&bad.to_bytes()),
            "m.bin: invalid model file: tree 0: node 0 has child 7, not after it in its tree"
        );
        let mut bad = m.clone();
        bad.trees.as_mut().unwrap().features[0] = 2;
        assert_eq!(
            message(&bad.to_bytes()),
            "m.bin: invalid model file: tree 0: node 0 tests feature 2, past the 2 features"
        );
        let mut bad = m;
        bad.trees = None;
        assert_eq!(
            message(&bad.to_bytes()),
            "m.bin: invalid model file: a tree model needs both solver trees and a tree ensemble"
        );
    }

    #[test]
    fn a_linear_model_is_written_as_version_3_and_read_as_3_or_4() {
        let mut m = model();
        m.algorithm = Algorithm::Imported;
        m.solver = Solver::Folded;
        m.source = tree_model().source;
        let mut bytes = m.to_bytes();
        assert_eq!(
            ModelFile::from_bytes_versioned("m.bin", &bytes).unwrap(),
            (m.clone(), 3)
        );
        // The same model as version 4: the payload and one 0 (`trees: None`).
        bytes.push(0);
        let payload_len = (bytes.len() - HEADER_LEN) as u64;
        bytes[8..12].copy_from_slice(&4u32.to_le_bytes());
        bytes[12..20].copy_from_slice(&payload_len.to_le_bytes());
        let digest = Sha256::digest(&bytes[HEADER_LEN..]);
        bytes[20..HEADER_LEN].copy_from_slice(&digest);
        assert_eq!(
            ModelFile::from_bytes_versioned("m.bin", &bytes).unwrap(),
            (m, 4)
        );
    }
}
