//! The `batch_inference` binary: parse the command line, run, and turn the outcome into an
//! exit code. This is the only place that exits.

use clap::Parser;

use batch_inference::cli::Cli;
use batch_inference::log::Logger;

fn main() {
    // clap prints its own usage errors and exits with 2, the code error.rs gives usage errors.
    let cli = Cli::parse();
    let code = match batch_inference::run(&cli) {
        Ok(outcome) => outcome.exit_code(),
        // The reader of our output went away (`| head`): not a failure of ours.
        Err(err) if err.is_broken_pipe() => batch_inference::error::EXIT_OK,
        Err(err) => {
            Logger::new(cli.log.quiet, cli.log.log_format).error(&err.to_string());
            err.exit_code()
        }
    };
    std::process::exit(code);
}
