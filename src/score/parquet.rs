//! Scoring a Parquet input: batches from [`ParquetReader`] (the run's row groups, decoded
//! by `--threads` workers), one matrix-vector product each and encoded on `--threads` scoring
//! workers, written in order on the calling thread. Bad rows are
//! told by their row number in the file; under `--on-error skip` they go to the same CSV
//! rejects file as a CSV input's (`row,reason,record`, the record being the row's feature
//! values as read, `null` for a null).

use ::parquet::file::reader::ChunkReader;
use ndarray::{s, Array1};

use crate::error::{Error, Location, Result};
use crate::log::Progress;
use crate::model::predictor::Predictor;
use crate::model::ModelFile;
use crate::output::{csv_field, Encoder, Sink};
use crate::read::batch::{rows_within_budget, Batch};
use crate::read::parquet::{ParquetReader, Rejects};
use crate::read::problem::Columns;
use crate::read::unwritable::Writable;
use crate::score::collect::RejectPolicy;
use crate::score::plan::ScoreOptions;

/// The rejects file's header for a Parquet input.
pub const REJECTS_HEADER: &[u8] = b"row,reason,record\n";

/// Scores `reader` (its columns selected, its row groups those of the run: see
/// [`crate::read::parquet_parts`]) into `sink`, after the output's header; returns the rows
/// scored.
pub fn score_parquet<R: ChunkReader + 'static>(
    mut reader: ParquetReader<R>,
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
    let capacity = rows_within_budget(options.batch_rows, model.features.len());
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
    // On the scoring workers: predict, set aside what cannot be written, encode.
    let work = || Array1::<f64>::zeros(capacity);
    let score = |predictions: &mut Array1<f64>,
                 batch: &Batch,
                 kept_rows: &[u64],
                 rejects: Rejects|
     -> Result<Scored> {
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
                kept_rows[i],
                problem.message(&columns)
            ))
        };
        let mut scored = Scored {
            out: Vec::new(),
            written: n,
            unwritable: Vec::new(),
            rejects,
        };
        match writable.first(values, ids) {
            None => encoder.encode(values, ids, &mut scored.out),
            Some(first) => {
                if !skip {
                    let reason = problem(first).expect("found above");
                    return Err(Error::data(Location::file(&name), reason));
                }
                scored.unwritable = (0..n).filter_map(problem).collect();
                let (kept, kept_ids) = writable.kept(values, ids);
                encoder.encode(&kept, kept_ids.as_ref(), &mut scored.out);
                scored.written = kept.len();
            }
        }
        Ok(scored)
    };
    // On this thread, in batch order: the rejects, then the output.
    let write = |scored: Scored| -> Result<()> {
        if let Some(policy) = policy.as_deref_mut() {
            for reason in scored.unwritable {
                reject(policy, &name, reason, String::new())?;
            }
            for (problem, record) in scored.rejects {
                reject(policy, &name, problem.reason(), record)?;
            }
        }
        rows += scored.written as u64;
        sink.write(&scored.out)?;
        progress.update(rows, 0);
        Ok(())
    };
    reader.for_each_batch(
        options.threads,
        options.batch_rows,
        skip,
        work,
        score,
        write,
    )?;
    progress.finish();
    Ok(rows)
}

/// A batch scored: its encoded output, and what it sets aside.
struct Scored {
    out: Vec<u8>,
    /// The rows in `out`.
    written: usize,
    /// Why each row whose prediction (or id) cannot be written was left out.
    unwritable: Vec<String>,
    /// The rows set aside when read, with their values' text.
    rejects: Rejects,
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
