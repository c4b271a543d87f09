//! [`BatchReader`]: a whole CSV input read batch by batch on the calling thread, for `train`
//! (scoring reads blocks on several threads instead, through the same [`fill_batch`]).

use std::io::Read;

use crate::error::Result;
use crate::read::batch::Batch;
use crate::read::block::{Block, BlockSource, CutError, BLOCK_SIZE};
use crate::read::cursor::Cursor;
use crate::read::header::Header;
use crate::read::problem::record_too_long;
use crate::read::selection::Selection;
use crate::read::{display_name, fill_batch};

/// Reads a CSV input batch by batch into selected numeric columns, on the calling thread.
pub struct BatchReader<R: Read> {
    source: BlockSource<R>,
    header: Header,
    selection: Option<Selection>,
    block: Option<Block>,
    spare: Vec<u8>,
    cursor: Cursor,
    lines_before: u64,
    bytes_done: u64,
    finished: bool,
}

impl<R: Read> BatchReader<R> {
    /// Starts reading `input` (named `path` in messages) and checks its header.
    pub fn new(path: &str, input: R) -> Result<BatchReader<R>> {
        let path = display_name(path);
        let (source, raw) = BlockSource::new(path, input, BLOCK_SIZE)?;
        let header = Header::parse(path, &csv::ByteRecord::from(raw.fields))?;
        Ok(BatchReader {
            source,
            header,
            selection: None,
            block: None,
            spare: Vec::new(),
            cursor: Cursor::default(),
            lines_before: raw.newlines,
            bytes_done: 0,
            finished: false,
        })
    }

    /// The file's checked header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Chooses the numeric columns to read, by name and in this order, and any columns whose
    /// text is carried along as each row's ids. `what` names the columns in messages.
    pub fn select(&mut self, names: &[String], what: &str, ids: &[String]) -> Result<()> {
        self.selection = Some(Selection::new(&self.header, names, what, ids)?);
        Ok(())
    }

    /// Fills `batch` with the next rows; returns how many (0 at the end of the input).
    pub fn read_batch(&mut self, batch: &mut Batch) -> Result<usize> {
        batch.clear();
        let selection = self
            .selection
            .as_ref()
            .expect("select() comes before read_batch()");
        if batch.ids.per_row() != selection.id_names().len().max(1) {
            batch.ids = selection.new_ids();
        }
        while !batch.is_full() {
            if self.block.is_none() {
                if self.finished {
                    break;
                }
                match self.source.next_block(std::mem::take(&mut self.spare)) {
                    Ok(Some(block)) => {
                        self.cursor.reset();
                        self.block = Some(block);
                    }
                    Ok(None) => {
                        self.finished = true;
                        break;
                    }
                    Err(CutError::RecordTooLong { quoted }) => {
                        let line = self.lines_before + 1;
                        return Err(record_too_long(self.header.path(), line, quoted));
                    }
                    Err(CutError::Io(err)) => return Err(err),
                }
            }
            let block = self.block.as_ref().expect("a block was just read");
            fill_batch(selection, block, &mut self.cursor, batch, None)
                .map_err(|e| e.into_error(&selection.columns(), self.lines_before))?;
            if self.cursor.pos >= block.data.len() {
                self.lines_before += self.cursor.newlines;
                self.bytes_done += block.data.len() as u64;
                self.spare = self.block.take().expect("a block is current").data;
            }
        }
        Ok(batch.rows)
    }

    /// Bytes of input (after the header) consumed so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_done
    }

    /// Gives back the underlying reader, for a caller that wrapped it (to hash the input).
    pub fn into_inner(self) -> R {
        self.source.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(text: &str) -> BatchReader<&[u8]> {
        let mut r = BatchReader::new("in.csv", text.as_bytes()).unwrap();
        r.select(&["a".into(), "b".into()], "feature", &[]).unwrap();
        r
    }

    fn all_rows(text: &str) -> Result<Vec<Vec<f64>>> {
        let mut r = reader(text);
        let mut batch = Batch::new(3, 2);
        let mut rows = Vec::new();
        while r.read_batch(&mut batch)? > 0 {
            for i in 0..batch.rows {
                rows.push(batch.x.row(i).to_vec());
            }
        }
        Ok(rows)
    }

    #[test]
    fn rows_fill_batches_in_order_across_batch_boundaries() {
        let mut r = reader("b,a,c\n1,2,x\n3,4,y\n5,6,z\n");
        let mut batch = Batch::new(2, 2);
        assert_eq!(r.read_batch(&mut batch).unwrap(), 2);
        assert_eq!(batch.x, ndarray::array![[2.0, 1.0], [4.0, 3.0]]);
        assert_eq!(r.read_batch(&mut batch).unwrap(), 1);
        assert_eq!(batch.x.row(0).to_vec(), vec![6.0, 5.0]);
        assert_eq!(r.read_batch(&mut batch).unwrap(), 0);
    }

    #[test]
    fn quoted_fields_crlf_empty_lines_and_a_missing_final_newline_read_like_plain_ones() {
        let plain = all_rows("a,b\n1,2\n3,4\n5,6\n").unwrap();
        for variant in [
            "a,b\r\n1,2\r\n3,4\r\n5,6\r\n",
            "\"a\",\"b\"\n\"1\",2\n3,\"4\"\n5,6",
            "a,b\n\n1,2\n\n\n3,4\n5,6\n\n",
            "\u{feff}a,b\n1,2\n3,4\n5,6",
            "a,b\n1.0,2e0\n30e-1,4.\n+5,6\n",
        ] {
            assert_eq!(all_rows(variant).unwrap(), plain, "{variant:?}");
        }
    }

    #[test]
    fn a_bad_cell_is_reported_with_line_column_and_name() {
        for text in [
            "a,b\n1,2\n3,abc\n",
            "a,b\n1,2\n3,\"abc\"\n",
            "a,b\r\n\r\n1,2\r\n3,abc\r\n",
        ] {
            let err = all_rows(text).unwrap_err();
            let line = if text.contains("\r\n\r\n") { 4 } else { 3 };
            assert_eq!(
                err.to_string(),
                format!("in.csv:{line}:2: column b: expected a number, found \"abc\""),
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_line_after_a_quoted_newline_keeps_its_line_number() {
        let mut r =
            BatchReader::new("in.csv", "id,a,b\n\"x\ny\",1,2\nz,3,oops\n".as_bytes()).unwrap();
        r.select(&["a".into(), "b".into()], "feature", &["id".into()])
            .unwrap();
        let err = r.read_batch(&mut Batch::new(8, 2)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "in.csv:4:3: column b: expected a number, found \"oops\""
        );
    }

    #[test]
    fn a_wrong_field_count_is_reported_before_a_bad_value() {
        let err = all_rows("a,b\n1,2\nx\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "in.csv:3: expected 2 fields as in the header, found 1"
        );
        let err = all_rows("a,b\n1,2\nx,2,3\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "in.csv:3: expected 2 fields as in the header, found 3"
        );
    }

    #[test]
    fn ids_are_carried_per_row() {
        let mut r = BatchReader::new("in.csv", "id,a,b\nx1,1,2\n\"y,2\",3,4\n".as_bytes()).unwrap();
        r.select(&["a".into(), "b".into()], "feature", &["id".into()])
            .unwrap();
        let mut batch = Batch::new(8, 2);
        r.read_batch(&mut batch).unwrap();
        assert_eq!(batch.ids.get(0), b"x1");
        assert_eq!(batch.ids.get(1), b"y,2");
    }
}
