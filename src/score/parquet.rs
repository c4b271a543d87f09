//! Scoring a Parquet input: batches from [`ParquetReader`] (the run's row groups, decoded
//! by `--threads` workers), one matrix-vector product each, encoded and written in order on
//! the calling thread. Bad rows are
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
use crate::read::batch::Batch;
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
    let mut batch = Batch::new(options.batch_rows, model.features.len());
    batch.ids = reader.new_ids();
    let mut predictions = Array1::<f64>::zeros(batch.capacity());
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
    let process = |batch: &Batch, kept_rows: &[u64], rejects: &mut Rejects| -> Result<()> {
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
            for (problem, record) in rejects.drain(..) {
                reject(policy, &name, problem.reason(), record)?;
            }
        }
        rows += written as u64;
        sink.write(&out)?;
        progress.update(rows, 0);
        Ok(())
    };
    reader.for_each_batch(options.threads, &mut batch, skip, process)?;
    progress.finish();
    Ok(rows)
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
