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
//! The footer is decoded once: a caller that has decoded it already (an object's, read by
//! [`crate::store::chunks`] to learn where its column chunks lie) passes it in
//! ([`ParquetReader::with_metadata`]), and the row groups are opened from it.
//!
//! [`ParquetReader::for_each_batch`] works with several threads: each decoding worker owns
//! some of the columns (balanced by their compressed bytes) and decodes them a batch's rows at
//! a time, over every row group in order, into bounded queues; scoring workers take turns
//! taking the next batch (one piece of each column), put its rows together and score it (the
//! caller's function), and the calling thread only hands the results, in batch order, to the
//! caller's writer. Batches are cut exactly as [`ParquetReader::read_batch`] cuts them (at
//! most a batch, within one row group), and a piece is decoded the same way on any thread, so
//! the batches, their row problems and the first error are the same for any number of
//! threads, and memory stays at a few batches per column and per scoring worker, not a row
//! group.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::ops::Range;
use std::sync::{mpsc, Arc, Mutex, PoisonError};

use ::parquet::basic::{LogicalType, Type as PhysicalType};
use ::parquet::column::reader::ColumnReader;
use ::parquet::data_type::{ByteArray, FixedLenByteArray};
use ::parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use ::parquet::file::properties::{ReaderProperties, ReaderPropertiesPtr};
use ::parquet::file::reader::{ChunkReader, RowGroupReader};
use ::parquet::file::serialized_reader::SerializedRowGroupReader;
use ::parquet::schema::types::{ColumnDescPtr, TypePtr};

use crate::error::{Error, Location, Result};
use crate::read::batch::{Batch, Ids};
use crate::read::names::{missing_columns, unknown_id_columns};
use crate::read::shard::Shard;
use crate::store::source::Chunks;

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
    file: Source<R>,
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

/// A Parquet file's bytes and its decoded footer.
struct Source<R> {
    chunks: Arc<R>,
    metadata: Arc<ParquetMetaData>,
    properties: ReaderPropertiesPtr,
}

impl<R: ChunkReader + 'static> Source<R> {
    /// The column readers of row group `group` for the file's columns `columns`.
    fn column_readers(
        &self,
        group: usize,
        columns: impl Iterator<Item = usize>,
    ) -> ::parquet::errors::Result<Vec<ColumnReader>> {
        let row_group = SerializedRowGroupReader::new(
            Arc::clone(&self.chunks),
            self.metadata.row_group(group),
            self.metadata.page_index_for_row_group(group),
            Arc::clone(&self.properties),
        )?;
        columns.map(|c| row_group.get_column_reader(c)).collect()
    }
}

/// One column's values for a batch's rows.
#[derive(Default)]
struct Piece {
    /// A feature's values, NaN for a null (`defs` then tells which).
    numbers: Vec<f64>,
    /// Whether every one of `numbers` is finite: told by the worker that decoded them, while
    /// they are in its cache, so that putting the rows together reads them once.
    finite: bool,
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
    let chunks = Chunks::open(path)?;
    match chunks.metadata() {
        Some(metadata) => Ok(ParquetReader::with_metadata(path, chunks, metadata)),
        None => ParquetReader::new(path, chunks),
    }
}

/// The most batches each column's worker may decode ahead of the batch being put together.
const PIECES_AHEAD: usize = 4;

/// The rows put together at a time, column by column: a block of 13 features is 6.5 KiB, well
/// within a first-level cache.
const ASSEMBLY_ROWS: usize = 64;

/// The bytes of pieces each column may have queued: large batches queue fewer of them, so
/// memory stays within budget whatever `--batch-rows` asks for.
const QUEUED_BYTES_PER_COLUMN: usize = 1 << 20;

/// The rows set aside from a batch: each row's problem and its values' text.
pub type Rejects = Vec<(ParquetProblem, String)>;

impl<R: ChunkReader + 'static> ParquetReader<R> {
    /// Reads the footer of `source` (named `name` in messages).
    pub fn new(name: &str, source: R) -> Result<ParquetReader<R>> {
        let metadata = ParquetMetaDataReader::new()
            .parse_and_finish(&source)
            .map_err(|e| damaged(name, &e))?;
        Ok(ParquetReader::with_metadata(
            name,
            source,
            Arc::new(metadata),
        ))
    }

    /// A reader of `source` (named `name` in messages) whose footer was decoded already, as
    /// `metadata`.
    pub fn with_metadata(
        name: &str,
        source: R,
        metadata: Arc<ParquetMetaData>,
    ) -> ParquetReader<R> {
        let groups = 0..metadata.num_row_groups();
        let file = Source {
            chunks: Arc::new(source),
            metadata,
            properties: Arc::new(ReaderProperties::builder().build()),
        };
        ParquetReader {
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
        }
    }

    /// The names of the file's columns.
    pub fn column_names(&self) -> Vec<String> {
        let schema = self.file.metadata.file_metadata().schema_descr();
        schema.columns().iter().map(|c| c.path().string()).collect()
    }

    /// Chooses the numeric columns to read (`what` names them in messages: "feature") and the
    /// id columns. A numeric column the file lacks is a data error, as in a CSV; an id column
    /// it lacks, a usage error, as in a CSV.
    pub fn select(&mut self, names: &[String], what: &str, ids: &[String]) -> Result<()> {
        let all = self.column_names();
        let schema = self.file.metadata.file_metadata().schema_descr_ptr();
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
            return Err(Error::data(
                Location::file(&self.name),
                missing_columns(what, &missing, &all),
            ));
        }
        if ids.iter().any(|n| find(n).is_none()) {
            return Err(unknown_id_columns(&self.name, &all, ids));
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
        let groups = self.file.metadata.num_row_groups() as u64;
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
        self.shared().new_ids()
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
        let assembled = self
            .shared()
            .assemble_at(&pieces, n, self.rows_before, batch, rejects);
        self.pieces = pieces;
        self.kept = assembled?;
        self.rows_before += n as u64;
        self.current = Some((readers, left - n));
        Ok(n)
    }

    /// Reads every batch (this reader's row groups, from where it stands, at most
    /// `batch_rows` rows each) and scores each with `score` (given its rows' numbers in the
    /// file and, when `skip`, the rows set aside; without `skip` a row problem is an error),
    /// then hands the results to `write` in batch order. `work` makes each scoring thread's
    /// own state. With `threads` above 1, that many workers decode the columns side by side
    /// and as many score the batches, while this thread only calls `write`; the batches, and
    /// so the results, are the same as [`ParquetReader::read_batch`]'s.
    pub fn for_each_batch<W, T: Send>(
        &mut self,
        threads: usize,
        batch_rows: usize,
        skip: bool,
        work: impl Fn() -> W + Sync,
        score: impl Fn(&mut W, &Batch, &[u64], Rejects) -> Result<T> + Sync,
        mut write: impl FnMut(T) -> Result<()>,
    ) -> Result<()> {
        let mut batch = Batch::new(batch_rows, self.features.len());
        batch.ids = self.new_ids();
        let columns = self.features.len() + self.ids.len();
        if threads <= 1 || columns <= 1 || self.current.is_some() {
            let mut work = work();
            let mut rejects = Rejects::new();
            loop {
                if self.read_batch(&mut batch, skip.then_some(&mut rejects))? == 0 {
                    return Ok(());
                }
                let rejects = std::mem::take(&mut rejects);
                write(score(&mut work, &batch, &self.kept, rejects)?)?;
            }
        }
        let owners = self.share_columns(threads.min(columns));
        let capacity = batch.capacity();
        drop(batch);
        // A row of a piece: its value and its definition level.
        let piece_bytes = capacity * (std::mem::size_of::<f64>() + std::mem::size_of::<i16>());
        let ahead = (QUEUED_BYTES_PER_COLUMN / piece_bytes.max(1)).clamp(1, PIECES_AHEAD);
        // Batches taken but not yet written: scoring workers wait rather than pile up results
        // behind a batch still being scored.
        let window = 2 * threads;
        let groups = self.groups.clone();
        let group_rows: Vec<usize> = groups.clone().map(|g| self.group_rows(g)).collect();
        let end = self.rows_before + group_rows.iter().map(|&n| n as u64).sum::<u64>();
        let cuts = Cuts {
            group_rows: group_rows.into_iter(),
            left: 0,
            rows_before: self.rows_before,
            capacity,
        };
        let shared = self.shared();
        let (shared, work, score) = (&shared, &work, &score);
        let (credit_tx, credits) = mpsc::channel::<()>();
        for _ in 0..window {
            credit_tx.send(()).expect("the receiver is in this scope");
        }
        // The decoded pieces' queues are put in once made, in the scope.
        let intake = Mutex::new(Intake {
            cuts,
            next_seq: 0,
            full: None,
            credits,
        });
        let intake = &intake;
        std::thread::scope(|scope| -> Result<()> {
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
            intake.lock().unwrap_or_else(PoisonError::into_inner).full = Some(full);
            let (done_tx, done_rx) = mpsc::sync_channel::<(u64, Result<T>)>(window);
            for _ in 0..threads {
                let (done_tx, free) = (done_tx.clone(), free.clone());
                scope.spawn(move || {
                    shared.score_batches(intake, &free, capacity, skip, work, score, done_tx)
                });
            }
            drop((done_tx, free));
            // Owned by this closure, so an early return drops them before the scope joins the
            // threads: the scoring workers' sends and waits fail, they stop the intake, and
            // the decoding workers' sends fail in turn.
            let (done_rx, credit_tx) = (done_rx, credit_tx);
            let mut waiting = BTreeMap::new();
            let mut next = 0u64;
            for (seq, result) in &done_rx {
                waiting.insert(seq, result);
                while let Some(result) = waiting.remove(&next) {
                    write(result?)?;
                    next += 1;
                    // A scoring worker that has finished takes no more credits.
                    let _ = credit_tx.send(());
                }
            }
            Ok(())
        })?;
        self.rows_before = end;
        self.groups = self.groups.end..self.groups.end;
        Ok(())
    }

    /// Gives each of `workers` workers some of the selected columns: the costliest column (by
    /// compressed bytes in this reader's row groups) first, each to the least loaded worker.
    /// Returns each column's worker.
    fn share_columns(&self, workers: usize) -> Vec<usize> {
        let metadata = &self.file.metadata;
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
}

/// What the workers share: the file and the selected columns.
struct Shared<'a, R: ChunkReader + 'static> {
    name: &'a str,
    file: &'a Source<R>,
    features: &'a [Column],
    ids: &'a [Column],
}

/// A batch's rows: the file's rows before it, and how many.
#[derive(Debug, Clone, Copy)]
struct Cut {
    rows_before: u64,
    rows: usize,
}

/// The batches of a run of row groups, cut as [`ParquetReader::read_batch`] cuts them: at
/// most `capacity` rows, within one row group.
struct Cuts {
    group_rows: std::vec::IntoIter<usize>,
    /// Rows of the current row group not yet cut.
    left: usize,
    rows_before: u64,
    capacity: usize,
}

impl Iterator for Cuts {
    type Item = Cut;

    fn next(&mut self) -> Option<Cut> {
        while self.left == 0 {
            self.left = self.group_rows.next()?;
        }
        let cut = Cut {
            rows_before: self.rows_before,
            rows: self.left.min(self.capacity),
        };
        self.left -= cut.rows;
        self.rows_before += cut.rows as u64;
        Some(cut)
    }
}

/// Where the scoring workers take batches from, one at a time and in order.
struct Intake {
    cuts: Cuts,
    next_seq: u64,
    /// Each column's decoded pieces, in order; `None` once the run has stopped, which ends
    /// the decoding workers (their sends fail).
    full: Option<Vec<mpsc::Receiver<Result<Piece>>>>,
    /// One credit per batch the writer has room for.
    credits: mpsc::Receiver<()>,
}

impl<R: ChunkReader + 'static> Shared<'_, R> {
    fn group_rows(&self, group: usize) -> usize {
        self.file.metadata.row_group(group).num_rows().max(0) as usize
    }

    /// A batch's empty ids for the id columns (pushed in the order asked for).
    fn new_ids(&self) -> Ids {
        Ids::new((0..self.ids.len()).collect())
    }

    /// A scoring worker: takes the next batch's pieces from `intake`, puts the rows together
    /// into its own batch, scores them and sends the result with the batch's number to
    /// `done`, until the batches or the run end. Used pieces go back to their decoding
    /// workers through `free`.
    #[allow(clippy::too_many_arguments)]
    fn score_batches<W, T>(
        &self,
        intake: &Mutex<Intake>,
        free: &[mpsc::Sender<Piece>],
        capacity: usize,
        skip: bool,
        work: &impl Fn() -> W,
        score: &impl Fn(&mut W, &Batch, &[u64], Rejects) -> Result<T>,
        done: mpsc::SyncSender<(u64, Result<T>)>,
    ) {
        let mut batch = Batch::new(capacity, self.features.len());
        batch.ids = self.new_ids();
        let mut work = work();
        let mut pieces = Vec::with_capacity(free.len());
        while let Some((seq, cut, received)) = self.take(intake, &mut pieces) {
            let result = received.and_then(|()| {
                let mut rejects = Rejects::new();
                let kept = self.assemble_at(
                    &pieces,
                    cut.rows,
                    cut.rows_before,
                    &mut batch,
                    skip.then_some(&mut rejects),
                )?;
                score(&mut work, &batch, &kept, rejects)
            });
            for (piece, back) in pieces.drain(..).zip(free) {
                // A decoding worker that has finished takes no more pieces back.
                let _ = back.send(piece);
            }
            if done.send((seq, result)).is_err() {
                break;
            }
        }
        // Whether the batches are over or the writer has stopped, no batch is to be taken
        // any more: the decoding workers may stop too.
        intake.lock().unwrap_or_else(PoisonError::into_inner).full = None;
    }

    /// Takes the next batch from `intake`, once the writer has room for it: its number, its
    /// rows, and its pieces in `pieces` (or the error a column's decoding stopped with, which
    /// stops the intake). `None` when the batches are over or the run has stopped.
    fn take(
        &self,
        intake: &Mutex<Intake>,
        pieces: &mut Vec<Piece>,
    ) -> Option<(u64, Cut, Result<()>)> {
        let mut guard = intake.lock().unwrap_or_else(PoisonError::into_inner);
        let intake = &mut *guard;
        intake.full.as_ref()?;
        // Waiting holds the intake, which only workers about to wait would want.
        intake.credits.recv().ok()?;
        let cut = intake.cuts.next()?;
        let seq = intake.next_seq;
        intake.next_seq += 1;
        pieces.clear();
        for queue in intake.full.as_ref()? {
            // A decoding worker that stops early has sent its error first.
            let failed = match queue.recv() {
                Ok(Ok(piece)) => {
                    pieces.push(piece);
                    continue;
                }
                Ok(Err(e)) => e,
                Err(_) => Error::data(
                    Location::file(self.name),
                    "a column's decoding stopped without an error; the file may be damaged",
                ),
            };
            intake.full = None;
            return Some((seq, cut, Err(failed)));
        }
        Some((seq, cut, Ok(())))
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
            // Column to rows, a block of rows at a time: the block's rows stay in the first
            // level cache while each column fills its place in them (a column at a time over
            // the whole batch, at a stride of a row, cost twice the time).
            for (block, rows) in x[..n * width].chunks_mut(ASSEMBLY_ROWS * width).enumerate() {
                let at = block * ASSEMBLY_ROWS;
                for (slot, piece) in pieces[..width].iter().enumerate() {
                    let numbers = &piece.numbers[at..at + rows.len() / width];
                    for (row, &value) in rows.chunks_exact_mut(width).zip(numbers) {
                        row[slot] = value;
                    }
                }
            }
            for (column, piece) in self.features.iter().zip(pieces) {
                let numbers = &piece.numbers[..n];
                if piece.finite {
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
                    return Err(problem.into_error(self.name));
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
        let columns = slots.iter().map(|&slot| self.column(slot).index);
        self.file
            .column_readers(group, columns)
            .map_err(|e| damaged(self.name, &e))
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
        true => {
            read_numbers(
                name,
                column,
                reader,
                n,
                &mut piece.defs,
                values,
                &mut piece.numbers,
            )?;
            // Without stopping at the first that is not, so that the compiler checks a vector
            // of values at a time.
            piece.finite = piece
                .numbers
                .chunks(64)
                .all(|c| c.iter().fold(true, |finite, v| finite & v.is_finite()));
            Ok(())
        }
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
        ColumnReader::DoubleColumnReader(r) => {
            // Straight into the piece, without the copy the other types' conversion makes.
            numbers.reserve(n);
            let (records, present, _) = r
                .read_records(n, Some(&mut *defs), None, numbers)
                .map_err(|e| damaged(name, &e))?;
            if records != n || numbers.len() < present {
                return Err(short());
            }
            numbers.truncate(present);
            if present < n {
                // Only the rows that have a value were read: spread them, NaN for the nulls.
                values.f64s.clear();
                values.f64s.append(numbers);
                let mut it = values.f64s.iter();
                for r in 0..n {
                    match defs.get(r) {
                        Some(&d) if d < max_def => numbers.push(f64::NAN),
                        _ => numbers.push(*it.next().ok_or_else(short)?),
                    }
                }
            }
        }
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
