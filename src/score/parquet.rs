//! Scoring a Parquet input: batches from [`ParquetReader`] (this shard's row groups), one
//! matrix-vector product each, encoded and written in order on the calling thread. Bad rows are
//! told by their row number in the file; under `--on-error skip` they go to the same CSV
//! rejects file as a CSV input's (`row,reason,record`, the record being the row's feature
//! values as read, `null` for a null).

use std::sync::mpsc;

use ndarray::{s, Array1};

use crate::error::{Error, Location, Result};
use crate::log::Progress;
use crate::model::predictor::Predictor;
use crate::model::ModelFile;
use crate::output::{csv_field, Encoder, Sink};
use crate::read::batch::Batch;
use crate::read::parquet::{ParquetProblem, ParquetReader};
use crate::read::problem::Columns;
use crate::read::unwritable::Writable;
use crate::score::collect::RejectPolicy;
use crate::score::plan::ScoreOptions;
use crate::store::chunks::Chunks;

/// The rejects file's header for a Parquet input.
pub const REJECTS_HEADER: &[u8] = b"row,reason,record\n";

/// Scores `reader` (its columns selected, its row groups those of the run: see
/// [`crate::read::parquet_parts`]) into `sink`, after the output's header; returns the rows
/// scored.
pub fn score_parquet(
    mut reader: ParquetReader<Chunks>,
    model: &ModelFile,
    options: &ScoreOptions,
    sink: &mut Sink,
    mut policy: Option<&mut RejectPolicy>,
    mut progress: Progress,
) -> Result<u64> {
    let encoder = Encoder::new(options.format, &options.id_columns);
    let predictor = Predictor::new(model);
    let name = reader.name().to_string();
    let skip = policy.is_some();
    let new_decoded = |reader: &ParquetReader<Chunks>| {
        let mut batch = Batch::new(options.batch_rows, model.features.len());
        batch.ids = reader.new_ids();
        Decoded {
            batch,
            kept: Vec::new(),
            rejects: Vec::new(),
            last: false,
        }
    };
    let mut predictions = Array1::<f64>::zeros(new_decoded(&reader).batch.capacity());
    let mut out = Vec::new();
    let mut rows = 0u64;
    let has_ids = !options.id_columns.is_empty();
    // A Parquet row's ids are its id columns, in the order asked for.
    let id_fields: Vec<usize> = (0..options.id_columns.len()).collect();
    let writable = Writable {
        id_fields: &id_fields,
        utf8_ids: !encoder.carries_any_id(),
    };
    let columns = Columns {
        path: &name,
        field_count: model.features.len() + id_fields.len(),
        names: &model.features,
        ids: &options.id_columns,
    };
    let mut process = |decoded: &mut Decoded| -> Result<()> {
        let batch = &decoded.batch;
        let n = batch.rows;
        let mut view = predictions.slice_mut(s![..n]);
        predictor.predict_into(batch.x.slice(s![..n, ..]), view.view_mut());
        let values = view
            .into_slice()
            .expect("a slice of an Array1 is contiguous");
        let ids = has_ids.then_some(&batch.ids);
        // What cannot be written: the batch command's check, told by the row's number.
        let problem = |i: usize| -> Option<String> {
            let problem = writable.problem(values, ids, i)?;
            Some(format!(
                "row {}: {}",
                decoded.kept[i],
                problem.message(&columns)
            ))
        };
        out.clear();
        let mut written = n;
        match writable.first(values, ids) {
            None => encoder.encode(values, ids, &mut out),
            Some(first) => {
                let Some(policy) = policy.as_deref_mut() else {
                    let reason = problem(first).expect("found above");
                    return Err(Error::data(Location::file(&name), reason));
                };
                for reason in (0..n).filter_map(problem) {
                    reject(policy, &name, reason, String::new())?;
                }
                let (kept, kept_ids) = writable.kept(values, ids);
                encoder.encode(&kept, kept_ids.as_ref(), &mut out);
                written = kept.len();
            }
        }
        if let Some(policy) = policy.as_deref_mut() {
            for (problem, record) in decoded.rejects.drain(..) {
                reject(policy, &name, problem.reason(), record)?;
            }
        }
        rows += written as u64;
        sink.write(&out)?;
        progress.update(rows, 0);
        Ok(())
    };
    if options.threads <= 1 {
        let mut decoded = new_decoded(&reader);
        while decode(&mut reader, &mut decoded, skip)? > 0 {
            process(&mut decoded)?;
        }
    } else {
        // Two stages: this thread predicts, encodes and writes while another decodes the next
        // batches (decompression and decoding are most of the work). Three batches circulate
        // between them, so memory stays at a few batches.
        let spare: Vec<Decoded> = (0..3).map(|_| new_decoded(&reader)).collect();
        std::thread::scope(|scope| -> Result<()> {
            let (full_tx, full_rx) = mpsc::sync_channel::<Result<Decoded>>(2);
            let (free_tx, free_rx) = mpsc::channel::<Decoded>();
            for decoded in spare {
                free_tx.send(decoded).expect("the receiver is here");
            }
            let reader = &mut reader;
            scope.spawn(move || {
                // Ends when the input does, on an error, or when the writer stops taking.
                while let Ok(mut decoded) = free_rx.recv() {
                    let result = decode(reader, &mut decoded, skip);
                    let done = !matches!(result, Ok(n) if n > 0);
                    let sent = full_tx.send(result.map(|_| decoded));
                    if done || sent.is_err() {
                        break;
                    }
                }
            });
            for result in &full_rx {
                let mut decoded = result?;
                if decoded.last {
                    break;
                }
                process(&mut decoded)?;
                // The decoder may have finished already, with batches still queued here.
                let _ = free_tx.send(decoded);
            }
            Ok(())
        })?;
    }
    progress.finish();
    Ok(rows)
}

/// A decoded batch and what goes with it: the file's row number of each of its rows, and the
/// rows set aside.
struct Decoded {
    batch: Batch,
    kept: Vec<u64>,
    rejects: Vec<(ParquetProblem, String)>,
    /// Whether the input ended before this batch.
    last: bool,
}

/// Decodes the next batch into `decoded`; returns the rows read (kept or set aside), 0 at the
/// end, when the batch is marked as the last.
fn decode(reader: &mut ParquetReader<Chunks>, decoded: &mut Decoded, skip: bool) -> Result<usize> {
    decoded.rejects.clear();
    let n = reader.read_batch(&mut decoded.batch, skip.then_some(&mut decoded.rejects))?;
    decoded.kept.clear();
    decoded.kept.extend_from_slice(reader.kept_rows());
    decoded.last = n == 0;
    Ok(n)
}

/// Records a rejected row of the Parquet input `path`, or fails once rejects are over budget.
fn reject(policy: &mut RejectPolicy, path: &str, reason: String, record: String) -> Result<()> {
    policy.count += 1;
    let error = Error::data(Location::file(path), reason.clone());
    if let Some(max) = policy.max.filter(|&max| policy.count > max) {
        return Err(Error::data(
            Location::file(path),
            format!("more than {max} rows rejected (--max-errors {max}); the last: {error}"),
        ));
    }
    match &mut policy.sink {
        Some(sink) => {
            let row = reason
                .strip_prefix("row ")
                .and_then(|r| r.split(':').next())
                .unwrap_or("0");
            let mut line = format!("{row},").into_bytes();
            line.extend(csv_field(reason.as_bytes()));
            line.push(b',');
            line.extend(csv_field(record.as_bytes()));
            line.push(b'\n');
            sink.write(&line)
        }
        None => {
            policy.log.warn(&format!("rejected {error}"));
            Ok(())
        }
    }
}
