//! The scorer: what a worker does with one block. Its rows are parsed into reused batches,
//! each batch is predicted by the model's predictor, and the predictions are encoded into
//! the block's output bytes; rows that cannot be scored fail the block or, under
//! `--on-error skip`, are set aside with their line and text.

use ndarray::{s, Array1};

use crate::model::predictor::Predictor;
use crate::output::Encoder;
use crate::read::batch::Batch;
use crate::read::block::{Block, CutError};
use crate::read::cursor::Cursor;
use crate::read::fill_batch;
use crate::read::problem::{Reject, RowError};
use crate::read::selection::Selection;
use crate::read::unwritable::Writable;

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
            let writable = self.writable();
            match writable.first(predictions, ids) {
                None => {
                    self.encoder.encode(predictions, ids, &mut out);
                    rows += n as u64;
                }
                // Only the first is reported: the batch is read again up to it, no further.
                Some(_) if !self.skip => {
                    let error = writable
                        .first_error(&self.selection, block, batch_start, predictions, ids)
                        .expect("a row that cannot be written was found");
                    return Err(Failure::Row(error));
                }
                Some(_) => {
                    rejects.extend(writable.rejects(
                        &self.selection,
                        block,
                        batch_start,
                        n,
                        predictions,
                        ids,
                    ));
                    // The batch's unreadable rows were set aside as it was read: keep line order.
                    rejects.sort_by_key(|r| r.error.line_in_block);
                    let (kept, kept_ids) = writable.kept(predictions, ids);
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

    /// What a scored row must be to be written with this scorer's ids and encoder.
    fn writable(&self) -> Writable<'_> {
        Writable {
            id_fields: &self.selection.id_fields,
            utf8_ids: !self.encoder.carries_any_id(),
        }
    }
}
