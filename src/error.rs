//! The one error type of the crate, and the one table that turns an error into an exit code.
//!
//! Every failure a user can cause falls in one of four kinds, each with its own exit code so a
//! scheduler (a Kubernetes Job's `podFailurePolicy`, a shell script) can tell "retrying cannot
//! help" from "the disk was full". [`EXIT_CODES`] is the table of them all: `--help` prints it
//! and a test holds the README's table to it.

use std::fmt;
use std::io;

/// Exit code for a successful run.
pub const EXIT_OK: i32 = 0;
/// Exit code for bad command-line usage.
pub const EXIT_USAGE: i32 = 2;
/// Exit code for invalid input data.
pub const EXIT_DATA: i32 = 3;
/// Exit code for an invalid model file.
pub const EXIT_MODEL: i32 = 4;
/// Exit code for an I/O failure.
pub const EXIT_IO: i32 = 5;
/// Exit code for a run that finished but rejected rows (`--on-error skip`).
pub const EXIT_REJECTED: i32 = 6;

/// One row of the exit-code table.
#[derive(Debug, Clone, Copy)]
pub struct ExitCodeRow {
    /// The codes the row is about.
    pub codes: &'static [i32],
    /// What they mean, as `--help` and the README say it.
    pub meaning: &'static str,
}

/// Every exit code, in order: the one table (`--help` prints it, and a test checks that the
/// README's table says the same).
pub const EXIT_CODES: [ExitCodeRow; 8] = [
    ExitCodeRow {
        codes: &[EXIT_OK],
        meaning: "success (also when the reader of standard output goes away, as with `| head`)",
    },
    ExitCodeRow {
        codes: &[EXIT_USAGE],
        meaning: "usage: bad flags or option values, or paths that would overwrite an input",
    },
    ExitCodeRow {
        codes: &[EXIT_DATA],
        meaning: "invalid input data (the message names file:line:column)",
    },
    ExitCodeRow {
        codes: &[EXIT_MODEL],
        meaning:
            "invalid model file: empty, truncated, corrupt (checksum), foreign or of a newer format",
    },
    ExitCodeRow {
        codes: &[EXIT_IO],
        meaning: "I/O failure: missing or unreadable file, unwritable output, full disk",
    },
    ExitCodeRow {
        codes: &[EXIT_REJECTED],
        meaning: "finished, but `--on-error skip` rejected rows: the output holds the others",
    },
    ExitCodeRow {
        codes: &[signal_exit_code(2), signal_exit_code(15)],
        meaning: "stopped by SIGINT or SIGTERM (128 + the signal); temporary files are removed",
    },
    ExitCodeRow {
        codes: &[signal_exit_code(1), signal_exit_code(3)],
        meaning: "stopped by SIGHUP or SIGQUIT (128 + the signal), likewise; no core dump",
    },
];

/// How a run that did not fail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything was done.
    Success,
    /// The output is complete but for rejected rows (the warning says how many).
    RowsRejected,
}

impl Outcome {
    /// The process exit code for this outcome.
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Success => EXIT_OK,
            Outcome::RowsRejected => EXIT_REJECTED,
        }
    }
}

/// Exit code for a run stopped by signal number `signal`: 128 + the number, as a shell
/// reports a process killed by it (129 for SIGHUP, 130 for SIGINT, 131 for SIGQUIT, 143 for
/// SIGTERM). We exit with it rather
/// than die by the signal because PID 1 in a container cannot die by a signal it handles.
pub const fn signal_exit_code(signal: i32) -> i32 {
    128 + signal
}

/// Where in an input file a data error was found. Lines and columns count from 1, as editors do;
/// the header is line 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file as the user named it (`<stdin>` for standard input).
    pub path: String,
    /// The line the offending record starts on, when there is one.
    pub line: Option<u64>,
    /// The 1-based field number, when one field is at fault.
    pub column: Option<usize>,
}

impl Location {
    /// A location that names only the file.
    pub fn file(path: &str) -> Location {
        Location {
            path: path.to_string(),
            line: None,
            column: None,
        }
    }

    /// A location that names a file and a line.
    pub fn line(path: &str, line: u64) -> Location {
        Location {
            path: path.to_string(),
            line: Some(line),
            column: None,
        }
    }

    /// A location that names a file, a line and a 1-based column.
    pub fn cell(path: &str, line: u64, column: usize) -> Location {
        Location {
            path: path.to_string(),
            line: Some(line),
            column: Some(column),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        Ok(())
    }
}

/// Everything that can go wrong in a run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Options that parse but make no sense together, or values out of range.
    #[error("{0}")]
    Usage(String),

    /// Invalid input data: `data/test.csv:8:3: column INDUS: expected a number, found "abc"`.
    #[error("{location}: {message}")]
    Data {
        /// Where the problem is.
        location: Location,
        /// What is wrong, in lower case, with a hint where one helps.
        message: String,
    },

    /// An invalid model file: truncated, corrupt, foreign, from a future version, or inconsistent.
    #[error("{path}: invalid model file: {message}")]
    Model {
        /// The model file as the user named it.
        path: String,
        /// What is wrong with it.
        message: String,
    },

    /// A file that could not be opened, read or written.
    #[error("{path}: cannot {action}: {source}")]
    Io {
        /// The file as the user named it.
        path: String,
        /// What we were doing, as a verb phrase ("open", "write").
        action: &'static str,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// The reader of an output FIFO or socket went away before the output was complete.
    #[error("the reader of {path} went away")]
    ReaderGone {
        /// The output as the user named it.
        path: String,
    },
}

impl Error {
    /// A data error at `location`.
    pub fn data(location: Location, message: impl Into<String>) -> Error {
        Error::Data {
            location,
            message: message.into(),
        }
    }

    /// A model error for the model file at `path`.
    pub fn model(path: &str, message: impl Into<String>) -> Error {
        Error::Model {
            path: path.to_string(),
            message: message.into(),
        }
    }

    /// An I/O error while doing `action` on `path`. The system's own words (`No such file or
    /// directory (os error 2)`) are put in lower case without the error number, and where
    /// there is a fix, it is said: `p.csv: cannot create: no such folder: out; create it first`.
    pub fn io(path: &str, action: &'static str, source: io::Error) -> Error {
        Error::Io {
            path: path.to_string(),
            action,
            source: explained(path, action, source),
        }
    }

    /// `path` is a directory where a file was wanted, with `hint` saying which file to give.
    pub fn directory(path: &str, action: &'static str, hint: &str) -> Error {
        Error::io(
            path,
            action,
            io::Error::new(
                io::ErrorKind::IsADirectory,
                format!("is a directory; {hint}"),
            ),
        )
    }

    /// The process exit code for this error: the only place that decides it.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => EXIT_USAGE,
            Error::Data { .. } => EXIT_DATA,
            Error::Model { .. } => EXIT_MODEL,
            Error::Io { .. } | Error::ReaderGone { .. } => EXIT_IO,
        }
    }

    /// True when the error is a write to a closed pipe (`batch_inference | head`), which is
    /// not a failure of ours: the reader simply stopped listening. Only standard output counts:
    /// a FIFO given as `--output` whose reader goes away is [`Error::ReaderGone`].
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
    }
}

/// `path` spelled as an object storage URL was meant to be (`s3:/b/k`, `S3://b/k`, `gs:b/k`
/// become `s3://b/k`, `gs://b/k`), when it looks like a mistyped one; such a path is read as a
/// local file, and the user should hear why.
pub(crate) fn mistyped_url(path: &str) -> Option<String> {
    let (given, rest) = path.split_once(':')?;
    let scheme = given.to_ascii_lowercase();
    let spelled_right = given == scheme && rest.starts_with("//");
    if !["s3", "gs", "az"].contains(&scheme.as_str()) || spelled_right {
        return None;
    }
    let rest = rest.trim_start_matches(['/', '\\']);
    (!rest.is_empty()).then(|| format!("{scheme}://{rest}"))
}

/// The system's error `source` (on `path`, while doing `action`) in our words: lower case,
/// without the error number, with the fix where there is one. An error of our own making
/// (not from the system) is kept as it is.
fn explained(path: &str, action: &str, source: io::Error) -> io::Error {
    let Some(code) = source.raw_os_error() else {
        return source;
    };
    let writing = matches!(action, "create" | "write");
    let words = match source.kind() {
        io::ErrorKind::NotFound if writing => {
            let folder = std::path::Path::new(path)
                .parent()
                .map(|p| p.display().to_string())
                .filter(|p| !p.is_empty());
            match folder {
                Some(folder) => format!("no such folder: {folder}; create it first"),
                None => "no such folder; create it first".to_string(),
            }
        }
        io::ErrorKind::NotFound => match mistyped_url(path) {
            Some(url) => format!("no such file; for an object, write the URL as {url}"),
            None => "no such file".to_string(),
        },
        io::ErrorKind::PermissionDenied if writing => {
            "permission denied: the user this runs as may not write there; check the folder's \
             owner and mode (ls -ld), or write elsewhere"
                .to_string()
        }
        io::ErrorKind::PermissionDenied => "permission denied: the user this runs as may not \
             read it; check its owner and mode (ls -l)"
            .to_string(),
        io::ErrorKind::AddrInUse => "address already in use; another process listens there: \
             stop it, or choose another port (--port, or PORT)"
            .to_string(),
        _ => {
            let text = source.to_string();
            let text = text
                .strip_suffix(&format!(" (os error {code})"))
                .unwrap_or(&text);
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => text.to_string(),
            }
        }
    };
    io::Error::new(source.kind(), words)
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_error_has_its_own_exit_code() {
        let io = Error::io("x", "open", io::Error::from(io::ErrorKind::NotFound));
        assert_eq!(Error::Usage("u".into()).exit_code(), 2);
        assert_eq!(Error::data(Location::file("x"), "d").exit_code(), 3);
        assert_eq!(Error::model("x", "m").exit_code(), 4);
        assert_eq!(io.exit_code(), 5);
        let gone = Error::ReaderGone {
            path: "p.fifo".into(),
        };
        assert_eq!(gone.exit_code(), 5);
        assert_eq!(gone.to_string(), "the reader of p.fifo went away");
        assert_eq!(signal_exit_code(2), 130);
        assert_eq!(signal_exit_code(15), 143);
    }

    #[test]
    fn a_data_error_names_file_line_and_column() {
        let err = Error::data(
            Location::cell("data/test.csv", 8, 3),
            "column INDUS: expected a number, found \"abc\"",
        );
        assert_eq!(
            err.to_string(),
            "data/test.csv:8:3: column INDUS: expected a number, found \"abc\""
        );
        let line_only = Error::data(Location::line("a.csv", 4), "m");
        assert_eq!(line_only.to_string(), "a.csv:4: m");
    }

    #[test]
    fn the_systems_errors_are_said_in_lower_case_with_the_fix() {
        let os = io::Error::from_raw_os_error;
        let said = |path, action, e| Error::io(path, action, e).to_string();
        assert_eq!(
            said("d.csv", "open", os(libc::ENOENT)),
            "d.csv: cannot open: no such file"
        );
        assert_eq!(
            said("out/p.csv", "create", os(libc::ENOENT)),
            "out/p.csv: cannot create: no such folder: out; create it first"
        );
        assert_eq!(
            said("d.csv", "open", os(libc::EACCES)),
            "d.csv: cannot open: permission denied: the user this runs as may not read it; \
             check its owner and mode (ls -l)"
        );
        assert_eq!(
            said("p.csv", "write", os(libc::ENOSPC)),
            "p.csv: cannot write: no space left on device"
        );
        for (typo, url) in [
            ("s3:/b/k.csv", "s3://b/k.csv"),
            ("S3://b/k.csv", "s3://b/k.csv"),
            ("gs:b/k.csv", "gs://b/k.csv"),
            ("Az:/c/k.csv", "az://c/k.csv"),
        ] {
            assert_eq!(
                said(typo, "open", os(libc::ENOENT)),
                format!("{typo}: cannot open: no such file; for an object, write the URL as {url}")
            );
        }
        assert_eq!(
            said("s3x:/b/k", "open", os(libc::ENOENT)),
            "s3x:/b/k: cannot open: no such file"
        );
        let ours = io::Error::new(io::ErrorKind::NotFound, "No object");
        assert_eq!(
            said("s3://b/k", "open", ours),
            "s3://b/k: cannot open: No object"
        );
    }

    #[test]
    fn only_a_broken_pipe_counts_as_a_broken_pipe() {
        let pipe = Error::io("<stdout>", "write", io::ErrorKind::BrokenPipe.into());
        let full = Error::io("<stdout>", "write", io::Error::from_raw_os_error(28));
        assert!(pipe.is_broken_pipe());
        assert!(!full.is_broken_pipe());
    }
}
