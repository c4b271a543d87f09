//! Blocks with quote characters, record by record through csv-core, which the csv crate is
//! built on: quoted fields, escaped quotes, and line breaks inside quotes.

use csv_core::ReadRecordResult as R;

use crate::read::batch::Batch;
use crate::read::block::record_reader;
use crate::read::cursor::{line_breaks, without_terminator, Cursor};
use crate::read::problem::{settle, Reject, RowError, RowProblem};
use crate::read::selection::Selection;

/// Reads the records of a block with quotes into `batch`, one at a time with csv-core, which
/// unescapes quoted fields and keeps line breaks inside them.
pub(crate) fn fill_quoted(
    selection: &Selection,
    data: &[u8],
    cur: &mut Cursor,
    batch: &mut Batch,
    mut rejects: Option<&mut Vec<Reject>>,
) -> Result<(), RowError> {
    let width = selection.width();
    let capacity = batch.x.nrows();
    let core = cur.core.get_or_insert_with(record_reader);
    while batch.rows < capacity && cur.pos < data.len() {
        // Line breaks between records: count them so the record knows its own line.
        while cur.pos < data.len() && matches!(data[cur.pos], b'\n' | b'\r') {
            cur.newlines += line_breaks(data, cur.pos..cur.pos + 1);
            cur.pos += 1;
        }
        if cur.pos >= data.len() {
            break;
        }
        let start = cur.pos;
        let line_in_block = cur.newlines;
        cur.row_start = (start, line_in_block);
        let (mut nout, mut nends) = (0, 0);
        let complete = loop {
            let (result, nin, o, e) = core.read_record(
                &data[cur.pos..],
                &mut cur.out[nout..],
                &mut cur.ends[nends..],
            );
            cur.pos += nin;
            nout += o;
            nends += e;
            match result {
                R::Record => break true,
                R::OutputFull => cur.out.resize(cur.out.len() * 2, 0),
                R::OutputEndsFull => cur.ends.resize(cur.ends.len() * 2, 0),
                // The block ends on a record boundary: an empty input here ends the record.
                R::InputEmpty if cur.pos >= data.len() => {
                    let (result, _, o, e) =
                        core.read_record(&[], &mut cur.out[nout..], &mut cur.ends[nends..]);
                    nout += o;
                    nends += e;
                    break result == R::Record;
                }
                R::InputEmpty => {}
                R::End => break false,
            }
        };
        cur.newlines += line_breaks(data, start..cur.pos);
        if !complete {
            break;
        }
        let text = without_terminator(&data[start..cur.pos]);
        let out = &cur.out[..nout];
        let ends = &cur.ends[..nends];
        let fields = ends.iter().scan(0, |from, &to| {
            let field = &out[*from..to];
            *from = to;
            Some(field)
        });
        let x = batch
            .x
            .as_slice_mut()
            .expect("a batch is in standard layout");
        let row = &mut x[batch.rows * width..(batch.rows + 1) * width];
        let mut outcome = selection.fill_row(fields, row, &mut batch.ids);
        // A quote that is never closed takes the rest of the input into one field, so the
        // count is off: say so rather than count fields.
        if matches!(outcome, Err(RowProblem::FieldCount { .. })) {
            if let Some(field) = open_quote_field(text) {
                outcome = Err(RowProblem::UnclosedQuote { field });
            }
        }
        settle(outcome, line_in_block, text, batch, rejects.as_deref_mut())?;
    }
    Ok(())
}

/// The field (from 0) whose quote is still open at the end of `record`, if `record` ends
/// inside a quoted field: csv-core, given a line break after it, still does not end the
/// record. Only a quote never closed, running to the end of the input, does that (a stray
/// quote inside an unquoted field is text). The header's reader asks this too.
pub(crate) fn open_quote_field(record: &[u8]) -> Option<usize> {
    let mut core = record_reader();
    let (mut out, mut ends) = (vec![0; record.len() + 1], vec![0; record.len() + 2]);
    let (first, nin, o, e) = core.read_record(record, &mut out, &mut ends);
    // A record that ends in its own line terminator (a header read whole) is closed.
    if first == csv_core::ReadRecordResult::Record || nin != record.len() {
        return None;
    }
    let (result, ..) = core.read_record(b"\n", &mut out[o..], &mut ends[e..]);
    // The fields before the open one have ended; the open one has not.
    (result != csv_core::ReadRecordResult::Record).then_some(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_quote_never_closed_leaves_a_record_open_and_its_field_is_named() {
        assert_eq!(open_quote_field(b"0.1,\"2\n1,2"), Some(1));
        assert_eq!(open_quote_field(b"\"a\"\"b"), Some(0));
        assert_eq!(open_quote_field(b"a,b,\"c,d\ne,f"), Some(2));
        // Closed quotes, a quote inside an unquoted field, an escaped quote: all closed (the
        // first was a fuzzer's find: it ended at a block's end in one cut and not in another).
        assert_eq!(open_quote_field(b"\"a\nb\",5\""), None);
        assert_eq!(open_quote_field(b"2\""), None);
        assert_eq!(open_quote_field(b"\"a\"\"b\",1"), None);
        // A record with its terminator: a header that is the whole file ends in one.
        for ended in [&b"a,b\r"[..], b"a,b\n", b"a,b\r\n", b"a,\"b\"\r"] {
            assert_eq!(open_quote_field(ended), None, "{ended:?}");
        }
    }
}
