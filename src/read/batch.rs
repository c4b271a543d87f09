//! The batch: the reused rows of `f64` that the readers fill and the model scores, and the
//! rows' ids, copied from the id column.

use ndarray::Array2;

/// The most bytes a batch's values take, whatever `--batch-rows` and the model's width: 4 MiB.
/// A batch is one matrix-vector product, and a few MiB already amortise its call and keep it
/// within the caches; beyond, memory grows with no gain (`--batch-rows 1048576` with a
/// 1,000-feature model would ask for 8 GB at once, and abort). A row always fits, however wide:
/// the model file's size limit bounds the width.
pub const BATCH_BYTES: usize = 4 * 1024 * 1024;

/// The rows a batch of `columns` values per row holds when `requested` are asked for: as many,
/// but no more than fit in [`BATCH_BYTES`], and at least one. Batch size never changes output.
pub fn rows_within_budget(requested: usize, columns: usize) -> usize {
    let row_bytes = columns.max(1).saturating_mul(std::mem::size_of::<f64>());
    requested.min(BATCH_BYTES / row_bytes).max(1)
}

/// The identifiers of the rows of one batch, copied from the id columns, in one reused buffer.
/// A row's ids are pushed in the order their fields come in the row, and read back in the
/// order the id columns were asked for.
#[derive(Debug)]
pub struct Ids {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    /// For each id column as asked for, its place among a row's ids in field order.
    order: Vec<usize>,
}

impl Default for Ids {
    /// Ids of one column per row.
    fn default() -> Ids {
        Ids::new(vec![0])
    }
}

impl Ids {
    /// Ids of `order.len()` columns per row; `order[j]` is where the `j`-th column asked for
    /// comes among a row's fields.
    pub fn new(order: Vec<usize>) -> Ids {
        Ids {
            bytes: Vec::new(),
            ends: Vec::new(),
            order,
        }
    }

    /// Empty ids of the same columns.
    pub fn empty_like(&self) -> Ids {
        Ids::new(self.order.clone())
    }

    /// How many id columns a row has.
    pub fn per_row(&self) -> usize {
        self.order.len()
    }

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
        self.ends.truncate(rows * self.order.len());
        self.bytes.truncate(self.ends.last().copied().unwrap_or(0));
    }

    fn entry(&self, n: usize) -> &[u8] {
        let start = if n == 0 { 0 } else { self.ends[n - 1] };
        &self.bytes[start..self.ends[n]]
    }

    /// The `j`-th id (in the order the columns were asked for) of row `i` of the batch.
    pub fn get_at(&self, i: usize, j: usize) -> &[u8] {
        self.entry(i * self.order.len() + self.order[j])
    }

    /// The first id of row `i` of the batch.
    pub fn get(&self, i: usize) -> &[u8] {
        self.get_at(i, 0)
    }

    /// The ids of row `i`, in the order the columns were asked for.
    pub fn row(&self, i: usize) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.order.len()).map(move |j| self.get_at(i, j))
    }

    /// Appends row `i` of `other` (which has the same columns).
    pub(crate) fn push_row_of(&mut self, other: &Ids, i: usize) {
        let k = other.order.len();
        for n in i * k..(i + 1) * k {
            self.push(other.entry(n));
        }
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
    /// The rows' ids, when id columns were selected.
    pub ids: Ids,
}

impl Batch {
    /// A batch of up to `capacity` rows of `columns` values, fewer when that many would take
    /// more than [`BATCH_BYTES`] (see [`rows_within_budget`]).
    pub fn new(capacity: usize, columns: usize) -> Batch {
        Batch {
            x: Array2::zeros((rows_within_budget(capacity, columns), columns)),
            rows: 0,
            ids: Ids::default(),
        }
    }

    /// Empties the batch for reuse.
    pub fn clear(&mut self) {
        self.rows = 0;
        self.ids.clear();
    }

    /// The most rows the batch holds.
    pub fn capacity(&self) -> usize {
        self.x.nrows()
    }

    /// True when no more rows fit.
    pub fn is_full(&self) -> bool {
        self.rows == self.x.nrows()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_holds_the_rows_asked_for_within_the_budget() {
        assert_eq!(rows_within_budget(4096, 13), 4096);
        // 524 rows of 1,000 values are 4,192,000 bytes; 525 would pass 4 MiB (4,194,304).
        assert_eq!(rows_within_budget(1_048_576, 1000), 524);
        assert_eq!(Batch::new(1_048_576, 1000).capacity(), 524);
    }

    #[test]
    fn a_batch_holds_at_least_one_row_however_wide() {
        assert_eq!(rows_within_budget(4096, 10_000_000), 1);
        assert_eq!(rows_within_budget(0, 3), 1);
        assert_eq!(rows_within_budget(usize::MAX, usize::MAX), 1);
        assert_eq!(rows_within_budget(usize::MAX, 0), BATCH_BYTES / 8);
    }
}
