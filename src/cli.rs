//! The command line, as clap derive types only; the doc comments are the `--help` text.
//! Checks that clap cannot express live with the code that uses the values.

use std::ffi::OsString;

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::error::EXIT_CODES;
use crate::log::LogFormat;
use crate::output::Format;
use crate::store::local_path;

/// The text after each command's options: the exit codes of [`EXIT_CODES`], and the default
/// command.
fn after_help() -> String {
    let mut text = String::from("Exit codes:\n");
    for row in EXIT_CODES {
        let codes: Vec<String> = row.codes.iter().map(i32::to_string).collect();
        text += &format!("  {:<9} {}\n", codes.join(", "), row.meaning);
    }
    text + "\nWithout a subcommand, `batch_inference` scores: it is `batch_inference score`."
}

/// Score CSV or Parquet observations with a model (a linear model trained here, or a linear
/// model or tree ensemble imported from ONNX), in streaming batches.
///
/// Predictions go to standard output (or --output); logs go to standard error.
#[derive(Debug, Parser)]
#[command(
    name = "batch_inference",
    version,
    after_help = after_help(),
    max_term_width = 100
)]
pub struct Cli {
    /// What to do; scoring when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Scoring options, for the default command.
    #[command(flatten)]
    pub score: ScoreArgs,

    /// Logging options.
    #[command(flatten)]
    pub log: LogArgs,
}

impl Cli {
    /// Parses the process's arguments; on a usage error clap prints it and exits with 2, the
    /// code error.rs gives usage errors.
    pub fn parse_args() -> Cli {
        Cli::try_parse_args(std::env::args_os()).unwrap_or_else(|e| e.exit())
    }

    /// Parses `args` (the program name first). The global options (`--quiet`, `--log-format`)
    /// go before or after a subcommand; the default command's own options only without one.
    /// clap's `args_conflicts_with_subcommands` would say the second but also refuse the first,
    /// so the conflict is checked here, on what the command line itself gave.
    pub fn try_parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let mut command = Cli::command();
        let matches = command.try_get_matches_from_mut(args)?;
        if let Some((name, _)) = matches.subcommand() {
            let scoring_flag = command
                .get_arguments()
                .filter(|arg| !arg.is_global_set())
                .find(|arg| {
                    matches.value_source(arg.get_id().as_str()) == Some(ValueSource::CommandLine)
                })
                .map(|arg| format!("--{}", arg.get_long().unwrap_or(arg.get_id().as_str())));
            if let Some(flag) = scoring_flag {
                return Err(command.error(
                    ErrorKind::ArgumentConflict,
                    format!(
                        "the subcommand '{name}' cannot be used with '{flag}', an option of the \
                         default command; put options after the subcommand"
                    ),
                ));
            }
        }
        Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut command))
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Score observations with a model (the default command).
    #[command(after_help = after_help())]
    Score(ScoreArgs),
    /// Fit a linear model with intercept (ols, ridge, lasso or elastic net) from a CSV with a
    /// target column.
    #[command(after_help = after_help())]
    Train(TrainArgs),
    /// Show what a model file holds: version, features, coefficients or trees, metrics, and
    /// where an imported model came from.
    #[command(after_help = after_help())]
    Inspect(InspectArgs),
    /// Convert a regressor in an ONNX file, or in an MLflow model directory with an onnx
    /// flavor, into a model file: a linear one (LinearRegression, Ridge, Lasso or ElasticNet as
    /// skl2onnx exports it, optionally after a StandardScaler) or a tree ensemble
    /// (TreeEnsembleRegressor: scikit-learn's trees, forests and gradient boosting, LightGBM).
    #[command(after_help = after_help())]
    Import(ImportArgs),
    /// Serve the model over HTTP: the Open Inference Protocol (KServe V2) under /v2, POST
    /// /predict (a CSV in, the scoring command's output out) and /metrics. SIGHUP reloads the
    /// model; SIGTERM drains and exits 0.
    #[command(after_help = after_help())]
    Serve(ServeArgs),
}

/// Options of the scoring command.
#[derive(Debug, Clone, Args)]
pub struct ScoreArgs {
    /// Model file written by `batch_inference train`.
    #[arg(value_parser = local_path)]
    #[arg(
        long,
        env = "MODEL_PATH",
        default_value = "model/model.bin",
        value_name = "PATH"
    )]
    pub model: String,

    /// CSV of observations with a header naming the model's features (any order; extra
    /// columns are ignored); `-` reads standard input. Gzip and zstd (by name, .gz or .zst, or
    /// by content) are read decompressed. A Parquet file (named .parquet, or by content) is
    /// read by its columns: only the model's and the id columns.
    /// Also s3://, gs:// or az:// URLs (credentials from the environment); a URL ending in /
    /// is a prefix: every object under it, in key order, as one input. A Parquet object is
    /// read by ranged GETs of its footer and of the columns needed, never whole.
    #[arg(value_parser = local_path)]
    #[arg(
        long,
        env = "DATA_PATH",
        default_value = "data/test.csv",
        value_name = "PATH"
    )]
    pub data: String,

    /// Write predictions to this file (written whole or not at all; a replaced file keeps its
    /// permissions) instead of standard output; a descriptor, device or FIFO (/dev/stdout) is
    /// written through. It may not be the same file as any input or other output. A name
    /// ending in .gz or .zst is written compressed; one ending in .parquet is written as
    /// Parquet (zstd), whatever --format says. An s3://, gs:// or az:// URL is uploaded, and
    /// appears only when the run succeeds.
    #[arg(value_parser = local_path)]
    #[arg(long, env = "OUTPUT_PATH", hide_env_values = true, value_name = "PATH")]
    pub output: Option<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    pub format: Format,

    /// Copy this input column next to each prediction, to join results back. Give it several
    /// times, or as a comma list (--id-column store,day), to carry several columns, in that
    /// order, before the prediction.
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    pub id_column: Vec<String>,

    /// Rows per batch: each batch is one matrix-vector product.
    #[arg(long, default_value_t = 4096, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    pub batch_rows: u32,

    /// Worker threads that parse and score [default: the CPUs this process may use, which
    /// follows a container's CPU limit]. The output is the same for every value.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: Option<u32>,

    /// This process's shard, from 0 [default: $JOB_COMPLETION_INDEX, as a Kubernetes Indexed
    /// Job sets it]. Shard I scores the rows whose lines start in the I-th of N equal byte
    /// ranges of the file; the shards' outputs, concatenated in index order, are the
    /// unsharded output (only shard 0 writes the CSV header).
    #[arg(long, value_name = "I")]
    pub shard_index: Option<u64>,

    /// How many shards the input is split into; needs an uncompressed file, not standard
    /// input.
    #[arg(long, env = "SHARD_COUNT", hide_env_values = true, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub shard_count: Option<u64>,

    /// What a row that cannot be scored does: fail the run (exit 3, no output), or be skipped,
    /// recorded, and make the run exit 6 once the output is complete.
    #[arg(long, value_enum, default_value_t = OnError::Fail)]
    pub on_error: OnError,

    /// With --on-error skip, write rejected rows to this CSV (line,reason,record) [default:
    /// log each as a warning]. Takes {index} like --output.
    #[arg(value_parser = local_path)]
    #[arg(long, value_name = "PATH")]
    pub rejects: Option<String>,

    /// With --on-error skip, fail (exit 3, no output) when more than N rows are rejected.
    #[arg(long, value_name = "N")]
    pub max_errors: Option<u64>,

    /// With sharding, redo a shard whose --output already exists (by default it is complete,
    /// since outputs appear only whole, and is skipped).
    #[arg(long)]
    pub overwrite: bool,

    /// At the end of the run, push its figures to the Prometheus Pushgateway at this http://
    /// URL (push-add: POST URL/metrics/job/JOB, plus /shard/I when sharded): rows scored and
    /// rejected, seconds, exit code, and on success
    /// batch_inference_last_success_timestamp_seconds. A failed run pushes what it knows. A
    /// push that fails (5 s timeouts) is a warning and does not change the exit code.
    #[arg(long, env = "METRICS_PUSH_URL", value_name = "URL")]
    pub metrics_push: Option<String>,

    /// The Pushgateway job that --metrics-push groups the figures under.
    #[arg(
        long,
        env = "METRICS_JOB",
        default_value = "batch_inference",
        value_name = "NAME"
    )]
    pub metrics_job: String,
}

/// What a row that cannot be scored does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnError {
    /// Stop with exit code 3 and leave no output.
    Fail,
    /// Skip the row, record it, finish, and exit with 6.
    Skip,
}

/// Options of the train command.
#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    /// Training CSV with a header; `-` reads standard input. Gzip and zstd are read
    /// decompressed; a Parquet file (named .parquet, or by content) is read by its columns.
    /// Also an s3://, gs:// or az:// URL of one object, CSV or Parquet.
    #[arg(value_parser = local_path)]
    #[arg(long, value_name = "PATH")]
    pub data: String,

    /// Name of the column to predict.
    #[arg(long, value_name = "NAME")]
    pub target: String,

    /// Where to write the model; `metadata.json` is written beside it.
    #[arg(value_parser = local_path)]
    #[arg(long, default_value = "model/model.bin", value_name = "PATH")]
    pub out: String,

    /// Feature columns, comma-separated [default: every column but the target].
    #[arg(long, value_delimiter = ',', value_name = "A,B,C")]
    pub features: Option<Vec<String>>,

    /// A second CSV, with the same columns, for holdout metrics; gzip and zstd are read
    /// decompressed.
    #[arg(value_parser = local_path)]
    #[arg(long, value_name = "PATH")]
    pub holdout: Option<String>,

    /// The estimator, as scikit-learn's LinearRegression, Ridge, Lasso and ElasticNet.
    #[arg(long, value_enum, default_value_t = AlgorithmName::Ols)]
    pub algorithm: AlgorithmName,

    /// Penalty weight, scikit-learn's `alpha` (ridge, lasso, elastic-net) [default: 1]. ridge
    /// minimises ||y-Xw-b||² + alpha·||w||²; lasso and elastic-net minimise
    /// ||y-Xw-b||²/(2n) + alpha·l1_ratio·||w||₁ + alpha·(1-l1_ratio)/2·||w||².
    #[arg(long, value_name = "A", allow_negative_numbers = true)]
    pub alpha: Option<f64>,

    /// The L1 share of elastic-net's penalty, in [0, 1], scikit-learn's `l1_ratio`
    /// [default: 0.5].
    #[arg(long, value_name = "R", allow_negative_numbers = true)]
    pub l1_ratio: Option<f64>,

    /// Fit on standardized features (centered, divided by their standard deviation, as
    /// scikit-learn's StandardScaler). The model stores coefficients for the original features,
    /// so scoring needs no extra step.
    #[arg(long)]
    pub standardize: bool,

    /// Also report K-fold cross-validated MSE and R² (contiguous, unshuffled folds, as
    /// scikit-learn's KFold(K)).
    #[arg(long, value_name = "K", allow_negative_numbers = true)]
    pub cv: Option<i64>,

    /// Fit in constant memory from X'X and X'y accumulated batch by batch, for files larger
    /// than memory. Supports ols and ridge only: lasso and elastic-net need the rows.
    #[arg(long)]
    pub streaming: bool,

    /// lasso and elastic-net: stop when the duality gap is below TOL·||y-mean(y)||²,
    /// scikit-learn's `tol` [default: 1e-12, where scikit-learn's is 1e-4].
    #[arg(long, value_name = "TOL", allow_negative_numbers = true)]
    pub tol: Option<f64>,

    /// lasso and elastic-net: the most passes of coordinate descent over the features,
    /// scikit-learn's `max_iter` [default: 100000].
    #[arg(long, value_name = "N")]
    pub max_iter: Option<u32>,
}

/// The estimators `train --algorithm` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AlgorithmName {
    /// Ordinary least squares.
    Ols,
    /// Least squares with an L2 penalty.
    Ridge,
    /// Least squares with an L1 penalty.
    Lasso,
    /// Least squares with L1 and L2 penalties.
    ElasticNet,
}

/// Options of the import command.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// The ONNX file, or an MLflow model directory (holding an MLmodel file with an onnx
    /// flavor).
    #[arg(value_parser = local_path)]
    #[arg(value_name = "PATH")]
    pub path: String,

    /// Where to write the model file.
    #[arg(value_parser = local_path)]
    #[arg(long, value_name = "PATH")]
    pub out: String,

    /// Names of the columns of the ONNX input, comma-separated, in its column order; these
    /// are the CSV columns scoring reads. Needed when the model names none: a graph with one
    /// input per column, or an MLflow signature of columns, names them (and then --features,
    /// if given, must say the same).
    #[arg(long, value_delimiter = ',', value_name = "A,B,C")]
    pub features: Option<Vec<String>>,
}

/// Options of the inspect command.
#[derive(Debug, Clone, Args)]
pub struct InspectArgs {
    /// Model file to describe.
    #[arg(value_parser = local_path)]
    #[arg(
        long,
        env = "MODEL_PATH",
        default_value = "model/model.bin",
        value_name = "PATH"
    )]
    pub model: String,

    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Options of the serve command.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Model file to serve; read again on SIGHUP or when it changes.
    #[arg(
        long,
        env = "MODEL_PATH",
        default_value = "model/model.bin",
        value_name = "PATH"
    )]
    pub model: String,

    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0", value_name = "ADDR")]
    pub host: String,

    /// Port to listen on; 0 lets the system pick one (the log says which).
    #[arg(long, env = "PORT", default_value_t = 8080, value_name = "PORT")]
    pub port: u16,

    /// The model's name in the protocol's paths: /v2/models/NAME/infer.
    #[arg(long, default_value = "model", value_name = "NAME")]
    pub name: String,

    /// After SIGTERM, how long requests in flight may take before the process exits anyway
    /// (with 0).
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub drain_seconds: u64,

    /// How long a client may take to send a request's headers, from the connection's opening
    /// or the end of its previous answer, before the connection is closed: a client that sends
    /// them a byte at a time, stops halfway or sits idle cannot hold a connection for ever.
    #[arg(long, default_value_t = 10, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout_seconds: u64,

    /// The most connections open at once; further clients wait in the listen queue until one
    /// closes, so memory stays bounded whatever the number of clients.
    #[arg(long, default_value_t = 1024, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// The largest request body accepted; a larger one is answered 413. Larger files are
    /// the batch command's work.
    #[arg(long, default_value_t = 1024 * 1024, value_name = "BYTES")]
    pub max_body_bytes: usize,

    /// How often to look at the model file's time and size, and reload it when they change;
    /// 0 reloads only on SIGHUP.
    #[arg(long, default_value_t = 5, value_name = "SECONDS")]
    pub watch_seconds: u64,

    /// Log one line per request (method, path, status, milliseconds).
    #[arg(long)]
    pub log_requests: bool,
}

/// Options that apply to every command.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Log nothing but errors.
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// Log as plain text or as JSON lines.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_subcommand_means_score_with_the_bundled_defaults() {
        let cli = Cli::try_parse_from(["batch_inference"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.score.data, "data/test.csv");
        assert_eq!(cli.score.batch_rows, 4096);
    }

    #[test]
    fn global_options_go_before_or_after_a_subcommand() {
        for args in [
            ["batch_inference", "-q", "--log-format", "json", "inspect"],
            ["batch_inference", "inspect", "-q", "--log-format", "json"],
        ] {
            let cli = Cli::try_parse_args(args).unwrap();
            assert!(matches!(cli.command, Some(Command::Inspect(_))), "{args:?}");
            assert!(cli.log.quiet, "{args:?}");
            assert_eq!(cli.log.log_format, LogFormat::Json, "{args:?}");
        }
        let cli = Cli::try_parse_args(["batch_inference", "-q"]).unwrap();
        assert!(cli.command.is_none() && cli.log.quiet);
    }

    #[test]
    fn scoring_options_before_a_subcommand_are_a_usage_error() {
        let err =
            Cli::try_parse_args(["batch_inference", "--data", "x.csv", "inspect"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ArgumentConflict);
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().starts_with(
            "error: the subcommand 'inspect' cannot be used with '--data', an option of the \
             default command; put options after the subcommand"
        ));
    }

    #[test]
    fn features_are_split_on_commas() {
        let cli = Cli::try_parse_args([
            "batch_inference",
            "train",
            "--data",
            "d.csv",
            "--target",
            "y",
            "--features",
            "a,b",
        ])
        .unwrap();
        match cli.command {
            Some(Command::Train(t)) => assert_eq!(t.features.unwrap(), vec!["a", "b"]),
            other => panic!("expected train, got {other:?}"),
        }
    }
}
