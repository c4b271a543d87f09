//! The collector: takes scored blocks from the workers in any order, writes their output in
//! input order, and deals with rejected rows (a rejects file, warnings, or `--max-errors`). It
//! alone turns a block's row errors into messages with line numbers, as only it knows how many
//! lines came before the block.

use std::cell::Cell;
use std::collections::BTreeMap;

use crate::error::{Error, Location, Result};
use crate::log::{Logger, Progress};
use crate::output::{csv_field, Sink};
use crate::read::block::CutError;
use crate::read::problem::{record_too_long, Reject};
use crate::read::selection::Selection;
use crate::read::shard::newlines_before;
use crate::score::scorer::{Done, Failure, Scored};

/// What `--on-error skip` does with rejected rows.
pub struct RejectPolicy {
    /// The rejects file, or none to log each reject as a warning.
    pub sink: Option<Sink>,
    /// The logger for warnings.
    pub log: Logger,
    /// Fail when more than this many rows are rejected.
    pub max: Option<u64>,
    /// Rows rejected so far.
    pub count: u64,
}

/// Where an input's line numbers start: known, or (for a shard) the line breaks before a
/// byte offset of the file, counted only if an error needs a line number.
#[derive(Debug, Clone)]
pub enum LineOrigin {
    /// This many line breaks come before the first block.
    Known(u64),
    /// The line breaks in `path` before byte `offset` come before the first block.
    Before {
        /// The file.
        path: String,
        /// Where the first block starts.
        offset: u64,
    },
}

/// Takes scored blocks in any order and writes them in input order.
pub(crate) struct Collector<'a> {
    sink: &'a mut Sink,
    selection: &'a Selection,
    /// Progress reports, by rows and bytes written.
    pub(crate) progress: Progress,
    pending: BTreeMap<u64, std::result::Result<Scored, Failure>>,
    /// The next block to write.
    pub(crate) next: u64,
    /// For a shard: the file and offset whose preceding line breaks come before `lines_before`.
    origin: Option<(String, u64)>,
    /// Those line breaks, once counted.
    origin_lines: Cell<Option<u64>>,
    /// Where rejected rows go, under `--on-error skip`.
    rejects: Option<&'a mut RejectPolicy>,
    lines_before: u64,
    /// Rows written.
    pub(crate) rows: u64,
    bytes: u64,
    /// Output buffers written and free for reuse.
    pub(crate) spare: Vec<Vec<u8>>,
}

impl<'a> Collector<'a> {
    /// A collector writing to `sink` the blocks of an input read with `selection`, whose line
    /// numbers start at `origin`.
    pub(crate) fn new(
        sink: &'a mut Sink,
        selection: &'a Selection,
        origin: LineOrigin,
        rejects: Option<&'a mut RejectPolicy>,
        progress: Progress,
    ) -> Collector<'a> {
        let (lines_before, origin) = match origin {
            LineOrigin::Known(lines) => (lines, None),
            LineOrigin::Before { path, offset } => (0, Some((path, offset))),
        };
        Collector {
            sink,
            selection,
            progress,
            pending: BTreeMap::new(),
            next: 0,
            origin,
            origin_lines: Cell::new(None),
            rejects,
            lines_before,
            rows: 0,
            bytes: 0,
            spare: Vec::new(),
        }
    }

    /// Takes a block's result; writes it, and any blocks it was holding back, once every block
    /// before it is written.
    pub(crate) fn accept(&mut self, done: Done) -> Result<()> {
        self.pending.insert(done.seq, done.result);
        while let Some(result) = self.pending.remove(&self.next) {
            let scored = result.map_err(|failure| self.failure(failure))?;
            for reject in scored.rejects {
                self.reject(reject)?;
            }
            self.sink.write(&scored.out)?;
            self.lines_before += scored.newlines;
            self.rows += scored.rows;
            self.bytes += scored.bytes;
            self.next += 1;
            self.progress.update(self.rows, self.bytes);
            self.spare.push(scored.out);
        }
        Ok(())
    }

    /// Line breaks before the current block, from the start of the file.
    fn absolute_lines_before(&self) -> Result<u64> {
        let origin = match &self.origin {
            None => 0,
            Some((file, offset)) => match self.origin_lines.get() {
                Some(lines) => lines,
                None => {
                    let lines = newlines_before(file, *offset)?;
                    self.origin_lines.set(Some(lines));
                    lines
                }
            },
        };
        Ok(origin + self.lines_before)
    }

    /// Records a rejected row, or fails once rejects are over budget.
    fn reject(&mut self, reject: Reject) -> Result<()> {
        let lines_before = self.absolute_lines_before()?;
        let (location, reason) = reject
            .error
            .describe(&self.selection.columns(), lines_before);
        let policy = self
            .rejects
            .as_mut()
            .expect("rows are set aside only under a reject policy");
        policy.count += 1;
        let error = Error::data(location.clone(), reason.clone());
        if let Some(max) = policy.max.filter(|&max| policy.count > max) {
            return Err(Error::data(
                Location::file(self.selection.path()),
                format!("more than {max} rows rejected (--max-errors {max}); the last: {error}"),
            ));
        }
        match &mut policy.sink {
            Some(sink) => {
                let mut record = format!("{},", location.line.unwrap_or(0)).into_bytes();
                record.extend(csv_field(reason.as_bytes()));
                record.push(b',');
                record.extend(csv_field(&reject.text));
                record.push(b'\n');
                sink.write(&record)
            }
            None => {
                policy.log.warn(&format!("rejected {error}"));
                Ok(())
            }
        }
    }

    /// The error for a block that could not be scored.
    pub(crate) fn failure(&self, failure: Failure) -> Error {
        let path = self.selection.path();
        match failure {
            Failure::Cut(CutError::Io(err)) => err,
            // Only these two need the line breaks before a shard, which cost a read of the file.
            Failure::Row(err) => self.absolute_lines_before().map_or_else(
                |e| e,
                |lines| err.into_error(&self.selection.columns(), lines),
            ),
            Failure::Cut(CutError::RecordTooLong { quoted }) => self
                .absolute_lines_before()
                .map_or_else(|e| e, |lines| record_too_long(path, lines + 1, quoted)),
        }
    }
}
