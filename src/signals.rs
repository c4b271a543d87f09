//! The signals that end a run: SIGTERM (what Kubernetes sends before SIGKILL) and SIGINT
//! (Ctrl-C).
//!
//! The handler itself only writes to a pipe (signal-hook's self-pipe); a dedicated thread reads
//! the pipe and runs the caller's reaction, which may do what a handler may not: take locks,
//! remove files, log. As that thread waits on nothing but the pipe, a run blocked reading
//! standard input stops as promptly as one in the middle of a batch. Having a handler at all
//! matters as PID 1 in a container, where the kernel drops signals that have none.

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::error::{Error, Result};

/// A signal that asks the process to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Termination {
    /// SIGTERM: a polite kill, as from Kubernetes, `podman stop` or `kill`.
    Term,
    /// SIGINT: Ctrl-C at a terminal.
    Interrupt,
}

impl Termination {
    /// The signal's usual name.
    pub fn name(self) -> &'static str {
        match self {
            Termination::Term => "SIGTERM",
            Termination::Interrupt => "SIGINT",
        }
    }

    /// The signal's number.
    pub fn number(self) -> i32 {
        match self {
            Termination::Term => SIGTERM,
            Termination::Interrupt => SIGINT,
        }
    }
}

/// Handles SIGTERM and SIGINT from now on: at the first of them, `react` runs on a thread of its
/// own. `react` is meant to end the process; until it does, the signals are caught and ignored.
pub fn on_termination(react: impl FnOnce(Termination) + Send + 'static) -> Result<()> {
    let mut signals = Signals::new([SIGTERM, SIGINT])
        .map_err(|e| Error::io("SIGTERM and SIGINT", "handle", e))?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                react(if signal == SIGINT {
                    Termination::Interrupt
                } else {
                    Termination::Term
                });
            }
        })
        .map_err(|e| Error::io("SIGTERM and SIGINT", "handle", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signals_have_their_posix_numbers() {
        assert_eq!(Termination::Interrupt.number(), 2);
        assert_eq!(Termination::Term.number(), 15);
        assert_eq!(Termination::Term.name(), "SIGTERM");
    }
}
