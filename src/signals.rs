//! The signals that end a run: SIGTERM (what Kubernetes sends before SIGKILL), SIGINT
//! (Ctrl-C), SIGHUP (the terminal or the session went away) and SIGQUIT (Ctrl-\\). Each removes
//! the files being written; none leaves a core dump or a temporary file behind.
//!
//! The handler itself only writes to a pipe (signal-hook's self-pipe); a dedicated thread reads
//! the pipe and runs the caller's reaction, which may do what a handler may not: take locks,
//! remove files, log. As that thread waits on nothing but the pipe, a run blocked reading
//! standard input stops as promptly as one in the middle of a batch. Having a handler at all
//! matters as PID 1 in a container, where the kernel drops signals that have none.

use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::error::{Error, Result};

/// A signal that asks the process to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Termination {
    /// SIGTERM: a polite kill, as from Kubernetes, `podman stop` or `kill`.
    Term,
    /// SIGINT: Ctrl-C at a terminal.
    Interrupt,
    /// SIGHUP: the terminal closed, or `nohup`-less ssh session ended.
    Hangup,
    /// SIGQUIT: Ctrl-\\ at a terminal; by default it would dump core and leave the files.
    Quit,
}

/// Every signal that ends a run, in the order of [`Termination`].
const HANDLED: [i32; 4] = [SIGTERM, SIGINT, SIGHUP, SIGQUIT];
/// The handled signals' names, for the error of a failure to handle them.
const HANDLED_NAMES: &str = "SIGTERM, SIGINT, SIGHUP and SIGQUIT";

impl Termination {
    /// The signal's usual name.
    pub fn name(self) -> &'static str {
        match self {
            Termination::Term => "SIGTERM",
            Termination::Interrupt => "SIGINT",
            Termination::Hangup => "SIGHUP",
            Termination::Quit => "SIGQUIT",
        }
    }

    /// The signal's number.
    pub fn number(self) -> i32 {
        match self {
            Termination::Term => SIGTERM,
            Termination::Interrupt => SIGINT,
            Termination::Hangup => SIGHUP,
            Termination::Quit => SIGQUIT,
        }
    }

    /// The termination for signal number `number`, one of [`HANDLED`].
    fn of(number: i32) -> Termination {
        match number {
            SIGINT => Termination::Interrupt,
            SIGHUP => Termination::Hangup,
            SIGQUIT => Termination::Quit,
            _ => Termination::Term,
        }
    }
}

/// Handles SIGTERM, SIGINT, SIGHUP and SIGQUIT from now on: at the first of them, `react` runs on a thread of its
/// own. `react` is meant to end the process; until it does, the signals are caught and ignored.
pub fn on_termination(react: impl FnOnce(Termination) + Send + 'static) -> Result<()> {
    let mut signals = Signals::new(HANDLED).map_err(|e| Error::io(HANDLED_NAMES, "handle", e))?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                react(Termination::of(signal));
            }
        })
        .map_err(|e| Error::io(HANDLED_NAMES, "handle", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signals_have_their_posix_numbers() {
        assert_eq!(Termination::Interrupt.number(), 2);
        assert_eq!(Termination::Term.number(), 15);
        assert_eq!(Termination::Hangup.number(), 1);
        assert_eq!(Termination::Quit.number(), 3);
        assert_eq!(Termination::Term.name(), "SIGTERM");
        for signal in HANDLED {
            assert_eq!(Termination::of(signal).number(), signal);
        }
    }
}
