//! Scoring: the data path of the default command, and the one vectorized kernel.
//!
//! One reader thread cuts the input into blocks of whole records; worker threads parse each
//! block into a reused `Array2` batch, score it with one matrix-vector product per batch and
//! encode the predictions; this thread writes the blocks' bytes in input order. Memory stays
//! bounded by the blocks in flight, whatever the input size, and the output is the same bytes
//! for every thread count, batch size and block size.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

use ndarray::{s, Array1, ArrayView2, ArrayViewMut1};

use crate::batch::{
    display_name, fill_batch, open_input, record_too_long, Batch, Cursor, RowError, Selection,
};
use crate::block::{Block, BlockSource, CutError, BLOCK_SIZE};
use crate::cli::ScoreArgs;
use crate::error::{Error, Location, Result};
use crate::log::{Logger, Progress};
use crate::model::ModelFile;
use crate::output::{Encoder, Format, Sink};
use crate::schema::Header;

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
    rows: u64,
    newlines: u64,
    bytes: u64,
}

/// Why a block could not be scored.
enum Failure {
    Row(RowError),
    Overflow { row_in_block: u64 },
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
        loop {
            work.batch.clear();
            fill_batch(&self.selection, block, &mut work.cursor, &mut work.batch)
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
            if let Some(i) = predictions.iter().position(|p| !p.is_finite()) {
                return Err(Failure::Overflow {
                    row_in_block: rows + i as u64,
                });
            }
            let ids = self.selection.has_id().then_some(&work.batch.ids);
            let predictions = predictions
                .into_slice()
                .expect("a slice of an Array1 is contiguous");
            self.encoder.encode(predictions, ids, &mut out);
            rows += n as u64;
            if work.cursor.pos >= block.data.len() {
                break;
            }
        }
        Ok(Scored {
            out,
            rows,
            newlines: work.cursor.newlines,
            bytes: block.data.len() as u64,
        })
    }
}

/// Takes scored blocks in any order and writes them in input order.
struct Collector<'a> {
    sink: &'a mut Sink,
    selection: &'a Selection,
    progress: Progress,
    pending: BTreeMap<u64, std::result::Result<Scored, Failure>>,
    next: u64,
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

    fn failure(&self, failure: Failure) -> Error {
        let path = self.selection_path();
        match failure {
            Failure::Row(err) => err.into_error(self.selection, self.lines_before),
            Failure::Cut(CutError::RecordTooLong) => record_too_long(path, self.lines_before + 1),
            Failure::Cut(CutError::Io(err)) => err,
            Failure::Overflow { row_in_block } => Error::data(
                Location::file(path),
                format!(
                    "data row {}: the prediction is beyond the range of f64; are the values in the right units?",
                    self.rows + row_in_block + 1
                ),
            ),
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

/// Runs the default command: scores `args.data` with `args.model` into the output.
pub fn score(args: &ScoreArgs, log: &Logger) -> Result<()> {
    let started = Instant::now();
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
    let mut sink = Sink::create(args.output.as_deref())?;
    log.info("Scoring observations...");
    let rows = score_stream(
        name,
        input,
        &model,
        &options,
        &mut sink,
        log.progress(total_bytes),
    )?;
    sink.finish()?;
    log.summary(rows, started.elapsed(), name, args.output.as_deref());
    Ok(())
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
    let header = Header::parse(name, &csv::ByteRecord::from(raw.fields))?;
    let selection = Selection::new(
        &header,
        &model.features,
        "feature",
        options.id_column.as_deref(),
    )?;
    let encoder = Encoder::new(options.format, options.id_column.as_deref());
    sink.write(&encoder.header())?;
    let scorer = Scorer {
        selection,
        weights: Array1::from(model.coefficients.clone()),
        intercept: model.intercept,
        encoder,
        batch_rows: options.batch_rows,
    };
    let mut collector = Collector {
        sink,
        selection: &scorer.selection,
        progress,
        pending: BTreeMap::new(),
        next: 0,
        lines_before: raw.newlines,
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

/// Scores blocks on `threads` workers while one thread reads and this one writes.
fn run_parallel<R: Read + Send>(
    mut source: BlockSource<R>,
    scorer: &Scorer,
    collector: &mut Collector,
    threads: usize,
) -> Result<()> {
    // Bounded queues: at most a few blocks per worker are in flight, so memory stays flat.
    let (block_tx, block_rx) =
        mpsc::sync_channel::<(u64, std::result::Result<Block, CutError>)>(threads);
    let (done_tx, done_rx) = mpsc::sync_channel::<Done>(threads * 2);
    let block_rx = Arc::new(Mutex::new(block_rx));
    let input_pool: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
    let output_pool: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        let input_pool = &input_pool;
        let output_pool = &output_pool;
        scope.spawn(move || loop {
            let buf = input_pool
                .lock()
                .expect("no thread panics holding the pool")
                .pop();
            let seq = source.next_seq();
            let next = source.next_block(buf.unwrap_or_default());
            let stop = !matches!(next, Ok(Some(_)));
            let item = match next {
                Ok(Some(block)) => (seq, Ok(block)),
                Ok(None) => break,
                Err(err) => (seq, Err(err)),
            };
            // A closed queue means the run is over (finished or failed): stop reading.
            if block_tx.send(item).is_err() || stop {
                break;
            }
        });
        for _ in 0..threads {
            let block_rx = Arc::clone(&block_rx);
            let done_tx = done_tx.clone();
            scope.spawn(move || {
                let mut work = scorer.work();
                loop {
                    let item = block_rx
                        .lock()
                        .expect("no thread panics holding the queue")
                        .recv();
                    let Ok((seq, block)) = item else { break };
                    let result = match block {
                        Ok(block) => {
                            let out = output_pool
                                .lock()
                                .expect("no thread panics holding the pool")
                                .pop();
                            let result =
                                scorer.score_block(&block, &mut work, out.unwrap_or_default());
                            input_pool
                                .lock()
                                .expect("no thread panics holding the pool")
                                .push(block.data);
                            result
                        }
                        Err(err) => Err(Failure::Cut(err)),
                    };
                    if done_tx.send(Done { seq, result }).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        drop(block_rx);
        // Owned by this closure, so an early return drops it before the scope joins the threads.
        let done_rx = done_rx;
        for done in &done_rx {
            collector.accept(done)?;
            output_pool
                .lock()
                .expect("no thread panics holding the pool")
                .extend(collector.spare.drain(..));
        }
        // On an early error `done_rx` is dropped on return: workers' sends fail, they drop
        // their queue handles, the reader's send fails, and every thread ends.
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::LogFormat;
    use crate::model::{Algorithm, FitMetrics};
    use crate::testing::Rng;
    use ndarray::array;

    fn model() -> ModelFile {
        ModelFile {
            algorithm: Algorithm::Ols,
            target: "y".into(),
            features: vec!["a".into(), "b".into(), "c".into()],
            coefficients: vec![0.5, -1.25, 3.0e-3],
            intercept: 7.0,
            train: FitMetrics {
                rows: 0,
                mse: 0.0,
                r2: 0.0,
            },
            holdout: None,
            training_sha256: String::new(),
        }
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
}
