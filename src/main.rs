//! The `batch_inference` binary: parse the command line, run, and turn the outcome into an
//! exit code. This is the only place that exits.

use batch_inference::cli::{Cli, Command};
use batch_inference::error::{signal_exit_code, EXIT_OK};
use batch_inference::log::Logger;
use batch_inference::{atomic, signals, store};

fn main() {
    // clap prints its own usage errors and exits with 2, the code error.rs gives usage errors.
    let cli = Cli::parse_args();
    let log = Logger::new(cli.log.quiet, cli.log.log_format);
    // SIGTERM, SIGINT, SIGHUP or SIGQUIT: remove the files being written and exit at once, from the signal
    // thread, whatever the other threads are doing (even waiting for standard input).
    // `serve` handles its own: SIGHUP reloads the model and SIGTERM drains.
    // Uploads to object storage are aborted first, so no object or part of one is left.
    let handled = match cli.command {
        Some(Command::Serve(_)) => Ok(()),
        _ => signals::on_termination(move |signal| {
            store::put::abort_uploads_then(|| {
                atomic::remove_temp_files_then(|| {
                    log.error(&format!("stopped by {}", signal.name()));
                    std::process::exit(signal_exit_code(signal.number()))
                })
            })
        }),
    };
    let code = match handled.and_then(|()| batch_inference::run(&cli)) {
        Ok(outcome) => outcome.exit_code(),
        // The reader of our output went away (`| head`): not a failure of ours.
        Err(err) if err.is_broken_pipe() => EXIT_OK,
        Err(err) => {
            log.error(&err.to_string());
            err.exit_code()
        }
    };
    std::process::exit(code);
}
