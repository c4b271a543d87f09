//! What can be wrong with a row, and how it is told: one [`RowError::describe`] gives the
//! place and the words for both the error that stops a run and the line of a rejects file.

use crate::error::{Error, Location};
use crate::read::batch::Batch;
use crate::read::block::MAX_RECORD;
use crate::read::number::NumberError;

/// What a row is read against, for messages: the input's name, the header's field count and the
/// names of the batch columns.
#[derive(Debug, Clone, Copy)]
pub struct Columns<'a> {
    /// The input as the user named it.
    pub path: &'a str,
    /// Fields in the header.
    pub field_count: usize,
    /// The batch columns' names, in batch order.
    pub names: &'a [String],
    /// The id columns' names, in the order asked for.
    pub ids: &'a [String],
}

/// What is said of a row whose prediction overflowed, by the batch command and by serve.
pub const OVERFLOW: &str =
    "the prediction is beyond the range of f64; are the values in the right units?";

/// What is wrong with one row.
#[derive(Debug, Clone, PartialEq)]
pub enum RowProblem {
    /// A selected field is not a finite number.
    Number {
        /// The field's index in the row.
        field: usize,
        /// The batch column (feature) it was meant for.
        slot: usize,
        /// The start of the field's text.
        found: Vec<u8>,
        /// Whether `found` was cut short.
        truncated: bool,
        /// Why it is not a number.
        kind: NumberError,
    },
    /// The row has the wrong number of fields.
    FieldCount {
        /// Fields in the row.
        found: usize,
    },
    /// The row's prediction is not a finite `f64`.
    Overflow,
    /// The row's id, in field `field`, is not UTF-8, which JSON Lines output cannot carry.
    IdNotUtf8 {
        /// The id column's index in the row.
        field: usize,
        /// Which id column it is, in the order asked for.
        id: usize,
    },
    /// The input's last record has the wrong number of fields and a quote that is never
    /// closed, in field `field` (the last): the rest of the file was read into it.
    UnclosedQuote {
        /// The field the quote opens.
        field: usize,
    },
}

/// A row set aside under `--on-error skip`, with its text.
#[derive(Debug, Clone, PartialEq)]
pub struct Reject {
    /// What is wrong, and where in the block.
    pub error: RowError,
    /// The record as it stands in the input, line terminator excluded.
    pub text: Vec<u8>,
}

impl RowProblem {
    /// What is wrong, in words, without the place: [`RowError::describe`] adds the line and
    /// field of a CSV row, the Parquet scorer the row's number.
    pub fn message(&self, columns: &Columns) -> String {
        match self {
            RowProblem::Overflow => OVERFLOW.to_string(),
            RowProblem::IdNotUtf8 { id, .. } => format!(
                "column {}: not valid UTF-8, which JSON Lines output cannot carry; \
                 use --format csv",
                columns.ids.get(*id).map_or("id", String::as_str)
            ),
            RowProblem::UnclosedQuote { .. } => {
                "a quote in this field is never closed, so the rest of the file was read into it"
                    .to_string()
            }
            RowProblem::FieldCount { found } => format!(
                "expected {} fields as in the header, found {found}",
                columns.field_count
            ),
            RowProblem::Number {
                slot,
                found,
                truncated,
                kind,
                ..
            } => {
                let more = if *truncated { "..." } else { "" };
                let found = format!("{:?}{more}", String::from_utf8_lossy(found));
                let message = match kind {
                    NumberError::Empty => "expected a number, found an empty field".to_string(),
                    NumberError::Invalid => format!("expected a number, found {found}"),
                    NumberError::NonFinite => format!("expected a finite number, found {found}"),
                };
                format!("column {}: {message}", columns.names[*slot])
            }
        }
    }

    /// A bad value in field `field` (for batch column `slot`), keeping the start of its text.
    pub(crate) fn number(field: usize, slot: usize, text: &[u8], kind: NumberError) -> RowProblem {
        RowProblem::Number {
            field,
            slot,
            found: text[..text.len().min(64)].to_vec(),
            truncated: text.len() > 64,
            kind,
        }
    }
}

/// A problem at a line of a block.
#[derive(Debug, Clone, PartialEq)]
pub struct RowError {
    /// Line breaks in the block before the row: the row's line within the block, from 0.
    pub line_in_block: u64,
    /// What is wrong.
    pub problem: RowProblem,
}

impl RowError {
    /// Where the row is and what is wrong with it, given the line breaks in the input before
    /// the block: the words of both the error and the rejects file.
    pub fn describe(&self, columns: &Columns, lines_before: u64) -> (Location, String) {
        let line = lines_before + self.line_in_block + 1;
        let path = columns.path;
        let location = match &self.problem {
            RowProblem::Overflow | RowProblem::FieldCount { .. } => Location::line(path, line),
            RowProblem::IdNotUtf8 { field, .. }
            | RowProblem::UnclosedQuote { field }
            | RowProblem::Number { field, .. } => Location::cell(path, line, field + 1),
        };
        (location, self.problem.message(columns))
    }

    /// The user-facing error, given the line breaks in the input before the block.
    pub fn into_error(self, columns: &Columns, lines_before: u64) -> Error {
        let (location, message) = self.describe(columns, lines_before);
        Error::data(location, message)
    }
}

/// The error for a record too long to be a record, starting at `line`; `quoted` when the
/// input there has quotes, one of which may never be closed.
pub fn record_too_long(path: &str, line: u64, quoted: bool) -> Error {
    let hint = if quoted {
        "is a quote on this line never closed?"
    } else {
        "is this the right file?"
    };
    Error::data(
        Location::line(path, line),
        format!("a line longer than {MAX_RECORD} bytes; {hint}"),
    )
}

/// Counts a parsed row in, or deals with its problem: an error, or a reject.
#[inline]
pub(crate) fn settle(
    outcome: Result<(), RowProblem>,
    line_in_block: u64,
    text: &[u8],
    batch: &mut Batch,
    rejects: Option<&mut Vec<Reject>>,
) -> Result<(), RowError> {
    match outcome {
        Ok(()) => {
            batch.rows += 1;
            Ok(())
        }
        Err(problem) => {
            let error = RowError {
                line_in_block,
                problem,
            };
            let Some(rejects) = rejects else {
                return Err(error);
            };
            batch.ids.truncate(batch.rows);
            rejects.push(Reject {
                error,
                text: text.to_vec(),
            });
            Ok(())
        }
    }
}
