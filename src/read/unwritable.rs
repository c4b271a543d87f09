//! Rows that were read and scored but cannot be written: a prediction beyond `f64` has no
//! number to write, and JSON Lines (or Parquet) output cannot carry an id that is not UTF-8
//! (CSV writes its bytes as they are; replacing them would write an id that matches no input
//! row). One check for every writer of scored rows: the batch command's workers, `serve`'s
//! `POST /predict` (which must answer what the batch command prints) and the Parquet scorer.

use crate::read::batch::{Batch, Ids};
use crate::read::block::Block;
use crate::read::cursor::Cursor;
use crate::read::fill_batch;
use crate::read::problem::{Reject, RowError, RowProblem};
use crate::read::selection::Selection;

/// What a scored row must be to be written.
#[derive(Debug, Clone, Copy)]
pub struct Writable<'a> {
    /// The id columns' fields in the row, in the order they were asked for.
    pub id_fields: &'a [usize],
    /// Whether an id must be UTF-8: true unless the output is CSV.
    pub utf8_ids: bool,
}

impl Writable<'_> {
    /// Why row `i` of a batch, with `predictions` and the batch's `ids`, cannot be written, if
    /// it cannot.
    pub fn problem(&self, predictions: &[f64], ids: Option<&Ids>, i: usize) -> Option<RowProblem> {
        if !predictions[i].is_finite() {
            return Some(RowProblem::Overflow);
        }
        let ids = ids.filter(|_| self.utf8_ids)?;
        (0..self.id_fields.len())
            .find(|&j| std::str::from_utf8(ids.get_at(i, j)).is_err())
            .map(|j| RowProblem::IdNotUtf8 {
                field: self.id_fields[j],
                id: j,
            })
    }

    /// The first row of a batch that cannot be written: one scan of the predictions when no
    /// id needs checking.
    pub fn first(&self, predictions: &[f64], ids: Option<&Ids>) -> Option<usize> {
        match ids {
            Some(_) if self.utf8_ids => {
                (0..predictions.len()).find(|&i| self.problem(predictions, ids, i).is_some())
            }
            _ => predictions.iter().position(|p| !p.is_finite()),
        }
    }

    /// The rows among the first `rows` of the batch read with `selection` from `start` (byte
    /// position and line breaks before it) in `block` that cannot be written, as rejects with
    /// their line and text. Rare, so the rows are found by reading the batch a second time,
    /// one row at a time, rather than by recording every row's place as it is read.
    pub fn rejects(
        &self,
        selection: &Selection,
        block: &Block,
        start: (usize, u64),
        rows: usize,
        predictions: &[f64],
        ids: Option<&Ids>,
    ) -> Vec<Reject> {
        let mut cursor = Cursor::at(start.0, start.1);
        let mut one = Batch::new(1, selection.width());
        one.ids = selection.new_ids();
        // Rows set aside as the batch was first read (`--on-error skip`) are passed over again.
        let mut set_aside = Vec::new();
        let mut unwritable = Vec::new();
        for i in 0..rows {
            one.clear();
            let read = fill_batch(
                selection,
                block,
                &mut cursor,
                &mut one,
                Some(&mut set_aside),
            );
            assert!(
                read.is_ok() && one.rows == 1,
                "the batch was read once already"
            );
            let Some(problem) = self.problem(predictions, ids, i) else {
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

    /// The first row of the batch (read as for [`Writable::rejects`]) that cannot be written,
    /// with its line: the error that stops a run, or `serve`'s answer.
    pub fn first_error(
        &self,
        selection: &Selection,
        block: &Block,
        start: (usize, u64),
        predictions: &[f64],
        ids: Option<&Ids>,
    ) -> Option<RowError> {
        let first = self.first(predictions, ids)?;
        let rejects = self.rejects(selection, block, start, first + 1, predictions, ids);
        rejects.into_iter().next().map(|reject| reject.error)
    }

    /// The predictions of a batch's rows that can be written, and their ids when the batch has
    /// ids.
    pub fn kept(&self, predictions: &[f64], ids: Option<&Ids>) -> (Vec<f64>, Option<Ids>) {
        let mut kept = Vec::with_capacity(predictions.len());
        let mut kept_ids = ids.map(Ids::empty_like);
        for (i, &p) in predictions.iter().enumerate() {
            if self.problem(predictions, ids, i).is_some() {
                continue;
            }
            kept.push(p);
            if let (Some(kept_ids), Some(ids)) = (&mut kept_ids, ids) {
                kept_ids.push_row_of(ids, i);
            }
        }
        (kept, kept_ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(rows: &[&[u8]]) -> Ids {
        let mut ids = Ids::new(vec![0]);
        for id in rows {
            ids.push(id);
        }
        ids
    }

    #[test]
    fn a_prediction_beyond_f64_is_unwritable_and_an_id_that_is_not_utf8_only_when_it_must_be() {
        let predictions = [1.0, f64::INFINITY, 2.0, 3.0];
        let ids = ids(&[b"a", b"b", b"\xff", b"d"]);
        let jsonl = Writable {
            id_fields: &[4],
            utf8_ids: true,
        };
        assert_eq!(jsonl.problem(&predictions, Some(&ids), 0), None);
        assert_eq!(
            jsonl.problem(&predictions, Some(&ids), 1),
            Some(RowProblem::Overflow)
        );
        assert_eq!(
            jsonl.problem(&predictions, Some(&ids), 2),
            Some(RowProblem::IdNotUtf8 { field: 4, id: 0 })
        );
        assert_eq!(jsonl.first(&predictions, Some(&ids)), Some(1));
        assert_eq!(jsonl.first(&[1.0, 2.0, 2.0], Some(&ids)), Some(2));
        let (kept, kept_ids) = jsonl.kept(&predictions, Some(&ids));
        assert_eq!(kept, [1.0, 3.0]);
        let kept_ids = kept_ids.unwrap();
        assert_eq!((kept_ids.get(0), kept_ids.get(1)), (&b"a"[..], &b"d"[..]));

        let csv = Writable {
            id_fields: &[4],
            utf8_ids: false,
        };
        assert_eq!(csv.problem(&predictions, Some(&ids), 2), None);
        assert_eq!(csv.first(&[1.0, 2.0, 2.0], Some(&ids)), None);
        assert_eq!(csv.kept(&predictions, Some(&ids)).0, [1.0, 2.0, 3.0]);
        assert_eq!(csv.first(&predictions, None), Some(1));
    }
}
