//! Parquet to batches: a Parquet file read row group by row group, only the model's feature
//! columns and the id columns, into the same [`Batch`]es the CSV readers fill.
//!
//! The file is read through the `parquet` crate's [`ChunkReader`], a random-access source: a
//! local [`File`] is one, and an object read by ranged GETs is another
//! ([`crate::store::chunks`]). Columns are decoded
//! with the crate's low-level column readers (no Arrow: a fraction of the build), a batch at a
//! time, so memory stays at a batch of each column whatever the row groups' size. Feature
//! columns may be of any numeric type (double, float, int32, int64, and decimals stored in
//! them), read as `f64`; a null or a value that is not finite is a row problem, told with the
//! row's number in the file. Id columns may be of any type; their values are carried as text
//! (the shortest text that reads back as the same value), and their Parquet types are kept
//! for a Parquet output. Sharding gives each shard whole row groups.

use std::fs::File;
use std::io::Read;
use std::ops::Range;

use ::parquet::basic::{LogicalType, Type as PhysicalType};
use ::parquet::column::reader::ColumnReader;
use ::parquet::data_type::{ByteArray, FixedLenByteArray};
use ::parquet::file::reader::{ChunkReader, FileReader, SerializedFileReader};
use ::parquet::schema::types::{ColumnDescPtr, TypePtr};

use crate::error::{Error, Location, Result};
use crate::read::batch::{Batch, Ids};
use crate::read::header::shown_names;
use crate::read::shard::Shard;
use crate::store::chunks::Chunks;

/// The first (and last) four bytes of every Parquet file.
pub const MAGIC: &[u8; 4] = b"PAR1";

/// Whether the file (or object) at `path` is Parquet: named `.parquet`, or starting with
/// [`MAGIC`].
/// Standard input never is (its first bytes would be consumed by looking).
pub fn is_parquet(path: &str) -> bool {
    if path == "-" {
        return false;
    }
    if has_parquet_extension(path) {
        return true;
    }
    if crate::store::is_url(path) {
        return crate::store::chunks::is_parquet_object(path);
    }
    // Only a regular file is looked into: opening a FIFO would wait for its writer, and
    // reading it would take bytes the CSV reader needs.
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return false;
    }
    let mut start = [0u8; 4];
    match File::open(path) {
        Ok(file) => file.take(4).read_exact(&mut start).is_ok() && &start == MAGIC,
        Err(_) => false,
    }
}

/// Whether `path` is named as a Parquet file (`.parquet`, any case).
pub fn has_parquet_extension(path: &str) -> bool {
    path.to_ascii_lowercase().ends_with(".parquet")
}

/// One selected column of the file.
#[derive(Debug, Clone)]
struct Column {
    name: String,
    /// The column's place among the file's leaf columns.
    index: usize,
    descr: ColumnDescPtr,
}

/// What is wrong with a row of a Parquet file.
#[derive(Debug, Clone, PartialEq)]
pub struct ParquetProblem {
    /// The row's number in the file, from 1.
    pub row: u64,
    /// The feature column at fault.
    pub column: String,
    /// What it holds: `null`, or the value's text.
    pub found: Option<String>,
}

impl ParquetProblem {
    /// The words of the error and of the rejects file.
    pub fn reason(&self) -> String {
        match &self.found {
            None => format!(
                "row {}: column {}: expected a number, found null",
                self.row, self.column
            ),
            Some(text) => format!(
                "row {}: column {}: expected a finite number, found {text}",
                self.row, self.column
            ),
        }
    }

    /// The error that stops a run, in `path`.
    pub fn into_error(self, path: &str) -> Error {
        Error::data(Location::file(path), self.reason())
    }
}

/// A Parquet input read batch by batch: the selected columns of its row groups, in order.
pub struct ParquetReader<R: ChunkReader + 'static> {
    name: String,
    file: SerializedFileReader<R>,
    features: Vec<Column>,
    ids: Vec<Column>,
    groups: Range<usize>,
    /// The current row group's column readers (features, then ids) and its rows left.
    current: Option<(Vec<ColumnReader>, usize)>,
    /// Rows of the file before the next row to read.
    rows_before: u64,
    defs: Vec<i16>,
    values: Values,
    /// The row numbers (from 1) of the last batch's rows.
    kept: Vec<u64>,
    /// One feature column's values of a batch, NaN for a null.
    numbers: Vec<f64>,
}

/// Reused buffers of decoded values, one per physical type.
#[derive(Default)]
struct Values {
    bools: Vec<bool>,
    i32s: Vec<i32>,
    i64s: Vec<i64>,
    f32s: Vec<f32>,
    f64s: Vec<f64>,
    bytes: Vec<ByteArray>,
    fixed: Vec<FixedLenByteArray>,
}

/// Opens the Parquet file (or `s3://`, `gs://`, `az://` object, read by ranges) at `path`.
pub fn open_file(path: &str) -> Result<ParquetReader<Chunks>> {
    if crate::store::is_prefix(path) {
        return Err(Error::Usage(format!(
            "{path}: a prefix of Parquet objects is read by score only; name one object"
        )));
    }
    ParquetReader::new(path, Chunks::open(path)?)
}

impl<R: ChunkReader + 'static> ParquetReader<R> {
    /// Reads the footer of `source` (named `name` in messages).
    pub fn new(name: &str, source: R) -> Result<ParquetReader<R>> {
        let file = SerializedFileReader::new(source).map_err(|e| damaged(name, &e))?;
        let groups = 0..file.num_row_groups();
        Ok(ParquetReader {
            name: name.to_string(),
            file,
            features: Vec::new(),
            ids: Vec::new(),
            groups,
            current: None,
            rows_before: 0,
            defs: Vec::new(),
            values: Values::default(),
            kept: Vec::new(),
            numbers: Vec::new(),
        })
    }

    /// The names of the file's columns.
    pub fn column_names(&self) -> Vec<String> {
        let schema = self.file.metadata().file_metadata().schema_descr();
        schema.columns().iter().map(|c| c.path().string()).collect()
    }

    /// Chooses the numeric columns to read (`what` names them in messages: "feature") and the
    /// id columns. A numeric column the file lacks is a data error, as in a CSV; an id column
    /// it lacks, a usage error, as in a CSV.
    pub fn select(&mut self, names: &[String], what: &str, ids: &[String]) -> Result<()> {
        let all = self.column_names();
        let schema = self.file.metadata().file_metadata().schema_descr_ptr();
        let find = |name: &String| {
            all.iter().position(|n| n == name).map(|index| Column {
                name: name.clone(),
                index,
                descr: schema.column(index),
            })
        };
        let missing: Vec<&str> = names
            .iter()
            .filter(|n| find(n).is_none())
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            let plural = if missing.len() == 1 { "" } else { "s" };
            return Err(Error::data(
                Location::file(&self.name),
                format!(
                    "missing {what} column{plural} {} (the file has: {})",
                    missing.join(", "),
                    shown_names(&all)
                ),
            ));
        }
        let missing: Vec<&str> = ids
            .iter()
            .filter(|n| find(n).is_none())
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            let plural = if missing.len() == 1 { "" } else { "s" };
            return Err(Error::Usage(format!(
                "--id-column {}: {} has no column{plural} of that name; its columns are {}",
                missing.join(","),
                self.name,
                shown_names(&all)
            )));
        }
        let features: Vec<Column> = names.iter().filter_map(find).collect();
        for column in features
            .iter()
            .chain(ids.iter().filter_map(find).collect::<Vec<_>>().iter())
        {
            if column.descr.max_rep_level() > 0 {
                return Err(Error::data(
                    Location::file(&self.name),
                    format!(
                        "column {} is a list, which cannot be a feature or an id; \
                         select plain columns",
                        column.name
                    ),
                ));
            }
        }
        for column in &features {
            if !matches!(
                column.descr.physical_type(),
                PhysicalType::INT32
                    | PhysicalType::INT64
                    | PhysicalType::FLOAT
                    | PhysicalType::DOUBLE
            ) {
                return Err(Error::data(
                    Location::file(&self.name),
                    format!(
                        "column {}: a {what} must be numeric, but the column holds {}; \
                         is this the right file?",
                        column.name,
                        type_name(&column.descr)
                    ),
                ));
            }
        }
        self.ids = ids.iter().filter_map(find).collect();
        self.features = features;
        Ok(())
    }

    /// Reads only the row groups of `shard`: shard `I` of `N` takes row groups
    /// `[I·G/N, (I+1)·G/N)` of the file's `G`, so the shards together read each row group once.
    pub fn restrict_to(&mut self, shard: Shard) {
        let groups = self.file.num_row_groups() as u64;
        let at = |i: u64| (u128::from(groups) * u128::from(i) / u128::from(shard.count)) as usize;
        self.groups = at(shard.index)..at(shard.index + 1);
        self.rows_before = (0..self.groups.start)
            .map(|g| self.group_rows(g) as u64)
            .sum();
    }

    /// Reads only the row groups `groups` of the file (a shard's part of several files).
    pub fn restrict_to_groups(&mut self, groups: Range<usize>) {
        self.rows_before = (0..groups.start).map(|g| self.group_rows(g) as u64).sum();
        self.groups = groups;
    }

    /// The row groups this reader reads.
    pub fn row_groups(&self) -> Range<usize> {
        self.groups.clone()
    }

    /// The rows this reader reads.
    pub fn rows(&self) -> u64 {
        self.groups.clone().map(|g| self.group_rows(g) as u64).sum()
    }

    fn group_rows(&self, group: usize) -> usize {
        self.file.metadata().row_group(group).num_rows().max(0) as usize
    }

    /// The id columns' Parquet types, in the order asked for.
    pub fn id_types(&self) -> Vec<TypePtr> {
        self.ids.iter().map(|c| c.descr.self_type_ptr()).collect()
    }

    /// The row numbers in the file (from 1) of the last batch's rows.
    pub fn kept_rows(&self) -> &[u64] {
        &self.kept
    }

    /// The input's name in messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A batch's empty ids for the id columns (pushed in the order asked for).
    pub fn new_ids(&self) -> Ids {
        Ids::new((0..self.ids.len()).collect())
    }

    /// Fills `batch` with the next rows (up to its capacity, within one row group); returns how
    /// many rows were read, 0 at the end. A row with a null or non-finite feature is an error,
    /// or, when `rejects` is given, left out of the batch and set aside there with its values'
    /// text.
    pub fn read_batch(
        &mut self,
        batch: &mut Batch,
        mut rejects: Option<&mut Vec<(ParquetProblem, String)>>,
    ) -> Result<usize> {
        batch.clear();
        if batch.ids.per_row() != self.ids.len().max(1) {
            batch.ids = self.new_ids();
        }
        let (mut readers, left) = loop {
            match self.current.take() {
                Some((readers, left)) if left > 0 => break (readers, left),
                _ => {
                    let Some(group) = self.groups.next() else {
                        return Ok(0);
                    };
                    let row_group = self
                        .file
                        .get_row_group(group)
                        .map_err(|e| damaged(&self.name, &e))?;
                    let mut readers = Vec::new();
                    for column in self.features.iter().chain(&self.ids) {
                        readers.push(
                            row_group
                                .get_column_reader(column.index)
                                .map_err(|e| damaged(&self.name, &e))?,
                        );
                    }
                    self.current = Some((readers, self.group_rows(group)));
                }
            }
        };
        let n = left.min(batch.capacity());
        let width = self.features.len();
        let mut bad: Vec<Option<ParquetProblem>> = vec![None; n];
        {
            let x = batch
                .x
                .as_slice_mut()
                .expect("a batch is in standard layout");
            for (slot, column) in self.features.iter().enumerate() {
                read_numbers(
                    &self.name,
                    column,
                    &mut readers[slot],
                    n,
                    &mut self.defs,
                    &mut self.values,
                    &mut self.numbers,
                )?;
                for (r, &value) in self.numbers.iter().enumerate() {
                    if value.is_finite() {
                        x[r * width + slot] = value;
                        continue;
                    }
                    // A null is read as NaN, which Parquet's numbers otherwise may hold too.
                    let max_def = column.descr.max_def_level();
                    let null = max_def > 0 && self.defs.get(r).is_some_and(|&d| d < max_def);
                    bad[r].get_or_insert_with(|| ParquetProblem {
                        row: self.rows_before + r as u64 + 1,
                        column: column.name.clone(),
                        found: (!null).then(|| format!("{value}")),
                    });
                }
            }
        }
        let mut id_cells = Vec::with_capacity(self.ids.len());
        for (j, column) in self.ids.iter().enumerate() {
            id_cells.push(read_column(
                &self.name,
                column,
                &mut readers[width + j],
                n,
                &mut self.defs,
                &mut self.values,
            )?);
        }
        // Rows with a problem are an error, or are set aside and the rest moved up.
        let mut kept = 0;
        self.kept.clear();
        for (r, problem) in bad.into_iter().enumerate() {
            if let Some(problem) = problem {
                let Some(rejects) = rejects.as_deref_mut() else {
                    return Err(problem.into_error(&self.name));
                };
                let x = batch.x.row(r);
                let mut record: Vec<String> = x
                    .iter()
                    .enumerate()
                    .map(|(slot, v)| match &problem.found {
                        None if self.features[slot].name == problem.column => "null".into(),
                        _ => format!("{v}"),
                    })
                    .collect();
                record.truncate(width);
                rejects.push((problem, record.join(",")));
                continue;
            }
            if kept != r {
                for slot in 0..width {
                    batch.x[[kept, slot]] = batch.x[[r, slot]];
                }
            }
            for cells in &id_cells {
                match &cells[r] {
                    Cell::Text(text) => batch.ids.push(text),
                    _ => batch.ids.push(b""),
                }
            }
            self.kept.push(self.rows_before + r as u64 + 1);
            kept += 1;
        }
        batch.rows = kept;
        self.rows_before += n as u64;
        self.current = Some((readers, left - n));
        Ok(n)
    }
}

/// Reads the next `n` values of the numeric `column` into `numbers` as `f64`, NaN for a null
/// (`defs` then tells which): a decimal is scaled, a float widened.
fn read_numbers(
    name: &str,
    column: &Column,
    reader: &mut ColumnReader,
    n: usize,
    defs: &mut Vec<i16>,
    values: &mut Values,
    numbers: &mut Vec<f64>,
) -> Result<()> {
    defs.clear();
    numbers.clear();
    let max_def = column.descr.max_def_level();
    let divisor = 10f64.powi(decimal_scale(&column.descr));
    let short = || {
        Error::data(
            Location::file(name),
            format!(
                "column {}: the row group holds fewer values than its stated row count; the file is damaged",
                column.name
            ),
        )
    };
    macro_rules! read {
        ($r:expr, $buf:expr, $to:expr) => {{
            $buf.clear();
            let (records, present, _) = $r
                .read_records(n, Some(&mut *defs), None, &mut $buf)
                .map_err(|e| damaged(name, &e))?;
            if records != n || $buf.len() < present {
                return Err(short());
            }
            if present == n {
                numbers.extend($buf[..n].iter().map($to));
            } else {
                let mut it = $buf[..present].iter();
                for r in 0..n {
                    match defs.get(r) {
                        Some(&d) if d < max_def => numbers.push(f64::NAN),
                        _ => numbers.push($to(it.next().ok_or_else(short)?)),
                    }
                }
            }
        }};
    }
    match reader {
        ColumnReader::Int32ColumnReader(r) => {
            read!(r, values.i32s, |v: &i32| f64::from(*v) / divisor)
        }
        ColumnReader::Int64ColumnReader(r) => read!(r, values.i64s, |v: &i64| *v as f64 / divisor),
        ColumnReader::FloatColumnReader(r) => read!(r, values.f32s, |v: &f32| f64::from(*v)),
        ColumnReader::DoubleColumnReader(r) => read!(r, values.f64s, |v: &f64| *v),
        _ => unreachable!("select() takes only numeric feature columns"),
    }
    Ok(())
}

/// One decoded id.
#[derive(Debug, Clone)]
enum Cell {
    Text(Vec<u8>),
    Null,
}

/// Reads the next `n` values of the id column `column` as text: the shortest that reads back
/// as the same value (the bytes themselves for byte arrays).
fn read_column(
    name: &str,
    column: &Column,
    reader: &mut ColumnReader,
    n: usize,
    defs: &mut Vec<i16>,
    values: &mut Values,
) -> Result<Vec<Cell>> {
    defs.clear();
    let max_def = column.descr.max_def_level();
    macro_rules! read {
        ($r:expr, $buf:expr, $to:expr) => {{
            $buf.clear();
            let (records, _, _) = $r
                .read_records(n, Some(&mut *defs), None, &mut $buf)
                .map_err(|e| damaged(name, &e))?;
            if records != n {
                return Err(Error::data(
                    Location::file(name),
                    format!(
                        "column {}: the row group ends before its stated row count; the file is damaged",
                        column.name
                    ),
                ));
            }
            let mut it = $buf.iter();
            let mut cells = Vec::with_capacity(n);
            for r in 0..n {
                if max_def > 0 && defs.get(r).is_some_and(|&d| d < max_def) {
                    cells.push(Cell::Null);
                    continue;
                }
                let value = it.next().ok_or_else(|| {
                    Error::data(
                        Location::file(name),
                        format!("column {}: fewer values than rows; the file is damaged", column.name),
                    )
                })?;
                cells.push($to(value));
            }
            cells
        }};
    }
    let text = |t: String| Cell::Text(t.into_bytes());
    let cells = match reader {
        ColumnReader::BoolColumnReader(r) => read!(r, values.bools, |v: &bool| text(v.to_string())),
        ColumnReader::Int32ColumnReader(r) => read!(r, values.i32s, |v: &i32| text(v.to_string())),
        ColumnReader::Int64ColumnReader(r) => read!(r, values.i64s, |v: &i64| text(v.to_string())),
        ColumnReader::FloatColumnReader(r) => read!(r, values.f32s, |v: &f32| text(v.to_string())),
        ColumnReader::DoubleColumnReader(r) => read!(r, values.f64s, |v: &f64| text(v.to_string())),
        ColumnReader::ByteArrayColumnReader(r) => {
            read!(r, values.bytes, |v: &ByteArray| Cell::Text(
                v.data().to_vec()
            ))
        }
        ColumnReader::FixedLenByteArrayColumnReader(r) => {
            read!(r, values.fixed, |v: &FixedLenByteArray| Cell::Text(
                v.data().to_vec()
            ))
        }
        ColumnReader::Int96ColumnReader(_) => {
            return Err(Error::data(
                Location::file(name),
                format!(
                    "column {}: INT96 timestamps are not supported; select another column",
                    column.name
                ),
            ))
        }
    };
    Ok(cells)
}

/// The scale of a decimal stored in an integer column (0 for other columns).
fn decimal_scale(descr: &ColumnDescPtr) -> i32 {
    match descr.logical_type_ref() {
        Some(LogicalType::Decimal(decimal)) => decimal.scale,
        _ => 0,
    }
}

/// The Parquet type of a column, for messages.
fn type_name(descr: &ColumnDescPtr) -> String {
    match descr.logical_type_ref() {
        Some(LogicalType::String) => "strings".into(),
        Some(logical) => format!("{logical:?}").to_lowercase(),
        None => format!("{}", descr.physical_type()).to_lowercase(),
    }
}

/// The error for a file the parquet crate cannot read.
fn damaged(name: &str, err: &::parquet::errors::ParquetError) -> Error {
    if let Some(failed) = crate::store::chunks::storage_error(err) {
        return failed;
    }
    Error::data(
        Location::file(name),
        format!("not a readable Parquet file ({err}); is it complete?"),
    )
}
