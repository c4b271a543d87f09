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
//!
//! [`ParquetReader::for_each_batch`] decodes with several threads: each worker owns some of
//! the columns (balanced by their compressed bytes) and decodes them a batch's rows at a time,
//! over every row group in order, into bounded queues; the calling thread takes one piece of
//! each column per batch and puts the rows together. Batches are cut exactly as
//! [`ParquetReader::read_batch`] cuts them (at most a batch, within one row group), and a
//! piece is decoded the same way on any thread, so the batches, their row problems and the
//! first error are the same for any number of threads, and memory stays at a few batches per
//! column, not a row group.

use std::fs::File;
use std::io::Read;
use std::ops::Range;
use std::sync::mpsc;

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
    values: Values,
    /// The row numbers (from 1) of the last batch's rows.
    kept: Vec<u64>,
    /// Each selected column's piece of the batch being read (features, then ids).
    pieces: Vec<Piece>,
}

/// One column's values for a batch's rows.
#[derive(Default)]
struct Piece {
    /// A feature's values, NaN for a null (`defs` then tells which).
    numbers: Vec<f64>,
    /// The definition levels of the rows.
    defs: Vec<i16>,
    /// An id column's values.
    cells: Vec<Cell>,
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

/// The most batches each column's worker may decode ahead of the batch being put together.
const PIECES_AHEAD: usize = 4;

/// The bytes of pieces each column may have queued: large batches queue fewer of them, so
/// memory stays within budget whatever `--batch-rows` asks for.
const QUEUED_BYTES_PER_COLUMN: usize = 1 << 20;

/// The rows set aside from a batch: each row's problem and its values' text.
pub type Rejects = Vec<(ParquetProblem, String)>;

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
            values: Values::default(),
            kept: Vec::new(),
            pieces: Vec::new(),
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
        self.shared().group_rows(group)
    }

    /// What decoding workers share.
    fn shared(&self) -> Shared<'_, R> {
        Shared {
            name: &self.name,
            file: &self.file,
            features: &self.features,
            ids: &self.ids,
        }
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
        rejects: Option<&mut Rejects>,
    ) -> Result<usize> {
        let (mut readers, left) = loop {
            match self.current.take() {
                Some((readers, left)) if left > 0 => break (readers, left),
                _ => {
                    let Some(group) = self.groups.next() else {
                        batch.clear();
                        return Ok(0);
                    };
                    let columns: Vec<usize> = (0..self.features.len() + self.ids.len()).collect();
                    let readers = self.shared().column_readers(group, &columns)?;
                    self.current = Some((readers, self.group_rows(group)));
                }
            }
        };
        let n = left.min(batch.capacity());
        let mut pieces = std::mem::take(&mut self.pieces);
        pieces.resize_with(readers.len(), Piece::default);
        let width = self.features.len();
        let columns = self.features.iter().chain(&self.ids);
        for (slot, (column, reader)) in columns.zip(&mut readers).enumerate() {
            let numeric = slot < width;
            decode_piece(
                &self.name,
                column,
                reader,
                n,
                numeric,
                &mut self.values,
                &mut pieces[slot],
            )?;
        }
        let assembled = self.assemble(&pieces, n, batch, rejects);
        self.pieces = pieces;
        assembled?;
        self.current = Some((readers, left - n));
        Ok(n)
    }

    /// Reads every batch (this reader's row groups, from where it stands) into `batch` and
    /// hands each to `each` with its rows' numbers in the file and, when `skip`, the rows set
    /// aside (without `skip` a row problem is an error). With `threads` above 1, that many
    /// workers decode the columns side by side while this thread puts the batches together and
    /// calls `each`; the batches are the same as [`ParquetReader::read_batch`]'s.
    pub fn for_each_batch(
        &mut self,
        threads: usize,
        batch: &mut Batch,
        skip: bool,
        mut each: impl FnMut(&Batch, &[u64], &mut Rejects) -> Result<()>,
    ) -> Result<()> {
        let mut rejects = Rejects::new();
        let columns = self.features.len() + self.ids.len();
        if threads <= 1 || columns <= 1 || self.current.is_some() {
            loop {
                rejects.clear();
                if self.read_batch(batch, skip.then_some(&mut rejects))? == 0 {
                    return Ok(());
                }
                each(batch, &self.kept, &mut rejects)?;
            }
        }
        let owners = self.share_columns(threads.min(columns));
        let capacity = batch.capacity();
        // A row of a piece: its value and its definition level.
        let piece_bytes = capacity * (std::mem::size_of::<f64>() + std::mem::size_of::<i16>());
        let ahead = (QUEUED_BYTES_PER_COLUMN / piece_bytes.max(1)).clamp(1, PIECES_AHEAD);
        let groups = self.groups.clone();
        let this = &*self;
        let shared = self.shared();
        let shared = &shared;
        let (pieces, ends) = std::thread::scope(|scope| -> Result<(Vec<Piece>, u64)> {
            // Each column's decoded pieces, in order, and its used pieces back for reuse.
            let (mut full, mut free) = (Vec::new(), Vec::new());
            let mut worker_ends: Vec<Vec<_>> = (0..owners.len()).map(|_| Vec::new()).collect();
            for (column, owner) in owners.iter().enumerate() {
                let (full_tx, full_rx) = mpsc::sync_channel::<Result<Piece>>(ahead);
                let (free_tx, free_rx) = mpsc::channel::<Piece>();
                full.push(full_rx);
                free.push(free_tx);
                worker_ends[*owner].push((column, full_tx, free_rx));
            }
            for ends in worker_ends.into_iter().filter(|e| !e.is_empty()) {
                let groups = groups.clone();
                scope.spawn(move || shared.decode_columns(groups, capacity, ends));
            }
            let mut pieces: Vec<Piece> = Vec::with_capacity(columns);
            let mut rows_before = this.rows_before;
            for group in groups {
                let mut left = this.group_rows(group);
                while left > 0 {
                    let n = left.min(capacity);
                    pieces.clear();
                    for queue in &full {
                        // A worker that stops early has sent its error first.
                        let piece = queue.recv().map_err(|_| {
                            Error::data(
                                Location::file(&this.name),
                                "a column's decoding stopped without an error; the file may be damaged",
                            )
                        })??;
                        pieces.push(piece);
                    }
                    rejects.clear();
                    let kept = this.assemble_at(
                        &pieces,
                        n,
                        rows_before,
                        batch,
                        skip.then_some(&mut rejects),
                    )?;
                    each(batch, &kept, &mut rejects)?;
                    for (piece, back) in pieces.drain(..).zip(&free) {
                        // A worker that has finished takes no more pieces back.
                        let _ = back.send(piece);
                    }
                    rows_before += n as u64;
                    left -= n;
                }
            }
            Ok((pieces, rows_before))
        })?;
        self.pieces = pieces;
        self.rows_before = ends;
        self.groups = self.groups.end..self.groups.end;
        Ok(())
    }

    /// Gives each of `workers` workers some of the selected columns: the costliest column (by
    /// compressed bytes in this reader's row groups) first, each to the least loaded worker.
    /// Returns each column's worker.
    fn share_columns(&self, workers: usize) -> Vec<usize> {
        let metadata = self.file.metadata();
        let mut costs: Vec<(i64, usize)> = self
            .features
            .iter()
            .chain(&self.ids)
            .enumerate()
            .map(|(slot, column)| {
                let bytes = self
                    .groups
                    .clone()
                    .map(|g| metadata.row_group(g).column(column.index).compressed_size())
                    .sum::<i64>();
                (bytes, slot)
            })
            .collect();
        costs.sort_by_key(|&(bytes, slot)| (std::cmp::Reverse(bytes), slot));
        let mut load = vec![0i64; workers.max(1)];
        let mut owners = vec![0; costs.len()];
        for (bytes, slot) in costs {
            let least = (0..load.len())
                .min_by_key(|&w| (load[w], w))
                .expect("there is at least one worker");
            load[least] += bytes.max(1);
            owners[slot] = least;
        }
        owners
    }

    /// Puts the next `n` rows together from each column's piece into `batch`, and moves on.
    fn assemble(
        &mut self,
        pieces: &[Piece],
        n: usize,
        batch: &mut Batch,
        rejects: Option<&mut Rejects>,
    ) -> Result<()> {
        self.kept = self.assemble_at(pieces, n, self.rows_before, batch, rejects)?;
        self.rows_before += n as u64;
        Ok(())
    }

    /// Puts `n` rows together from each column's piece into `batch`, the first being the
    /// file's row `rows_before + 1`; returns the kept rows' numbers. A row with a problem is an
    /// error, or, with `rejects`, set aside there and the rest moved up.
    fn assemble_at(
        &self,
        pieces: &[Piece],
        n: usize,
        rows_before: u64,
        batch: &mut Batch,
        mut rejects: Option<&mut Rejects>,
    ) -> Result<Vec<u64>> {
        batch.clear();
        if batch.ids.per_row() != self.ids.len().max(1) {
            batch.ids = self.new_ids();
        }
        let width = self.features.len();
        let mut bad: Vec<Option<ParquetProblem>> = Vec::new();
        {
            let x = batch
                .x
                .as_slice_mut()
                .expect("a batch is in standard layout");
            for (slot, (column, piece)) in self.features.iter().zip(pieces).enumerate() {
                let numbers = &piece.numbers[..n];
                for (row, &value) in x.chunks_exact_mut(width).zip(numbers) {
                    row[slot] = value;
                }
                if numbers.iter().all(|v| v.is_finite()) {
                    continue;
                }
                bad.resize(n, None);
                for (r, &value) in numbers.iter().enumerate() {
                    if value.is_finite() {
                        continue;
                    }
                    // A null is read as NaN, which Parquet's numbers otherwise may hold too.
                    let max_def = column.descr.max_def_level();
                    let null = max_def > 0 && piece.defs.get(r).is_some_and(|&d| d < max_def);
                    bad[r].get_or_insert_with(|| ParquetProblem {
                        row: rows_before + r as u64 + 1,
                        column: column.name.clone(),
                        found: (!null).then(|| format!("{value}")),
                    });
                }
            }
        }
        let id_cells = &pieces[width..];
        if bad.is_empty() && id_cells.is_empty() {
            batch.rows = n;
            return Ok((rows_before + 1..=rows_before + n as u64).collect());
        }
        bad.resize(n, None);
        // Rows with a problem are an error, or are set aside and the rest moved up.
        let mut kept_rows = Vec::with_capacity(n);
        let mut kept = 0;
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
            for piece in id_cells {
                match &piece.cells[r] {
                    Cell::Text(text) => batch.ids.push(text),
                    Cell::Null => batch.ids.push(b""),
                }
            }
            kept_rows.push(rows_before + r as u64 + 1);
            kept += 1;
        }
        batch.rows = kept;
        Ok(kept_rows)
    }
}

/// What the decoding workers share: the file and the selected columns.
struct Shared<'a, R: ChunkReader + 'static> {
    name: &'a str,
    file: &'a SerializedFileReader<R>,
    features: &'a [Column],
    ids: &'a [Column],
}

impl<R: ChunkReader + 'static> Shared<'_, R> {
    fn group_rows(&self, group: usize) -> usize {
        self.file.metadata().row_group(group).num_rows().max(0) as usize
    }

    /// A worker: decodes its columns (`ends`: each column's slot, where its pieces go, and
    /// where used pieces come back) over `groups`, a batch of `capacity` rows at a time. It
    /// stops at the first error, after sending it in place of the piece it could not decode,
    /// or when the batches are no longer taken.
    fn decode_columns(
        &self,
        groups: Range<usize>,
        capacity: usize,
        ends: Vec<(
            usize,
            mpsc::SyncSender<Result<Piece>>,
            mpsc::Receiver<Piece>,
        )>,
    ) {
        let width = self.features.len();
        let slots: Vec<usize> = ends.iter().map(|(slot, _, _)| *slot).collect();
        let mut values = Values::default();
        for group in groups {
            let mut left = self.group_rows(group);
            if left == 0 {
                continue;
            }
            let mut readers = match self.column_readers(group, &slots) {
                Ok(readers) => readers,
                Err(e) => {
                    let _ = ends[0].1.send(Err(e));
                    return;
                }
            };
            while left > 0 {
                let n = left.min(capacity);
                for ((slot, full, free), reader) in ends.iter().zip(&mut readers) {
                    let mut piece = free.try_recv().unwrap_or_default();
                    let column = self.column(*slot);
                    let decoded = decode_piece(
                        self.name,
                        column,
                        reader,
                        n,
                        *slot < width,
                        &mut values,
                        &mut piece,
                    );
                    let failed = decoded.is_err();
                    if full.send(decoded.map(|()| piece)).is_err() || failed {
                        return;
                    }
                }
                left -= n;
            }
        }
    }

    /// The selected column in `slot` (features, then ids).
    fn column(&self, slot: usize) -> &Column {
        match slot.checked_sub(self.features.len()) {
            None => &self.features[slot],
            Some(id) => &self.ids[id],
        }
    }

    /// The column readers of row group `group` for the selected columns in `slots`.
    fn column_readers(&self, group: usize, slots: &[usize]) -> Result<Vec<ColumnReader>> {
        let row_group = self
            .file
            .get_row_group(group)
            .map_err(|e| damaged(self.name, &e))?;
        slots
            .iter()
            .map(|&slot| {
                row_group
                    .get_column_reader(self.column(slot).index)
                    .map_err(|e| damaged(self.name, &e))
            })
            .collect()
    }
}

/// Decodes the next `n` values of `column` into `piece`: numbers for a feature (`numeric`),
/// cells (text) for an id.
fn decode_piece(
    name: &str,
    column: &Column,
    reader: &mut ColumnReader,
    n: usize,
    numeric: bool,
    values: &mut Values,
    piece: &mut Piece,
) -> Result<()> {
    match numeric {
        true => read_numbers(
            name,
            column,
            reader,
            n,
            &mut piece.defs,
            values,
            &mut piece.numbers,
        ),
        false => {
            piece.cells = read_column(name, column, reader, n, &mut piece.defs, values)?;
            Ok(())
        }
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
