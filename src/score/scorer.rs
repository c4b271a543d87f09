//! The scorer: what a worker does with one block. Its rows are parsed into reused batches,
//! each batch is predicted by the model's predictor, and the predictions are encoded into
//! the block's output bytes; rows that cannot be scored fail the block or, under
//! `--on-error skip`, are set aside with their line and text.

use ndarray::{s, Array1};

use crate::model::predictor::Predictor;
use crate::output::Encoder;
use crate::read::batch::{Batch, Ids};
use crate::read::block::{Block, CutError};
use crate::read::cursor::Cursor;
use crate::read::fill_batch;
use crate::read::problem::{Reject, RowError, RowProblem};
use crate::read::selection::Selection;

/// Everything a worker needs to turn a block into output bytes.
pub(crate) struct Scorer {
    /// The columns to read, the model's features in its order.
    pub(crate) selection: Selection,
    /// The model, whose features are in selection order.
    pub(crate) predictor: Predictor,
    /// Turns predictions into output bytes.
    pub(crate) encoder: Encoder,
    /// Rows per batch asked for; a batch holds fewer when they would pass the memory budget
    /// ([`crate::read::batch::BATCH_BYTES`]).
    pub(crate) batch_rows: usize,
    /// Whether bad rows are set aside rather than fail the block.
    pub(crate) skip: bool,
}

/// A worker's reused buffers.
pub(crate) struct Work {
    cursor: Cursor,
    batch: Batch,
    predictions: Array1<f64>,
}

/// What became of one block.
pub(crate) struct Done {
    /// The block's place in the input.
    pub(crate) seq: u64,
    /// Its output, or why there is none.
    pub(crate) result: std::result::Result<Scored, Failure>,
}

/// A scored block: its encoded output and what it held.
pub(crate) struct Scored {
    /// The encoded predictions.
    pub(crate) out: Vec<u8>,
    /// Rows set aside, in line order.
    pub(crate) rejects: Vec<Reject>,
    /// Rows scored.
    pub(crate) rows: u64,
    /// Line breaks in the block.
    pub(crate) newlines: u64,
    /// The block's size.
    pub(crate) bytes: u64,
}

/// Why a block could not be scored.
pub(crate) enum Failure {
    /// A row that cannot be scored (not under `--on-error skip`).
    Row(RowError),
    /// The input could not be cut into blocks.
    Cut(CutError),
}

impl Scorer {
    /// A worker's buffers, sized for this scorer.
    pub(crate) fn work(&self) -> Work {
        let mut batch = Batch::new(self.batch_rows, self.selection.width());
        batch.ids = self.selection.new_ids();
        Work {
            cursor: Cursor::default(),
            predictions: Array1::zeros(batch.capacity()),
            batch,
        }
    }

    /// Scores `block` into `out` (a reused buffer) with `work`'s buffers.
    pub(crate) fn score_block(
        &self,
        block: &Block,
        work: &mut Work,
        mut out: Vec<u8>,
    ) -> std::result::Result<Scored, Failure> {
        out.clear();
        work.cursor.reset();
        let mut rows = 0u64;
        let mut rejects = Vec::new();
        loop {
            work.batch.clear();
            let batch_start = (work.cursor.pos, work.cursor.newlines);
            let set_aside = if self.skip { Some(&mut rejects) } else { None };
            fill_batch(
                &self.selection,
                block,
                &mut work.cursor,
                &mut work.batch,
                set_aside,
            )
            .map_err(Failure::Row)?;
            let n = work.batch.rows;
            if n == 0 {
                break;
            }
            let mut predictions = work.predictions.slice_mut(s![..n]);
            self.predictor
                .predict_into(work.batch.x.slice(s![..n, ..]), predictions.view_mut());
            let predictions = predictions
                .into_slice()
                .expect("a slice of an Array1 is contiguous");
            let ids = self.selection.has_id().then_some(&work.batch.ids);
            let problem = |i: usize| self.problem(predictions[i], ids, i);
            // Only JSON Lines can refuse an id: otherwise one scan of the predictions will do.
            let first = match ids {
                Some(_) if !self.encoder.carries_any_id() => (0..n).find(|&i| problem(i).is_some()),
                _ => predictions.iter().position(|p| !p.is_finite()),
            };
            match first {
                None => {
                    self.encoder.encode(predictions, ids, &mut out);
                    rows += n as u64;
                }
                // Only the first is reported: the batch is read again up to it, no further.
                Some(first) if !self.skip => {
                    let mut unwritable = self.unwritable(block, batch_start, first + 1, problem);
                    return Err(Failure::Row(unwritable.remove(0).error));
                }
                Some(_) => {
                    rejects.extend(self.unwritable(block, batch_start, n, problem));
                    // The batch's unreadable rows were set aside as it was read: keep line order.
                    rejects.sort_by_key(|r| r.error.line_in_block);
                    let (kept, kept_ids) = writable_rows(predictions, ids, problem);
                    self.encoder.encode(&kept, kept_ids.as_ref(), &mut out);
                    rows += kept.len() as u64;
                }
            }
            if work.cursor.pos >= block.data.len() {
                break;
            }
        }
        Ok(Scored {
            out,
            rejects,
            rows,
            newlines: work.cursor.newlines,
            bytes: block.data.len() as u64,
        })
    }

    /// Why row `i` of a batch, with prediction `prediction` and the batch's `ids`, cannot be
    /// written, if it cannot: a prediction beyond `f64` has no number to write, and JSON Lines
    /// cannot carry an id that is not UTF-8 (CSV writes its bytes as they are).
    fn problem(&self, prediction: f64, ids: Option<&Ids>, i: usize) -> Option<RowProblem> {
        if !prediction.is_finite() {
            return Some(RowProblem::Overflow);
        }
        let ids = ids?;
        let fields = &self.selection.id_fields;
        (0..fields.len())
            .find(|&j| !self.encoder.carries(ids.get_at(i, j)))
            .map(|j| RowProblem::IdNotUtf8 {
                field: fields[j],
                id: j,
            })
    }

    /// The first `rows` rows of the batch read from `start` (byte position and line breaks
    /// before it) in `block` that `problem` (of the row's index) says cannot be written, as
    /// rejects with their line and text. Rare, so the rows are found again by reading the batch
    /// a second time, one row at a time, rather than by recording every row's place as it is
    /// read.
    fn unwritable(
        &self,
        block: &Block,
        start: (usize, u64),
        rows: usize,
        problem: impl Fn(usize) -> Option<RowProblem>,
    ) -> Vec<Reject> {
        let mut cursor = Cursor::at(start.0, start.1);
        let mut one = Batch::new(1, self.selection.width());
        one.ids = self.selection.new_ids();
        let mut set_aside = Vec::new();
        let mut unwritable = Vec::new();
        for i in 0..rows {
            one.clear();
            let read = fill_batch(
                &self.selection,
                block,
                &mut cursor,
                &mut one,
                Some(&mut set_aside),
            );
            assert!(
                read.is_ok() && one.rows == 1,
                "the batch was read once already"
            );
            let Some(problem) = problem(i) else {
                continue;
            };
            let (line_in_block, text) = cursor.last_row(&block.data);
            unwritable.push(Reject {
                error: RowError {
                    line_in_block,
                    problem,
                },
                text: text.to_vec(),
            });
        }
        unwritable
    }
}

/// The predictions of a batch's rows that can be written (`problem` of their index is `None`),
/// and their ids when the batch has ids.
fn writable_rows(
    predictions: &[f64],
    ids: Option<&Ids>,
    problem: impl Fn(usize) -> Option<RowProblem>,
) -> (Vec<f64>, Option<Ids>) {
    let mut kept = Vec::with_capacity(predictions.len());
    let mut kept_ids = ids.map(Ids::empty_like);
    for (i, &p) in predictions.iter().enumerate() {
        if problem(i).is_some() {
            continue;
        }
        kept.push(p);
        if let (Some(kept_ids), Some(ids)) = (&mut kept_ids, ids) {
            kept_ids.push_row_of(ids, i);
        }
    }
    (kept, kept_ids)
}
