//! Streaming CSV input: one reused record, one reused `Array2<f64>` batch, no per-row allocation.
//!
//! Scoring and training read through this one path, so both accept exactly the same files and
//! report a bad cell with the same `file:line:column` message.

use std::fs::File;
use std::io::{self, Read};

use ndarray::Array2;

use crate::error::{Error, Location, Result};
use crate::schema::Header;

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

/// Why a cell is not a usable number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberError {
    /// The field is empty (or only white space).
    Empty,
    /// The text is not a number.
    Invalid,
    /// NaN or an infinity: a number, but not one a model can score.
    NonFinite,
}

/// Parses one CSV field as a finite `f64`, ignoring surrounding ASCII white space. The same
/// parser serves scoring and training.
pub fn parse_number(field: &[u8]) -> std::result::Result<f64, NumberError> {
    let field = field.trim_ascii();
    if field.is_empty() {
        return Err(NumberError::Empty);
    }
    let text = std::str::from_utf8(field).map_err(|_| NumberError::Invalid)?;
    let value: f64 = text.parse().map_err(|_| NumberError::Invalid)?;
    if value.is_finite() {
        Ok(value)
    } else {
        Err(NumberError::NonFinite)
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

    fn push(&mut self, id: &[u8]) {
        self.bytes.extend_from_slice(id);
        self.ends.push(self.bytes.len());
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
    /// The values, `capacity × columns`.
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
}

/// Reads a CSV file batch by batch into the selected numeric columns.
pub struct BatchReader<R: Read> {
    path: String,
    rdr: csv::Reader<R>,
    record: csv::ByteRecord,
    header: Header,
    columns: Vec<usize>,
    names: Vec<String>,
    id_column: Option<usize>,
}

impl<R: Read> BatchReader<R> {
    /// Starts reading `input` (named `path` in messages) and checks its header.
    pub fn new(path: &str, input: R) -> Result<BatchReader<R>> {
        let path = display_name(path).to_string();
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .buffer_capacity(256 * 1024)
            .from_reader(input);
        let header = match rdr.byte_headers() {
            Ok(record) => Header::parse(&path, record)?,
            Err(err) => return Err(csv_error(&path, err)),
        };
        Ok(BatchReader {
            path,
            rdr,
            record: csv::ByteRecord::new(),
            header,
            columns: Vec::new(),
            names: Vec::new(),
            id_column: None,
        })
    }

    /// The file's checked header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Chooses the numeric columns to read, by name and in this order, and optionally a column
    /// whose text is carried along as each row's id. `what` names the columns in messages.
    pub fn select(&mut self, names: &[String], what: &str, id_column: Option<&str>) -> Result<()> {
        self.columns = self.header.resolve(names, what)?;
        self.names = names.to_vec();
        self.id_column = match id_column {
            Some(name) => Some(self.header.resolve(&[name.to_string()], "id")?[0]),
            None => None,
        };
        Ok(())
    }

    /// Fills `batch` with the next rows; returns how many (0 at the end of the input).
    pub fn read_batch(&mut self, batch: &mut Batch) -> Result<usize> {
        batch.rows = 0;
        batch.ids.clear();
        let capacity = batch.x.nrows();
        while batch.rows < capacity {
            match self.rdr.read_byte_record(&mut self.record) {
                Ok(true) => {}
                Ok(false) => break,
                Err(err) => return Err(csv_error(&self.path, err)),
            }
            let mut row = batch.x.row_mut(batch.rows);
            for (j, &c) in self.columns.iter().enumerate() {
                let field = &self.record[c];
                row[j] = match parse_number(field) {
                    Ok(v) => v,
                    Err(kind) => return Err(self.bad_number(kind, c, j)),
                };
            }
            if let Some(c) = self.id_column {
                batch.ids.push(&self.record[c]);
            }
            batch.rows += 1;
        }
        Ok(batch.rows)
    }

    /// Bytes of input consumed so far.
    pub fn bytes_read(&self) -> u64 {
        self.rdr.position().byte()
    }

    /// Gives back the underlying reader, for a caller that wrapped it (to hash the input).
    pub fn into_inner(self) -> R {
        self.rdr.into_inner()
    }

    fn bad_number(&self, kind: NumberError, column: usize, j: usize) -> Error {
        let line = self.record.position().map_or(0, |p| p.line());
        let field = &self.record[column];
        let found = quote_found(field);
        let message = match kind {
            NumberError::Empty => "expected a number, found an empty field".to_string(),
            NumberError::Invalid => format!("expected a number, found {found}"),
            NumberError::NonFinite => format!("expected a finite number, found {found}"),
        };
        Error::data(
            Location::cell(&self.path, line, column + 1),
            format!("column {}: {message}", self.names[j]),
        )
    }
}

/// A field as quoted text for a message, cut short when long.
fn quote_found(field: &[u8]) -> String {
    const MAX: usize = 40;
    let text = String::from_utf8_lossy(&field[..field.len().min(MAX)]);
    let more = if field.len() > MAX { "..." } else { "" };
    format!("{:?}{more}", text.as_ref())
}

/// Turns a csv crate error into ours, keeping its position.
fn csv_error(path: &str, err: csv::Error) -> Error {
    let line = err.position().map(|p| p.line());
    let location = match line {
        Some(line) => Location::line(path, line),
        None => Location::file(path),
    };
    match err.into_kind() {
        csv::ErrorKind::Io(e) => Error::io(path, "read", e),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => Error::data(
            location,
            format!("expected {expected_len} fields as in the header, found {len}"),
        ),
        other => Error::data(location, format!("{:?}", other)),
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

    #[test]
    fn numbers_parse_like_rust_floats_and_refuse_non_finite_values() {
        assert_eq!(parse_number(b"2.96e2"), Ok(296.0));
        assert_eq!(parse_number(b" -0.5 "), Ok(-0.5));
        assert_eq!(parse_number(b""), Err(NumberError::Empty));
        assert_eq!(parse_number(b"abc"), Err(NumberError::Invalid));
        assert_eq!(parse_number(b"NaN"), Err(NumberError::NonFinite));
        assert_eq!(parse_number(b"-inf"), Err(NumberError::NonFinite));
        assert_eq!(parse_number(b"1e999"), Err(NumberError::NonFinite));
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
    fn a_bad_cell_is_reported_with_line_column_and_name() {
        let mut r = reader("a,b\n1,2\n3,abc\n");
        let err = r.read_batch(&mut Batch::new(8, 2)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "in.csv:3:2: column b: expected a number, found \"abc\""
        );
    }

    #[test]
    fn a_short_row_is_reported_with_its_line() {
        let mut r = reader("a,b\n1,2\n3\n");
        let err = r.read_batch(&mut Batch::new(8, 2)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "in.csv:3: expected 2 fields as in the header, found 1"
        );
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
