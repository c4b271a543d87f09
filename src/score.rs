//! Scoring: the data path of the default command, and the one vectorized kernel.
//!
//! Worker threads take turns cutting the next block of whole records from the input (the
//! reading worker's own cache then holds the bytes it parses), parse each block into a reused
//! `Array2` batch, score it with one matrix-vector product per batch and encode the
//! predictions; this thread writes the blocks' bytes in input order. Memory stays
//! bounded by the blocks in flight, whatever the input size, and the output is the same bytes
//! for every thread count, batch size and block size.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::{mpsc, Condvar, Mutex};
use std::time::Instant;

use ndarray::{s, Array1, ArrayView2, ArrayViewMut1};

use crate::batch::{
    display_name, fill_batch, open_input, record_too_long, Batch, Cursor, Ids, Reject, RowError,
    RowProblem, Selection,
};
use crate::block::{Block, BlockSource, CutError, BLOCK_SIZE};
use crate::cli::{OnError, ScoreArgs};
use crate::error::{Error, Location, Outcome, Result};
use crate::log::{Logger, Progress};
use crate::model::ModelFile;
use crate::output::{csv_field, Encoder, Format, Sink};
use crate::paths::{is_finished_output, Paths};
use crate::schema::Header;
use crate::shard::{expand_output, newlines_before, Shard, ShardReader};

/// Predicts every row of `x` into `out`: one matrix-vector product, then the intercept, in the
/// order scikit-learn's `X @ coef_ + intercept_` uses.
pub fn predict_into(
    x: ArrayView2<f64>,
    weights: &Array1<f64>,
    intercept: f64,
    mut out: ArrayViewMut1<f64>,
) {
    ndarray::linalg::general_mat_vec_mul(1.0, &x, weights, 0.0, &mut out);
    out += intercept;
}

/// The threads to use when `--threads` is not given: the CPUs this process may use, which
/// honours a cgroup CPU quota such as a Pod's `limits.cpu`.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Everything a worker needs to turn a block into output bytes.
struct Scorer {
    selection: Selection,
    weights: Array1<f64>,
    intercept: f64,
    encoder: Encoder,
    batch_rows: usize,
    skip: bool,
}

/// A worker's reused buffers.
struct Work {
    cursor: Cursor,
    batch: Batch,
    predictions: Array1<f64>,
}

/// What became of one block.
struct Done {
    seq: u64,
    result: std::result::Result<Scored, Failure>,
}

/// A scored block: its encoded output and what it held.
struct Scored {
    out: Vec<u8>,
    rejects: Vec<Reject>,
    rows: u64,
    newlines: u64,
    bytes: u64,
}

/// Why a block could not be scored.
enum Failure {
    Row(RowError),
    Cut(CutError),
}

impl Scorer {
    fn work(&self) -> Work {
        Work {
            cursor: Cursor::default(),
            batch: Batch::new(self.batch_rows, self.selection.width()),
            predictions: Array1::zeros(self.batch_rows.max(1)),
        }
    }

    fn score_block(
        &self,
        block: &Block,
        work: &mut Work,
        mut out: Vec<u8>,
    ) -> std::result::Result<Scored, Failure> {
        out.clear();
        work.cursor.reset();
        let mut rows = 0u64;
        let mut rejects = Vec::new();
        loop {
            work.batch.clear();
            let batch_start = (work.cursor.pos, work.cursor.newlines);
            let set_aside = if self.skip { Some(&mut rejects) } else { None };
            fill_batch(
                &self.selection,
                block,
                &mut work.cursor,
                &mut work.batch,
                set_aside,
            )
            .map_err(Failure::Row)?;
            let n = work.batch.rows;
            if n == 0 {
                break;
            }
            let mut predictions = work.predictions.slice_mut(s![..n]);
            predict_into(
                work.batch.x.slice(s![..n, ..]),
                &self.weights,
                self.intercept,
                predictions.view_mut(),
            );
            let predictions = predictions
                .into_slice()
                .expect("a slice of an Array1 is contiguous");
            let ids = self.selection.has_id().then_some(&work.batch.ids);
            match predictions.iter().position(|p| !p.is_finite()) {
                None => {
                    self.encoder.encode(predictions, ids, &mut out);
                    rows += n as u64;
                }
                // Only the first is reported: the batch is read again up to it, no further.
                Some(first) if !self.skip => {
                    let mut overflow = self.overflows(block, batch_start, &predictions[..=first]);
                    return Err(Failure::Row(overflow.remove(0).error));
                }
                Some(_) => {
                    rejects.extend(self.overflows(block, batch_start, predictions));
                    // The batch's unreadable rows were set aside as it was read: keep line order.
                    rejects.sort_by_key(|r| r.error.line_in_block);
                    let (kept, kept_ids) = finite_rows(predictions, ids);
                    self.encoder.encode(&kept, kept_ids.as_ref(), &mut out);
                    rows += kept.len() as u64;
                }
            }
            if work.cursor.pos >= block.data.len() {
                break;
            }
        }
        Ok(Scored {
            out,
            rejects,
            rows,
            newlines: work.cursor.newlines,
            bytes: block.data.len() as u64,
        })
    }

    /// The rows of the batch read from `start` (byte position and line breaks before it) in
    /// `block` whose prediction is not finite, as rejects with their line and text. Rare, so
    /// the rows are found again by reading the batch a second time, one row at a time, rather
    /// than by recording every row's place as it is read.
    fn overflows(&self, block: &Block, start: (usize, u64), predictions: &[f64]) -> Vec<Reject> {
        let mut cursor = Cursor::at(start.0, start.1);
        let mut one = Batch::new(1, self.selection.width());
        let mut set_aside = Vec::new();
        let mut overflows = Vec::new();
        for &p in predictions {
            one.clear();
            let read = fill_batch(
                &self.selection,
                block,
                &mut cursor,
                &mut one,
                Some(&mut set_aside),
            );
            assert!(
                read.is_ok() && one.rows == 1,
                "the batch was read once already"
            );
            if p.is_finite() {
                continue;
            }
            let (line_in_block, text) = cursor.last_row(&block.data);
            overflows.push(Reject {
                error: RowError {
                    line_in_block,
                    problem: RowProblem::Overflow,
                },
                text: text.to_vec(),
            });
        }
        overflows
    }
}

/// The finite predictions of a batch, and their rows' ids when it has ids.
fn finite_rows(predictions: &[f64], ids: Option<&Ids>) -> (Vec<f64>, Option<Ids>) {
    let mut kept = Vec::with_capacity(predictions.len());
    let mut kept_ids = ids.map(|_| Ids::default());
    for (i, &p) in predictions
        .iter()
        .enumerate()
        .filter(|(_, p)| p.is_finite())
    {
        kept.push(p);
        if let (Some(kept_ids), Some(ids)) = (&mut kept_ids, ids) {
            kept_ids.push(ids.get(i));
        }
    }
    (kept, kept_ids)
}

/// What `--on-error skip` does with rejected rows.
pub struct RejectPolicy {
    /// The rejects file, or none to log each reject as a warning.
    pub sink: Option<Sink>,
    /// The logger for warnings.
    pub log: Logger,
    /// Fail when more than this many rows are rejected.
    pub max: Option<u64>,
    /// Rows rejected so far.
    pub count: u64,
}

/// Takes scored blocks in any order and writes them in input order.
struct Collector<'a> {
    sink: &'a mut Sink,
    selection: &'a Selection,
    progress: Progress,
    pending: BTreeMap<u64, std::result::Result<Scored, Failure>>,
    next: u64,
    /// For a shard: the file and offset whose preceding line breaks come before `lines_before`.
    origin: Option<(String, u64)>,
    /// Those line breaks, once counted.
    origin_lines: std::cell::Cell<Option<u64>>,
    /// Where rejected rows go, under `--on-error skip`.
    rejects: Option<&'a mut RejectPolicy>,
    lines_before: u64,
    rows: u64,
    bytes: u64,
    spare: Vec<Vec<u8>>,
}

impl Collector<'_> {
    fn accept(&mut self, done: Done) -> Result<()> {
        self.pending.insert(done.seq, done.result);
        while let Some(result) = self.pending.remove(&self.next) {
            let scored = result.map_err(|failure| self.failure(failure))?;
            for reject in scored.rejects {
                self.reject(reject)?;
            }
            self.sink.write(&scored.out)?;
            self.lines_before += scored.newlines;
            self.rows += scored.rows;
            self.bytes += scored.bytes;
            self.next += 1;
            self.progress.update(self.rows, self.bytes);
            self.spare.push(scored.out);
        }
        Ok(())
    }

    /// Line breaks before the current block, from the start of the file.
    fn absolute_lines_before(&self) -> Result<u64> {
        let origin = match &self.origin {
            None => 0,
            Some((file, offset)) => match self.origin_lines.get() {
                Some(lines) => lines,
                None => {
                    let lines = newlines_before(file, *offset)?;
                    self.origin_lines.set(Some(lines));
                    lines
                }
            },
        };
        Ok(origin + self.lines_before)
    }

    /// Records a rejected row, or fails once rejects are over budget.
    fn reject(&mut self, reject: Reject) -> Result<()> {
        let error = reject
            .error
            .into_error(self.selection, self.absolute_lines_before()?);
        let policy = self
            .rejects
            .as_mut()
            .expect("rows are set aside only under a reject policy");
        policy.count += 1;
        if let Some(max) = policy.max.filter(|&max| policy.count > max) {
            return Err(Error::data(
                Location::file(self.selection.path()),
                format!("more than {max} rows rejected (--max-errors {max}); the last: {error}"),
            ));
        }
        match &mut policy.sink {
            Some(sink) => {
                let (line, reason) = match &error {
                    Error::Data { location, message } => {
                        (location.line.unwrap_or(0), message.as_str())
                    }
                    _ => unreachable!("a row problem is a data error"),
                };
                let mut record = format!("{line},").into_bytes();
                record.extend(csv_field(reason.as_bytes()));
                record.push(b',');
                record.extend(csv_field(&reject.text));
                record.push(b'\n');
                sink.write(&record)
            }
            None => {
                policy.log.warn(&format!("rejected {error}"));
                Ok(())
            }
        }
    }

    fn failure(&self, failure: Failure) -> Error {
        let path = self.selection_path();
        match failure {
            Failure::Cut(CutError::Io(err)) => err,
            // Only these two need the line breaks before a shard, which cost a read of the file.
            Failure::Row(err) => self
                .absolute_lines_before()
                .map_or_else(|e| e, |lines| err.into_error(self.selection, lines)),
            Failure::Cut(CutError::RecordTooLong { quoted }) => self
                .absolute_lines_before()
                .map_or_else(|e| e, |lines| record_too_long(path, lines + 1, quoted)),
        }
    }

    fn selection_path(&self) -> &str {
        self.selection.path()
    }
}

/// How to score, apart from what and where.
#[derive(Debug, Clone)]
pub struct ScoreOptions {
    /// Output format.
    pub format: Format,
    /// Column copied next to each prediction.
    pub id_column: Option<String>,
    /// Rows per matrix-vector product.
    pub batch_rows: usize,
    /// Worker threads; 1 scores on the calling thread.
    pub threads: usize,
    /// Bytes per block handed to a worker.
    pub block_size: usize,
}

/// Where an input's line numbers start: known, or (for a shard) the line breaks before a
/// byte offset of the file, counted only if an error needs a line number.
#[derive(Debug, Clone)]
pub enum LineOrigin {
    /// This many line breaks come before the first block.
    Known(u64),
    /// The line breaks in `path` before byte `offset` come before the first block.
    Before {
        /// The file.
        path: String,
        /// Where the first block starts.
        offset: u64,
    },
}

/// The sharding options, checked: `None` when not sharding.
fn shard_of(args: &ScoreArgs) -> Result<Option<Shard>> {
    let Some(count) = args.shard_count else {
        if args.shard_index.is_some() {
            return Err(Error::Usage(
                "--shard-index needs --shard-count (or SHARD_COUNT) to say how many shards there are".into(),
            ));
        }
        return Ok(None);
    };
    let index = match args.shard_index {
        Some(index) => index,
        None => match std::env::var("JOB_COMPLETION_INDEX") {
            Ok(text) => text.trim().parse().map_err(|_| {
                Error::Usage(format!("JOB_COMPLETION_INDEX must be a whole number, got {text:?}"))
            })?,
            Err(_) => {
                return Err(Error::Usage(format!(
                    "--shard-count {count} needs --shard-index (or JOB_COMPLETION_INDEX, as an Indexed Job sets it)"
                )))
            }
        },
    };
    let shard = Shard::new(index, count)?;
    if args.data == "-" {
        return Err(Error::Usage(
            "sharding cuts a file by byte ranges: --data must be a file, not standard input".into(),
        ));
    }
    let paths = [
        ("--output", &args.output, "out/part-{index:05}.csv"),
        ("--rejects", &args.rejects, "out/rejects-{index:05}.csv"),
    ];
    for (flag, path, example) in paths {
        if let Some(path) = path.as_ref().filter(|p| count > 1 && !p.contains("{index")) {
            return Err(Error::Usage(format!(
                "{flag} {path} would be written by every shard: put {{index}} in it, such as {example}"
            )));
        }
    }
    Ok(Some(shard))
}

/// Runs the default command: scores `args.data` with `args.model` into the output.
pub fn score(args: &ScoreArgs, log: &Logger) -> Result<Outcome> {
    let started = Instant::now();
    let shard = shard_of(args)?;
    if args.on_error == OnError::Fail && (args.rejects.is_some() || args.max_errors.is_some()) {
        return Err(Error::Usage(
            "--rejects and --max-errors apply only with --on-error skip".into(),
        ));
    }
    // A shard writes its own files: `{index}` in their paths becomes its index.
    let for_shard = |flag: &str, path: &Option<String>| match (path, shard) {
        (Some(template), Some(shard)) => expand_output(flag, template, shard.index).map(Some),
        (path, _) => Ok(path.clone()),
    };
    let output = for_shard("--output", &args.output)?;
    let rejects = for_shard("--rejects", &args.rejects)?;
    // Before anything is opened: no output may be an input or another output.
    Paths::new()
        .input("--data", args.data.as_str())
        .input("--model", args.model.as_str())
        .output(
            "--output",
            output.as_deref(),
            "write the predictions elsewhere",
        )
        .output(
            "--rejects",
            rejects.as_deref(),
            "write the rejected rows elsewhere",
        )
        .check()?;
    if let (Some(shard), Some(output)) = (shard, &output) {
        if is_finished_output("--output", output)? && !args.overwrite {
            log.info(&format!(
                "Shard {} of {}: {output} exists and outputs appear only whole, so it is done; skipping (--overwrite redoes it)",
                shard.index, shard.count
            ));
            return Ok(Outcome::Success);
        }
    }
    log.info("Running inference...");
    log.info("Loading data...");
    let name = display_name(&args.data);
    let input = open_input(&args.data)?;
    let total_bytes = if args.data == "-" {
        None
    } else {
        std::fs::metadata(&args.data).ok().map(|m| m.len())
    };
    log.info(&format!("Loading model from: {}", args.model));
    let model = ModelFile::load(&args.model)?;
    let options = ScoreOptions {
        format: args.format,
        id_column: args.id_column.clone(),
        batch_rows: args.batch_rows as usize,
        threads: args.threads.map_or_else(default_threads, |n| n as usize),
        block_size: BLOCK_SIZE,
    };
    let mut sink = Sink::create(output.as_deref())?;
    let mut policy = match args.on_error {
        OnError::Fail => None,
        OnError::Skip => Some(RejectPolicy {
            sink: match &rejects {
                Some(path) => Some(Sink::create(Some(path))?),
                None => None,
            },
            log: *log,
            max: args.max_errors,
            count: 0,
        }),
    };
    if let Some(Some(sink)) = policy.as_mut().map(|p| p.sink.as_mut()) {
        sink.write(b"line,reason,record\n")?;
    }
    let rows = match shard {
        None => {
            let (source, raw) = BlockSource::new(name, input, options.block_size)?;
            log.info("Scoring observations...");
            let progress = log.progress(total_bytes);
            let origin = LineOrigin::Known(raw.newlines);
            score_source(
                name,
                source,
                raw.fields,
                origin,
                true,
                &model,
                &options,
                &mut sink,
                policy.as_mut(),
                progress,
            )?
        }
        Some(shard) => {
            let (_, raw) = BlockSource::new(name, input, options.block_size)?;
            let (reader, first) = ShardReader::open(&args.data, shard, raw.bytes)?;
            let source = BlockSource::headerless(name, reader, options.block_size);
            let (start, end) = shard.range(raw.bytes, total_bytes.unwrap_or(0));
            log.info(&format!(
                "Scoring observations... (shard {} of {}: the rows that start in bytes {start}..{end})",
                shard.index, shard.count
            ));
            let progress = log.progress(Some(end - start));
            let origin = LineOrigin::Before {
                path: args.data.clone(),
                offset: first,
            };
            let header = shard.index == 0;
            score_source(
                name,
                source,
                raw.fields,
                origin,
                header,
                &model,
                &options,
                &mut sink,
                policy.as_mut(),
                progress,
            )?
        }
    };
    sink.finish()?;
    let rejected = match policy {
        Some(policy) => {
            if let Some(rejects) = policy.sink {
                rejects.finish()?;
            }
            policy.count
        }
        None => 0,
    };
    log.summary(rows, started.elapsed(), name, output.as_deref());
    if rejected > 0 {
        let place = rejects
            .as_deref()
            .map_or(String::new(), |p| format!(", recorded in {p}"));
        log.warn(&format!("{rejected} rows rejected{place}"));
        return Ok(Outcome::RowsRejected);
    }
    Ok(Outcome::Success)
}

/// Scores a whole CSV stream (named `name` in messages) into `sink`; returns the rows scored.
pub fn score_stream<R: Read + Send>(
    name: &str,
    input: R,
    model: &ModelFile,
    options: &ScoreOptions,
    sink: &mut Sink,
    progress: Progress,
) -> Result<u64> {
    let (source, raw) = BlockSource::new(name, input, options.block_size)?;
    let origin = LineOrigin::Known(raw.newlines);
    score_source(
        name, source, raw.fields, origin, true, model, options, sink, None, progress,
    )
}

/// Scores the records of `source`, whose columns `header` names, into `sink`; writes the
/// output's header first when `write_header`. Returns the rows scored.
#[allow(clippy::too_many_arguments)]
pub fn score_source<R: Read + Send>(
    name: &str,
    source: BlockSource<R>,
    header: Vec<Vec<u8>>,
    origin: LineOrigin,
    write_header: bool,
    model: &ModelFile,
    options: &ScoreOptions,
    sink: &mut Sink,
    rejects: Option<&mut RejectPolicy>,
    progress: Progress,
) -> Result<u64> {
    let header = Header::parse(name, &csv::ByteRecord::from(header))?;
    let mut selection = Selection::new(
        &header,
        &model.features,
        "feature",
        options.id_column.as_deref(),
    )?;
    if matches!(origin, LineOrigin::Before { .. }) {
        selection.require_single_line_records();
    }
    let encoder = Encoder::new(options.format, options.id_column.as_deref());
    if write_header {
        sink.write(&encoder.header())?;
    }
    let scorer = Scorer {
        selection,
        weights: Array1::from(model.coefficients.clone()),
        intercept: model.intercept,
        encoder,
        batch_rows: options.batch_rows,
        skip: rejects.is_some(),
    };
    let (lines_before, origin) = match origin {
        LineOrigin::Known(lines) => (lines, None),
        LineOrigin::Before { path, offset } => (0, Some((path, offset))),
    };
    let mut collector = Collector {
        sink,
        selection: &scorer.selection,
        progress,
        pending: BTreeMap::new(),
        next: 0,
        origin,
        origin_lines: std::cell::Cell::new(None),
        rejects,
        lines_before,
        rows: 0,
        bytes: 0,
        spare: Vec::new(),
    };
    if options.threads <= 1 {
        run_inline(source, &scorer, &mut collector)?;
    } else {
        run_parallel(source, &scorer, &mut collector, options.threads)?;
    }
    collector.progress.finish();
    Ok(collector.rows)
}

/// Scores block after block on this thread.
fn run_inline<R: Read>(
    mut source: BlockSource<R>,
    scorer: &Scorer,
    collector: &mut Collector,
) -> Result<()> {
    let mut work = scorer.work();
    let mut spare_input = Vec::new();
    loop {
        let seq = source.next_seq();
        let block = match source.next_block(std::mem::take(&mut spare_input)) {
            Ok(Some(block)) => block,
            Ok(None) => return Ok(()),
            Err(err) => Err(Failure::Cut(err)).map_err(|f| collector.failure(f))?,
        };
        let out = collector.spare.pop().unwrap_or_default();
        let result = scorer.score_block(&block, &mut work, out);
        spare_input = block.data;
        collector.accept(Done { seq, result })?;
    }
}

/// How far the workers may read ahead of the writer: blocks whose outputs wait to be written,
/// in input order, behind a block still being scored.
struct Window {
    /// The next block to write, and whether the writer has stopped.
    state: Mutex<(u64, bool)>,
    advanced: Condvar,
    /// Blocks a worker may start beyond the next one to write.
    ahead: u64,
}

impl Window {
    /// Waits until block `seq` may be started; false if the writer has stopped.
    fn wait_for(&self, seq: u64) -> bool {
        let guard = self
            .state
            .lock()
            .expect("no thread panics holding the window");
        let guard = self
            .advanced
            .wait_while(guard, |(next, stopped)| {
                !*stopped && seq >= *next + self.ahead
            })
            .expect("no thread panics holding the window");
        !guard.1
    }

    /// Block `next` is the next to write.
    fn advance(&self, next: u64) {
        self.update(|state| state.0 = next);
    }

    /// The writer has stopped: no worker waits any more.
    fn stop(&self) {
        self.update(|state| state.1 = true);
    }

    fn update(&self, change: impl FnOnce(&mut (u64, bool))) {
        change(
            &mut self
                .state
                .lock()
                .expect("no thread panics holding the window"),
        );
        self.advanced.notify_all();
    }
}

/// Stops the window when the writer leaves, by any path, so no worker waits for it forever.
struct StopOnDrop<'a>(&'a Window);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// Scores blocks on `threads` workers, which take turns reading them, while this thread writes.
fn run_parallel<R: Read + Send>(
    source: BlockSource<R>,
    scorer: &Scorer,
    collector: &mut Collector,
    threads: usize,
) -> Result<()> {
    // Each worker reads its own next block (so the bytes land in its own core's cache) and
    // scores it. Memory stays flat: a worker starts no block more than `2 * threads` past the
    // next one to write, so when one worker stalls (a preempted thread, a CPU quota's
    // throttling) the others wait instead of piling up outputs that cannot be written yet.
    let (done_tx, done_rx) = mpsc::sync_channel::<Done>(threads * 2);
    let window = Window {
        state: Mutex::new((0, false)),
        advanced: Condvar::new(),
        ahead: 2 * threads as u64,
    };
    // The input, and whether it is over (ended or failed): no worker reads past that.
    let source = Mutex::new((source, false));
    let output_pool: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        let (source, window, output_pool) = (&source, &window, &output_pool);
        for _ in 0..threads {
            let done_tx = done_tx.clone();
            scope.spawn(move || {
                let mut work = scorer.work();
                let mut buf = Vec::new();
                loop {
                    let (seq, next) = {
                        let mut guard = source.lock().expect("no thread panics holding the input");
                        let (source, over) = &mut *guard;
                        if *over {
                            break;
                        }
                        // Waiting holds the input, which only workers about to wait would want.
                        let seq = source.next_seq();
                        if !window.wait_for(seq) {
                            break;
                        }
                        let next = source.next_block(std::mem::take(&mut buf));
                        *over = !matches!(next, Ok(Some(_)));
                        (seq, next)
                    };
                    let result = match next {
                        Ok(Some(block)) => {
                            let out = output_pool
                                .lock()
                                .expect("no thread panics holding the pool")
                                .pop();
                            let result =
                                scorer.score_block(&block, &mut work, out.unwrap_or_default());
                            buf = block.data;
                            result
                        }
                        Ok(None) => break,
                        Err(err) => Err(Failure::Cut(err)),
                    };
                    if done_tx.send(Done { seq, result }).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        // Owned by this closure, so an early return drops them before the scope joins the
        // threads: workers' sends fail, waits end, and the workers return.
        let done_rx = done_rx;
        let _stop = StopOnDrop(window);
        for done in &done_rx {
            collector.accept(done)?;
            window.advance(collector.next);
            output_pool
                .lock()
                .expect("no thread panics holding the pool")
                .extend(collector.spare.drain(..));
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::LogFormat;
    use crate::testing::{self, Rng};
    use ndarray::array;

    fn model() -> ModelFile {
        testing::model(&["a", "b", "c"], &[0.5, -1.25, 3.0e-3], 7.0)
    }

    fn number(rng: &mut Rng) -> (String, f64) {
        let value = (rng.below(2_000_000) as f64 - 1_000_000.0) / 1000.0;
        let text = match rng.below(5) {
            0 => format!("{value}"),
            1 => format!("{value:e}"),
            2 => format!("{}", value.round()),
            3 => format!("\"{value}\""),
            _ => format!(" {value:.3}"),
        };
        (text.clone(), text.trim().trim_matches('"').parse().unwrap())
    }

    /// A random CSV with columns in random order, LF or CRLF, empty lines, quoted fields
    /// (some with line breaks), and maybe no final newline; and its rows' feature values.
    fn random_file(rng: &mut Rng, quotes: bool) -> (Vec<u8>, Vec<[f64; 3]>) {
        let mut columns = ["a", "id", "b", "note", "c"];
        for i in (1..columns.len()).rev() {
            columns.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let eol = if rng.one_in(2) { "\r\n" } else { "\n" };
        let mut text = columns.join(",") + eol;
        let mut rows = Vec::new();
        for r in 0..rng.below(300) {
            if rng.one_in(10) {
                text += eol;
            }
            let mut values = [0.0; 3];
            let fields: Vec<String> = columns
                .iter()
                .map(|&c| match c {
                    "id" => format!("r{r}"),
                    "note" if quotes && rng.one_in(4) => "\"a, \"\"quoted\"\"\nnote\"".to_string(),
                    "note" => "plain".to_string(),
                    _ => {
                        let (text, value) = number(rng);
                        values[(c.as_bytes()[0] - b'a') as usize] = value;
                        if quotes {
                            text
                        } else {
                            text.trim_matches('"').to_string()
                        }
                    }
                })
                .collect();
            text += &fields.join(",");
            text += eol;
            rows.push(values);
        }
        if rng.one_in(3) {
            text.truncate(text.len() - eol.len());
        }
        (text.into_bytes(), rows)
    }

    fn run(input: &[u8], threads: usize, batch_rows: usize, block_size: usize) -> Vec<u8> {
        let options = ScoreOptions {
            format: Format::Csv,
            id_column: Some("id".into()),
            batch_rows,
            threads,
            block_size,
        };
        let mut sink = Sink::Memory(Vec::new());
        let progress = Logger::new(true, LogFormat::Text).progress(None);
        score_stream("in.csv", input, &model(), &options, &mut sink, progress).unwrap();
        match sink {
            Sink::Memory(bytes) => bytes,
            _ => unreachable!("a memory sink stays one"),
        }
    }

    #[test]
    fn the_bytes_of_a_byte_order_mark_after_the_header_are_data_wherever_a_block_starts() {
        // Only the file's first three bytes may be a byte order mark. csv-core strips one from
        // the start of whatever it reads first, so a reader made per block once let a block
        // starting with these bytes read them as nothing (found by fuzzing).
        let input = b"id,a,b,c\r\n\xef\xbb\xbf\n\"r\",4,5,6\n";
        let score = |threads, block_size| {
            let options = ScoreOptions {
                format: Format::Csv,
                id_column: Some("id".into()),
                batch_rows: 2,
                threads,
                block_size,
            };
            let mut sink = Sink::Memory(Vec::new());
            let progress = Logger::new(true, LogFormat::Text).progress(None);
            score_stream(
                "in.csv",
                &input[..],
                &model(),
                &options,
                &mut sink,
                progress,
            )
            .unwrap_err()
            .to_string()
        };
        for block_size in 1..=input.len() + 1 {
            for threads in [1, 3] {
                assert_eq!(
                    score(threads, block_size),
                    "in.csv:2: expected 4 fields as in the header, found 1",
                    "{threads} threads, blocks of {block_size} bytes"
                );
            }
        }
    }

    #[test]
    fn output_is_the_same_bytes_for_every_thread_count_batch_size_and_block_size() {
        let mut rng = Rng(2026);
        for case in 0..60 {
            let (input, rows) = random_file(&mut rng, case % 2 == 0);
            let reference = run(&input, 1, 4096, BLOCK_SIZE);
            // The predictions are right, row by row, in order...
            let text = String::from_utf8(reference.clone()).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines[0], "id,prediction");
            assert_eq!(lines.len() - 1, rows.len(), "case {case}");
            let m = model();
            for (i, (line, x)) in lines[1..].iter().zip(&rows).enumerate() {
                let (id, value) = line.split_once(',').unwrap();
                assert_eq!(id, format!("r{i}"));
                let expected: f64 = x
                    .iter()
                    .zip(&m.coefficients)
                    .map(|(x, w)| x * w)
                    .sum::<f64>()
                    + m.intercept;
                let value: f64 = value.parse().unwrap();
                assert!(
                    (value - expected).abs() <= 1e-12 * expected.abs().max(1.0),
                    "case {case} row {i}"
                );
            }
            // ...and every way of cutting the work writes exactly the same bytes.
            for (threads, batch_rows, block_size) in [
                (1, 1, 1),
                (2, 3, 7),
                (3, 4096, 64),
                (8, 5, 1),
                (2, 4096, 100_000),
            ] {
                assert_eq!(
                    run(&input, threads, batch_rows, block_size),
                    reference,
                    "case {case}: threads {threads}, batch rows {batch_rows}, block size {block_size}"
                );
            }
        }
    }

    #[test]
    fn a_lone_carriage_return_ends_a_row_however_the_input_is_cut() {
        // Found by fuzzing: blocks without quotes were split on line feeds only, blocks with
        // quotes by csv-core, which also ends a record at a lone CR; so rows depended on where
        // the blocks were cut. CR-only files (old Mac exports) are CSV like any other.
        let expected = run(
            b"id,a,b,c\nr0,1,2,3\nr1,4,5,6\nr2,7,8,9\nr3,1,1,1\n",
            1,
            4096,
            64,
        );
        for input in [
            &b"id,a,b,c\nr0,1,2,3\rr1,4,5,6\n\"r2\",7,8,9\rr3,1,1,1\n"[..],
            b"id,a,b,c\rr0,1,2,3\rr1,4,5,6\rr2,7,8,9\rr3,1,1,1\r",
        ] {
            for block_size in 1..=input.len() {
                for threads in [1, 3] {
                    assert_eq!(
                        run(input, threads, 2, block_size),
                        expected,
                        "{:?} in blocks of {block_size}",
                        String::from_utf8_lossy(input)
                    );
                }
            }
        }
    }

    #[test]
    fn a_prediction_is_the_dot_product_plus_the_intercept() {
        let x = array![[1.0, 2.0], [0.0, 0.0], [-1.0, 0.5]];
        let w = array![3.0, -1.0];
        let mut out = Array1::zeros(3);
        predict_into(x.view(), &w, 0.5, out.view_mut());
        assert_eq!(out, array![1.5, 0.5, -3.0]);
    }

    #[test]
    fn a_worker_waits_for_the_writer_when_too_far_ahead_and_never_once_it_stops() {
        let window = Window {
            state: Mutex::new((0, false)),
            advanced: Condvar::new(),
            ahead: 2,
        };
        assert!(window.wait_for(0));
        assert!(window.wait_for(1));
        std::thread::scope(|scope| {
            let waiting = scope.spawn(|| window.wait_for(4));
            std::thread::sleep(std::time::Duration::from_millis(50));
            window.advance(2);
            std::thread::sleep(std::time::Duration::from_millis(50));
            assert!(
                !waiting.is_finished(),
                "block 4 started with block 2 unwritten"
            );
            window.advance(3);
            assert!(waiting.join().unwrap());
            let stopped = scope.spawn(|| window.wait_for(100));
            drop(StopOnDrop(&window));
            assert!(!stopped.join().unwrap());
        });
    }
}
