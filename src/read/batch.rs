//! The batch: the reused rows of `f64` that the readers fill and the model scores, and the
//! rows' ids, copied from the id column.

use ndarray::Array2;

/// The identifiers of the rows of one batch, copied from the id column, in one reused buffer.
#[derive(Debug, Default)]
pub struct Ids {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Ids {
    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }

    pub(crate) fn push(&mut self, id: &[u8]) {
        self.bytes.extend_from_slice(id);
        self.ends.push(self.bytes.len());
    }

    /// Keeps the ids of the first `rows` rows only.
    pub(crate) fn truncate(&mut self, rows: usize) {
        self.ends.truncate(rows);
        self.bytes.truncate(self.ends.last().copied().unwrap_or(0));
    }

    /// The id of row `i` of the batch.
    pub fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }
}

/// A block of rows: `x` has one row per observation and one column per selected column.
/// Only the first `rows` rows are filled; the array is reused from batch to batch.
#[derive(Debug)]
pub struct Batch {
    /// The values, `capacity × columns`, in standard (row-major) layout.
    pub x: Array2<f64>,
    /// How many rows of `x` hold data.
    pub rows: usize,
    /// The rows' ids, when an id column was selected.
    pub ids: Ids,
}

impl Batch {
    /// A batch of up to `capacity` rows of `columns` values.
    pub fn new(capacity: usize, columns: usize) -> Batch {
        Batch {
            x: Array2::zeros((capacity.max(1), columns)),
            rows: 0,
            ids: Ids::default(),
        }
    }

    /// Empties the batch for reuse.
    pub fn clear(&mut self) {
        self.rows = 0;
        self.ids.clear();
    }

    /// True when no more rows fit.
    pub fn is_full(&self) -> bool {
        self.rows == self.x.nrows()
    }
}
