//! Rows into reused `Array2<f64>` batches: the parsing half of the data path, shared by scoring
//! (one block at a time, on several threads) and training ([`BatchReader`], sequential).
//!
//! Blocks without quote characters take the fast path: where the CPU has AVX-512, a line of
//! plain numbers is read whole by [`crate::simd`]; a line whose fields are all plain numbers is
//! otherwise read in one pass, each field parsed where it stands up to the comma or line break
//! that ends it; any other line is split on `\n` and `,` and read field by field. Blocks with
//! quotes go through csv-core, record by record. All of them accept the same rows and report the
//! same errors (the vector reader reports none: it leaves any line it does not take to the
//! others), which the unit tests check against csv-core.

use std::fs::File;
use std::io::{self, Read};

use ndarray::Array2;

use crate::block::{Block, BlockSource, CutError, BLOCK_SIZE, MAX_RECORD};
use crate::error::{Error, Location, Result};
use crate::parse::{parse_decimal, parse_number, parse_prefix, NumberError};
use crate::schema::Header;
use crate::simd::{self, Lines};

/// The display name of standard input.
pub const STDIN: &str = "<stdin>";

/// Opens `path` for reading, `-` meaning standard input.
pub fn open_input(path: &str) -> Result<Box<dyn Read + Send>> {
    if path == "-" {
        return Ok(Box::new(io::stdin()));
    }
    let file = File::open(path).map_err(|e| Error::io(path, "open", e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, "read", e))?;
    if meta.is_dir() {
        return Err(Error::io(path, "read", io::ErrorKind::IsADirectory.into()));
    }
    Ok(Box::new(file))
}

/// The name of an input in messages: the path as given, or `<stdin>` for `-`.
pub fn display_name(path: &str) -> &str {
    if path == "-" {
        STDIN
    } else {
        path
    }
}

/// The identifiers of the rows of one batch, copied from the id column, in one reused buffer.
#[derive(Debug, Default)]
pub struct Ids {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Ids {
    fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }

    pub(crate) fn push(&mut self, id: &[u8]) {
        self.bytes.extend_from_slice(id);
        self.ends.push(self.bytes.len());
    }

    /// Keeps the ids of the first `rows` rows only.
    fn truncate(&mut self, rows: usize) {
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

/// Which fields of each row to read: numeric columns into batch columns, and an optional id.
#[derive(Debug, Clone)]
pub struct Selection {
    path: String,
    names: Vec<String>,
    /// For each field of a row, the batch column it fills, if any.
    slot_of_field: Vec<Option<usize>>,
    id_field: Option<usize>,
    field_count: usize,
    single_line_records: bool,
    /// The vector line reader, where the CPU and the row's shape allow it.
    lines: Option<Lines>,
}

impl Selection {
    /// Selects `names` (numeric, in this order) and optionally an id column from `header`.
    /// `what` names the numeric columns in messages ("feature").
    pub fn new(
        header: &Header,
        names: &[String],
        what: &str,
        id_column: Option<&str>,
    ) -> Result<Selection> {
        let fields = header.resolve(names, what)?;
        let mut slot_of_field = vec![None; header.names().len()];
        for (slot, &field) in fields.iter().enumerate() {
            slot_of_field[field] = Some(slot);
        }
        let id_field = match id_column {
            Some(name) => Some(header.resolve(&[name.to_string()], "id")?[0]),
            None => None,
        };
        let field_count = header.names().len();
        let lines = Lines::new(&slot_of_field, field_count, names.len(), id_field.is_some());
        Ok(Selection {
            path: header.path().to_string(),
            names: names.to_vec(),
            slot_of_field,
            id_field,
            field_count,
            single_line_records: false,
            lines,
        })
    }

    /// Reads every line with the scalar reader, even where the vector one could run (for tests
    /// and benchmarks comparing the two).
    pub fn without_vector_reader(mut self) -> Selection {
        self.lines = None;
        self
    }

    /// Whether lines of plain numbers are read by the vector reader.
    pub fn has_vector_reader(&self) -> bool {
        self.lines.is_some()
    }

    /// Refuses records with a line break inside a quoted field, or with an odd number of
    /// quotes (the part of such a record that a byte-range shard would see).
    pub fn require_single_line_records(&mut self) {
        self.single_line_records = true;
    }

    /// The input's name in messages.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// How many numeric columns a row fills.
    pub fn width(&self) -> usize {
        self.names.len()
    }

    /// Whether an id column is carried.
    pub fn has_id(&self) -> bool {
        self.id_field.is_some()
    }

    /// Parses one record's fields into `row`. A wrong field count is reported before a bad
    /// value, as the csv crate does.
    #[inline]
    fn fill_row<'a>(
        &self,
        fields: impl Iterator<Item = &'a [u8]>,
        row: &mut [f64],
        ids: &mut Ids,
    ) -> Result<(), RowProblem> {
        let mut bad: Option<RowProblem> = None;
        let mut count = 0;
        for (k, field) in fields.enumerate() {
            count = k + 1;
            let Some(&slot) = self.slot_of_field.get(k) else {
                continue;
            };
            if let Some(slot) = slot {
                match parse_number(field) {
                    Ok(value) => row[slot] = value,
                    Err(kind) => {
                        bad.get_or_insert_with(|| RowProblem::number(k, slot, field, kind));
                    }
                }
            }
            if self.id_field == Some(k) {
                ids.push(field);
            }
        }
        if count != self.field_count {
            return Err(RowProblem::FieldCount { found: count });
        }
        match bad {
            Some(problem) => Err(problem),
            None => Ok(()),
        }
    }
}

impl Selection {
    /// The common case of a line without quotes, in one pass and without looking for the
    /// line's end first: every selected field a simple number ([`parse_prefix`]), ended by a
    /// comma, and the line by `\n`, `\r\n` or the end of `rest`, after exactly as many fields
    /// as the header has. Returns the bytes taken, line break included. `None` means the line is
    /// not that simple, and [`Selection::fill_plain_row`] must decide it (it may have written
    /// part of `row` and `ids`, which that overwrites); when this takes a line, it fills it as
    /// `fill_plain_row` would.
    #[inline]
    fn fill_simple_line(&self, rest: &[u8], row: &mut [f64], ids: &mut Ids) -> Option<usize> {
        if matches!(rest.first(), Some(b'\n' | b'\r')) {
            return None;
        }
        let (&last, others) = self.slot_of_field.split_last()?;
        let mut start = 0;
        for (k, &slot) in others.iter().enumerate() {
            let end = self.simple_field(rest, start, k, slot, row, ids)?;
            if rest.get(end) != Some(&b',') {
                return None;
            }
            start = end + 1;
        }
        let end = self.simple_field(rest, start, others.len(), last, row, ids)?;
        match rest.get(end) {
            Some(b'\n') => Some(end + 1),
            Some(b'\r') if rest.get(end + 1) == Some(&b'\n') => Some(end + 2),
            None => Some(end),
            _ => None,
        }
    }

    /// Reads field `k` of a simple line, which starts at `start`, and says where it ends; the
    /// caller checks what ends it.
    #[inline(always)]
    fn simple_field(
        &self,
        rest: &[u8],
        start: usize,
        k: usize,
        slot: Option<usize>,
        row: &mut [f64],
        ids: &mut Ids,
    ) -> Option<usize> {
        let field = &rest[start..];
        let used = match slot {
            Some(slot) => {
                // Stopped at an exponent: the general reader of simple numbers goes on.
                let (value, used) = match parse_decimal(field) {
                    Some((_, used)) if matches!(field.get(used), Some(b'e' | b'E')) => {
                        parse_prefix(field)?
                    }
                    Some(parsed) => parsed,
                    None => parse_prefix(field)?,
                };
                row[slot] = value;
                used
            }
            None => skip_field(field),
        };
        if self.id_field == Some(k) {
            ids.push(&field[..used]);
        }
        Some(start + used)
    }

    /// [`Selection::fill_row`] for a line without quotes, parsing each selected field while
    /// finding its end. Falls back to the general parser for a field the fast parser does not
    /// take whole, so it accepts and refuses exactly what `fill_row` does.
    #[inline]
    fn fill_plain_row(
        &self,
        line: &[u8],
        row: &mut [f64],
        ids: &mut Ids,
    ) -> Result<(), RowProblem> {
        let mut bad: Option<RowProblem> = None;
        let mut start = 0;
        let mut k = 0;
        loop {
            let slot = self.slot_of_field.get(k).copied().flatten();
            let rest = &line[start..];
            let end = match slot.map(|_| parse_prefix(rest)) {
                Some(Some((value, used))) if used == rest.len() || rest[used] == b',' => {
                    row[slot.expect("a slot was found")] = value;
                    start + used
                }
                _ => {
                    let end = memchr::memchr(b',', rest).map_or(line.len(), |i| start + i);
                    if let Some(slot) = slot {
                        let field = &line[start..end];
                        match parse_number(field) {
                            Ok(value) => row[slot] = value,
                            Err(kind) => {
                                bad.get_or_insert_with(|| RowProblem::number(k, slot, field, kind));
                            }
                        }
                    }
                    end
                }
            };
            if self.id_field == Some(k) {
                ids.push(&line[start..end]);
            }
            k += 1;
            if end == line.len() {
                break;
            }
            start = end + 1;
        }
        if k != self.field_count {
            return Err(RowProblem::FieldCount { found: k });
        }
        match bad {
            Some(problem) => Err(problem),
            None => Ok(()),
        }
    }
}

/// The length of the field that starts `field` and is not read: up to a comma or the line's
/// end (a `\r` before `\n` is the line's end, as a plain block holds no other `\r`).
#[inline]
fn skip_field(field: &[u8]) -> usize {
    // Most such fields are numbers too, and reading one is quicker than a search.
    if let Some((_, used)) = parse_prefix(field) {
        if matches!(field.get(used), None | Some(b',' | b'\n' | b'\r')) {
            return used;
        }
    }
    match memchr::memchr2(b',', b'\n', field) {
        Some(i) if field[i] == b'\n' && i > 0 && field[i - 1] == b'\r' => i - 1,
        Some(i) => i,
        None => field.len(),
    }
}

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
    /// A quoted field spans lines, which a byte-range shard cannot split.
    SpansLines,
    /// The row has the wrong number of fields.
    FieldCount {
        /// Fields in the row.
        found: usize,
    },
    /// The row's prediction is not a finite `f64`.
    Overflow,
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
    /// A bad value in field `field` (for batch column `slot`), keeping the start of its text.
    fn number(field: usize, slot: usize, text: &[u8], kind: NumberError) -> RowProblem {
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
    /// The user-facing error, given the line breaks in the input before the block.
    pub fn into_error(self, selection: &Selection, lines_before: u64) -> Error {
        let line = lines_before + self.line_in_block + 1;
        let path = &selection.path;
        match self.problem {
            RowProblem::SpansLines => Error::data(
                Location::line(path, line),
                "a quoted field spans lines here, and shards split the file by lines; \
                 remove line breaks inside quoted fields, or score without --shard-count",
            ),
            RowProblem::Overflow => Error::data(
                Location::line(path, line),
                "the prediction is beyond the range of f64; are the values in the right units?",
            ),
            RowProblem::UnclosedQuote { field } => Error::data(
                Location::cell(path, line, field + 1),
                "a quote in this field is never closed, so the rest of the file was read into it",
            ),
            RowProblem::FieldCount { found } => Error::data(
                Location::line(path, line),
                format!(
                    "expected {} fields as in the header, found {found}",
                    selection.field_count
                ),
            ),
            RowProblem::Number {
                field,
                slot,
                found,
                truncated,
                kind,
            } => {
                let more = if truncated { "..." } else { "" };
                let found = format!("{:?}{more}", String::from_utf8_lossy(&found));
                let message = match kind {
                    NumberError::Empty => "expected a number, found an empty field".to_string(),
                    NumberError::Invalid => format!("expected a number, found {found}"),
                    NumberError::NonFinite => format!("expected a finite number, found {found}"),
                };
                Error::data(
                    Location::cell(path, line, field + 1),
                    format!("column {}: {message}", selection.names[slot]),
                )
            }
        }
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

/// Where parsing stands within one block, plus the scratch space of the quoted path.
pub struct Cursor {
    /// Byte position in the block.
    pub pos: usize,
    /// Line breaks consumed so far in the block.
    pub newlines: u64,
    /// Where the last row read starts: its byte position, and the line breaks before it.
    pub row_start: (usize, u64),
    /// Made on first use: most blocks have no quotes, and making one costs microseconds.
    core: Option<csv_core::Reader>,
    out: Vec<u8>,
    ends: Vec<usize>,
}

impl Default for Cursor {
    fn default() -> Self {
        Cursor {
            pos: 0,
            newlines: 0,
            row_start: (0, 0),
            core: None,
            out: vec![0; 4096],
            ends: vec![0; 64],
        }
    }
}

impl Cursor {
    /// Starts over at the beginning of a new block.
    pub fn reset(&mut self) {
        self.pos = 0;
        self.newlines = 0;
        self.core = None;
    }

    /// The line (line breaks before it in the block) and text of the last row read from
    /// `data`, which ends where the cursor stands.
    pub fn last_row<'a>(&self, data: &'a [u8]) -> (u64, &'a [u8]) {
        let (start, line) = self.row_start;
        (line, without_terminator(&data[start..self.pos]))
    }

    /// A cursor at byte `pos` of a block, after `newlines` line breaks.
    pub fn at(pos: usize, newlines: u64) -> Cursor {
        Cursor {
            pos,
            newlines,
            ..Cursor::default()
        }
    }
}

/// Parses rows of `block` from `cur` into `batch` until the batch is full or the block ends.
/// A bad row is an error, or, when `rejects` is given, set aside there.
pub fn fill_batch(
    selection: &Selection,
    block: &Block,
    cur: &mut Cursor,
    batch: &mut Batch,
    rejects: Option<&mut Vec<Reject>>,
) -> Result<(), RowError> {
    if block.quoted {
        fill_quoted(selection, &block.data, cur, batch, rejects)
    } else {
        fill_plain(selection, &block.data, cur, batch, rejects)
    }
}

/// Counts a parsed row in, or deals with its problem: an error, or a reject.
#[inline]
fn settle(
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

fn fill_plain(
    selection: &Selection,
    data: &[u8],
    cur: &mut Cursor,
    batch: &mut Batch,
    rejects: Option<&mut Vec<Reject>>,
) -> Result<(), RowError> {
    #[cfg(target_arch = "x86_64")]
    if let Some(lines) = &selection.lines {
        // SAFETY: a `Lines` is only made on a CPU with the features `simd::fill_plain` needs.
        return unsafe { simd::fill_plain(lines, selection, data, cur, batch, rejects) };
    }
    fill_plain_with(selection, data, cur, batch, rejects, |_, _| None)
}

/// Reads plain rows, offering each line to `vector` first (see [`crate::simd`]), then to the
/// scalar one-pass reader, and failing those to the field-by-field reader that decides errors.
#[inline(always)]
pub(crate) fn fill_plain_with(
    selection: &Selection,
    data: &[u8],
    cur: &mut Cursor,
    batch: &mut Batch,
    mut rejects: Option<&mut Vec<Reject>>,
    vector: impl Fn(&[u8], &mut [f64]) -> Option<usize>,
) -> Result<(), RowError> {
    // Lines the vector reader refuses cost a little each; when it has refused this many in a
    // row (a column of long numbers, say), the rest of the batch goes straight to the others.
    const GIVE_UP_AFTER: u32 = 32;
    let mut misses = 0;
    let width = selection.width();
    let capacity = batch.x.nrows();
    while batch.rows < capacity && cur.pos < data.len() {
        cur.row_start = (cur.pos, cur.newlines);
        let rest = &data[cur.pos..];
        let x = batch
            .x
            .as_slice_mut()
            .expect("a batch is in standard layout");
        let row = &mut x[batch.rows * width..(batch.rows + 1) * width];
        if misses < GIVE_UP_AFTER {
            if let Some(used) = vector(rest, row) {
                cur.pos += used;
                cur.newlines += 1;
                batch.rows += 1;
                misses = 0;
                continue;
            }
            misses += 1;
        }
        if let Some(used) = selection.fill_simple_line(rest, row, &mut batch.ids) {
            cur.pos += used;
            cur.newlines += u64::from(rest[used - 1] == b'\n');
            batch.rows += 1;
            continue;
        }
        batch.ids.truncate(batch.rows);
        let line_in_block = cur.newlines;
        let line = match memchr::memchr(b'\n', rest) {
            Some(i) => {
                cur.pos += i + 1;
                cur.newlines += 1;
                &rest[..i]
            }
            None => {
                cur.pos = data.len();
                rest
            }
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let x = batch
            .x
            .as_slice_mut()
            .expect("a batch is in standard layout");
        let row = &mut x[batch.rows * width..(batch.rows + 1) * width];
        let outcome = selection.fill_plain_row(line, row, &mut batch.ids);
        settle(outcome, line_in_block, line, batch, rejects.as_deref_mut())?;
    }
    Ok(())
}

fn fill_quoted(
    selection: &Selection,
    data: &[u8],
    cur: &mut Cursor,
    batch: &mut Batch,
    mut rejects: Option<&mut Vec<Reject>>,
) -> Result<(), RowError> {
    use csv_core::ReadRecordResult as R;
    let width = selection.width();
    let capacity = batch.x.nrows();
    let core = cur.core.get_or_insert_with(crate::block::record_reader);
    while batch.rows < capacity && cur.pos < data.len() {
        // Line breaks between records: count them so the record knows its own line.
        while cur.pos < data.len() && matches!(data[cur.pos], b'\n' | b'\r') {
            cur.newlines += u64::from(data[cur.pos] == b'\n');
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
        cur.newlines += memchr::memchr_iter(b'\n', &data[start..cur.pos]).count() as u64;
        if !complete {
            break;
        }
        let text = without_terminator(&data[start..cur.pos]);
        if selection.single_line_records
            && (memchr::memchr(b'\n', text).is_some()
                || memchr::memchr_iter(b'"', text).count() % 2 == 1)
        {
            return Err(RowError {
                line_in_block,
                problem: RowProblem::SpansLines,
            });
        }
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
        if matches!(outcome, Err(RowProblem::FieldCount { .. })) && quote_left_open(text) {
            outcome = Err(RowProblem::UnclosedQuote { field: nends - 1 });
        }
        settle(outcome, line_in_block, text, batch, rejects.as_deref_mut())?;
    }
    Ok(())
}

/// Whether `record` ends inside a quoted field: csv-core, given a line break after it, still
/// does not end the record. Only a quote never closed, running to the end of the input, does
/// that (a stray quote inside an unquoted field is text).
fn quote_left_open(record: &[u8]) -> bool {
    let mut core = crate::block::record_reader();
    let (mut out, mut ends) = (vec![0; record.len() + 1], vec![0; record.len() + 2]);
    let (_, nin, o, e) = core.read_record(record, &mut out, &mut ends);
    let (result, ..) = core.read_record(b"\n", &mut out[o..], &mut ends[e..]);
    nin == record.len() && result != csv_core::ReadRecordResult::Record
}

/// A record's bytes without the `\n` or `\r\n` that ends it.
fn without_terminator(record: &[u8]) -> &[u8] {
    let record = record.strip_suffix(b"\n").unwrap_or(record);
    record.strip_suffix(b"\r").unwrap_or(record)
}

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

    /// Chooses the numeric columns to read, by name and in this order, and optionally a column
    /// whose text is carried along as each row's id. `what` names the columns in messages.
    pub fn select(&mut self, names: &[String], what: &str, id_column: Option<&str>) -> Result<()> {
        self.selection = Some(Selection::new(&self.header, names, what, id_column)?);
        Ok(())
    }

    /// Fills `batch` with the next rows; returns how many (0 at the end of the input).
    pub fn read_batch(&mut self, batch: &mut Batch) -> Result<usize> {
        batch.clear();
        let selection = self
            .selection
            .as_ref()
            .expect("select() comes before read_batch()");
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
                .map_err(|e| e.into_error(selection, self.lines_before))?;
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
        r.select(&["a".into(), "b".into()], "feature", None)
            .unwrap();
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
        r.select(&["a".into(), "b".into()], "feature", Some("id"))
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

    /// Everything the plain path gives for a block: values, ids and rejects, batch by batch.
    fn read_block(selection: &Selection, data: &[u8], quoted: bool) -> Vec<String> {
        let block = Block {
            seq: 0,
            data: data.to_vec(),
            quoted,
        };
        let mut cursor = Cursor::default();
        let mut batch = Batch::new(4, selection.width());
        let mut rejects = Vec::new();
        let mut seen = Vec::new();
        loop {
            batch.clear();
            fill_batch(
                selection,
                &block,
                &mut cursor,
                &mut batch,
                Some(&mut rejects),
            )
            .unwrap();
            for i in 0..batch.rows {
                let bits: Vec<u64> = batch.x.row(i).iter().map(|v| v.to_bits()).collect();
                let id = selection.has_id().then(|| batch.ids.get(i));
                seen.push(format!("{bits:?} {id:?}"));
            }
            if batch.rows == 0 || cursor.pos >= block.data.len() {
                break;
            }
        }
        seen.extend(rejects.iter().map(|r| format!("{r:?}")));
        seen.push(format!("{} lines", cursor.newlines));
        seen
    }

    #[test]
    fn the_one_pass_and_vector_line_readers_read_every_line_as_csv_core_does() {
        // Plain blocks offer each line to the vector reader (where the CPU has one and there is
        // no id), then take simple lines in one pass and leave the rest to the field-by-field
        // reader; csv-core, which quoted blocks use, is the reference for all of them.
        let headers = [["a", "id", "b", "skip"], ["skip", "b", "a", "id"]];
        let mut selections = Vec::new();
        for (names, id) in [(headers[0], Some("id")), (headers[1], Some("id"))]
            .into_iter()
            .chain(headers.map(|names| (names, None)))
        {
            let header = Header::parse("in.csv", &csv::ByteRecord::from(names.to_vec())).unwrap();
            let names = ["b".into(), "a".into()];
            let selection = Selection::new(&header, &names, "feature", id).unwrap();
            assert_eq!(
                selection.has_vector_reader(),
                id.is_none() && simd::available()
            );
            selections.push(selection);
        }
        // Cells the vector reader takes, and cells that send a line to the other readers.
        let simple = [
            "1",
            "-2.5",
            "0.00632",
            "394.33",
            "5.",
            ".5",
            "-.5",
            "-0",
            "12345678",
            "-99999999",
            ".12345678",
            "0.0000001",
        ];
        let long_zero = format!("0.{}1", "0".repeat(70));
        let others = [
            "+7",
            "1e3",
            "2.5E-2",
            " 4",
            "5 ",
            "",
            "x",
            "1.2.3",
            "1..",
            "--1",
            "-",
            ".",
            "1e",
            "123456789",
            "0.123456789",
            "12345678901234567890",
            "9007199254740993",
            "inf",
            "NaN",
            &long_zero,
        ];
        let mut rng = crate::testing::Rng(5);
        for case in 0..4000 {
            let eol = if rng.one_in(3) { "\r\n" } else { "\n" };
            let mut text = String::new();
            for _ in 0..rng.below(6) {
                if rng.one_in(8) {
                    text += eol;
                    continue;
                }
                let fields = [3, 4, 4, 4, 4, 5][rng.below(6) as usize];
                let row: Vec<&str> = (0..fields)
                    .map(|_| match rng.one_in(6) {
                        true => others[rng.below(others.len() as u64) as usize],
                        false => simple[rng.below(simple.len() as u64) as usize],
                    })
                    .collect();
                text += &row.join(",");
                text += eol;
            }
            if rng.one_in(3) {
                text.truncate(text.len().saturating_sub(eol.len()));
            }
            let selection = &selections[case % 4];
            let reference = read_block(selection, text.as_bytes(), true);
            let scalar = selection.clone().without_vector_reader();
            for (reader, selection) in [("plain", selection), ("scalar", &scalar)] {
                assert_eq!(
                    read_block(selection, text.as_bytes(), false),
                    reference,
                    "case {case}, {reader} reader: {text:?}"
                );
            }
        }
    }

    #[test]
    fn only_a_quote_never_closed_leaves_a_record_open() {
        assert!(quote_left_open(b"0.1,\"2\n1,2"));
        assert!(quote_left_open(b"\"a\"\"b"));
        // Closed quotes, a quote inside an unquoted field, an escaped quote: all closed (the
        // first was a fuzzer's find: it ended at a block's end in one cut and not in another).
        assert!(!quote_left_open(b"\"a\nb\",5\""));
        assert!(!quote_left_open(b"2\""));
        assert!(!quote_left_open(b"\"a\"\"b\",1"));
    }

    #[test]
    fn ids_are_carried_per_row() {
        let mut r = BatchReader::new("in.csv", "id,a,b\nx1,1,2\n\"y,2\",3,4\n".as_bytes()).unwrap();
        r.select(&["a".into(), "b".into()], "feature", Some("id"))
            .unwrap();
        let mut batch = Batch::new(8, 2);
        r.read_batch(&mut batch).unwrap();
        assert_eq!(batch.ids.get(0), b"x1");
        assert_eq!(batch.ids.get(1), b"y,2");
    }
}
