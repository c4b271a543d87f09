//! batch_inference: score CSV observations with a linear regression model, in streaming
//! batches, as a container or Kubernetes batch job.
//!
//! The data path reads top to bottom, and so do the folders:
//! - [`store`]: where bytes come from and go to: objects (when a path is an `s3://`, `gs://`
//!   or `az://` URL) read as streams or by byte range, prefixes listed, outputs uploaded whole
//!   or not at all, on a small tokio runtime of its own; and the decompression of any byte
//!   source, gzip or zstd ([`store::compression`]), on a thread of its own
//!   ([`store::read_ahead`]).
//! - [`read`]: bytes to batches. An input is opened (a file, a shard's byte range of one, or
//!   standard input, decompressed when it is compressed), cut into blocks of whole records,
//!   its header checked and the model's columns found in it; each block's rows are parsed
//!   into reused `f64` batches.
//! - [`model`]: the model file (versioned, checksummed), the prediction kernel `x · w + b`
//!   ([`model::linear`]) and the summary that `inspect` and `train` show.
//! - [`score`]: the default command, plan -> open -> pipeline of workers -> collector, which
//!   writes the predictions in input order through [`output`] (encoders and sinks; files
//!   appear whole or not at all, by [`atomic`], their writeback started as they grow, by
//!   [`sync_ahead`]).
//! - [`train`] fits the estimators of [`estimator`] on batches from the same readers, and
//!   [`inspect`] shows a model file; [`import`] turns an ONNX linear regressor (a file, or an
//!   MLflow model directory) into one. The commands share these folders and never import
//!   each other.
//! - [`serve`]: the same model over HTTP (the Open Inference Protocol, `POST /predict`,
//!   `/metrics`), predicting through the same kernel and, for CSV, the same readers and
//!   encoder as the batch command.
//!
//! Around them: [`cli`] (the command line), [`error`] (the one error type and exit-code
//! table), [`log`] and [`signals`]. The library never prints results of its own accord nor
//! exits; `main.rs` turns errors into exit codes.

pub mod atomic;
pub mod cli;
pub mod descriptor;
pub mod error;
pub mod estimator;
pub mod import;
pub mod inspect;
pub mod log;
pub mod model;
pub mod output;
pub mod parquet_output;
pub mod paths;
pub mod read;
pub mod score;
pub mod serve;
pub mod signals;
pub mod store;
pub mod sync_ahead;
pub mod train;

#[cfg(test)]
mod testing;

use cli::{Cli, Command};
use error::{Outcome, Result};
use log::Logger;

/// Runs the command the user asked for.
pub fn run(cli: &Cli) -> Result<Outcome> {
    let log = Logger::new(cli.log.quiet, cli.log.log_format);
    match &cli.command {
        None => score::score(&cli.score, &log),
        Some(Command::Score(args)) => score::score(args, &log),
        Some(Command::Train(args)) => train::train(args, &log).map(|()| Outcome::Success),
        Some(Command::Inspect(args)) => inspect::inspect(args).map(|()| Outcome::Success),
        Some(Command::Import(args)) => import::import(args, &log).map(|()| Outcome::Success),
        Some(Command::Serve(args)) => serve::serve(args, &log),
    }
}
