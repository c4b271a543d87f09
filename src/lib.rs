//! batch_inference: score CSV observations with a linear regression model, in streaming
//! batches, as a container or Kubernetes batch job.
//!
//! The data path reads top to bottom: file ([`batch`]) -> header ([`schema`]) -> batches ->
//! model ([`model`]) -> `x · w + b` ([`score`]) -> writer ([`output`]). `train` reads through the
//! same path. The library never prints results of its own accord nor exits; `main.rs` turns
//! errors into exit codes ([`error`]).

pub mod atomic;
pub mod batch;
pub mod block;
pub mod cli;
pub mod descriptor;
pub mod error;
pub mod estimator;
pub mod inspect;
pub mod log;
pub mod model;
pub mod output;
pub mod parse;
pub mod paths;
pub mod schema;
pub mod score;
pub mod shard;
pub mod signals;
pub mod simd;
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
    }
}
