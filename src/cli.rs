//! The command line, as clap derive types only; the doc comments are the `--help` text.
//! Checks that clap cannot express live with the code that uses the values.

use clap::{Args, Parser, Subcommand};

use crate::log::LogFormat;
use crate::output::Format;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  2  usage: bad flags or option values
  3  invalid input data (the message names file:line:column)
  4  invalid model file
  5  I/O failure (missing file, unwritable output, disk full)
  130, 143  stopped by SIGINT or SIGTERM (temporary files removed)

Without a subcommand, `batch_inference` scores: it is `batch_inference score`.";

/// Score CSV observations with a trained linear regression model, in streaming batches.
///
/// Predictions go to standard output (or --output); logs go to standard error.
#[derive(Debug, Parser)]
#[command(
    name = "batch_inference",
    version,
    after_help = EXIT_CODES,
    args_conflicts_with_subcommands = true,
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

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Score observations with a model (the default command).
    #[command(after_help = EXIT_CODES)]
    Score(ScoreArgs),
    /// Fit a model (OLS with intercept) from a CSV with a target column.
    #[command(after_help = EXIT_CODES)]
    Train(TrainArgs),
    /// Show what a model file holds: version, features, coefficients, metrics.
    #[command(after_help = EXIT_CODES)]
    Inspect(InspectArgs),
}

/// Options of the scoring command.
#[derive(Debug, Clone, Args)]
pub struct ScoreArgs {
    /// Model file written by `batch_inference train`.
    #[arg(
        long,
        env = "MODEL_PATH",
        default_value = "model/model.bin",
        value_name = "PATH"
    )]
    pub model: String,

    /// CSV of observations with a header naming the model's features (any order; extra
    /// columns are ignored); `-` reads standard input.
    #[arg(
        long,
        env = "DATA_PATH",
        default_value = "data/test.csv",
        value_name = "PATH"
    )]
    pub data: String,

    /// Write predictions to this file (written whole or not at all) instead of standard output;
    /// a device or FIFO (/dev/stdout) is written directly.
    #[arg(long, env = "OUTPUT_PATH", hide_env_values = true, value_name = "PATH")]
    pub output: Option<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    pub format: Format,

    /// Copy this input column next to each prediction, to join results back.
    #[arg(long, value_name = "NAME")]
    pub id_column: Option<String>,

    /// Rows per batch: each batch is one matrix-vector product.
    #[arg(long, default_value_t = 4096, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    pub batch_rows: u32,

    /// Worker threads that parse and score [default: the CPUs this process may use, which
    /// follows a container's CPU limit]. The output is the same for every value.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: Option<u32>,
}

/// Options of the train command.
#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    /// Training CSV with a header; `-` reads standard input.
    #[arg(long, value_name = "PATH")]
    pub data: String,

    /// Name of the column to predict.
    #[arg(long, value_name = "NAME")]
    pub target: String,

    /// Where to write the model; `metadata.json` is written beside it.
    #[arg(long, default_value = "model/model.bin", value_name = "PATH")]
    pub out: String,

    /// Feature columns, comma-separated [default: every column but the target].
    #[arg(long, value_delimiter = ',', value_name = "A,B,C")]
    pub features: Option<Vec<String>>,

    /// A second CSV, with the same columns, for holdout metrics.
    #[arg(long, value_name = "PATH")]
    pub holdout: Option<String>,
}

/// Options of the inspect command.
#[derive(Debug, Clone, Args)]
pub struct InspectArgs {
    /// Model file to describe.
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
    use clap::CommandFactory;

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
    fn features_are_split_on_commas() {
        let cli = Cli::try_parse_from([
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
