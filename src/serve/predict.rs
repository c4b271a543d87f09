//! `POST /predict`: a CSV body with a header in, the batch command's output for it out. The
//! body goes through the batch command's own pieces, in the same order (blocks of
//! [`BLOCK_SIZE`], batches of 4096 rows, the model's one kernel, the same encoder and the same
//! row messages), so the answer is byte for byte what `batch_inference --data FILE` prints
//! for that file, and a bad row is the same message, naming the input `<body>`.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ndarray::{s, Array1};

use crate::error::Result;
use crate::model::predictor::Predictor;
use crate::model::ModelFile;
use crate::output::{Encoder, Format};
use crate::read::batch::Batch;
use crate::read::block::{BlockSource, CutError, BLOCK_SIZE};
use crate::read::cursor::Cursor;
use crate::read::fill_batch;
use crate::read::header::Header;
use crate::read::problem::record_too_long;
use crate::read::selection::Selection;
use crate::read::unwritable::Writable;
use crate::serve::{ApiError, Body, Server};

/// The request body's name in messages, where the batch command names its input file.
pub const BODY: &str = "<body>";

/// Rows per batch: the batch command's default `--batch-rows`.
const BATCH_ROWS: usize = 4096;

/// What a CSV body scored into: the output bytes and the rows they hold.
pub struct Predicted {
    /// The encoded predictions, header first, as the batch command writes them.
    pub out: Vec<u8>,
    /// Rows scored.
    pub rows: usize,
}

/// Scores the CSV `body` with `model`, in `format`, with the id columns `id_columns` copied
/// next to each prediction; a bad body or row is the batch command's data error.
pub fn predict_csv(
    model: &ModelFile,
    predictor: &Predictor,
    body: &[u8],
    format: Format,
    id_columns: &[String],
) -> Result<Predicted> {
    let (mut blocks, raw) = BlockSource::new(BODY, body, BLOCK_SIZE)?;
    let lines_in_header = raw.newlines;
    let header = Header::parse(BODY, &csv::ByteRecord::from(raw.fields))?;
    let selection = Selection::new(&header, &model.features, "feature", id_columns)?;
    let encoder = Encoder::new(format, id_columns);
    let mut out = encoder.header();
    let mut batch = Batch::new(BATCH_ROWS, selection.width());
    batch.ids = selection.new_ids();
    let mut predictions = Array1::zeros(batch.capacity());
    let writable = Writable {
        id_fields: &selection.id_fields,
        utf8_ids: !encoder.carries_any_id(),
    };
    let mut lines_before = lines_in_header;
    let mut rows = 0;
    let mut spare = Vec::new();
    loop {
        let block = match blocks.next_block(std::mem::take(&mut spare)) {
            Ok(Some(block)) => block,
            Ok(None) => break,
            Err(CutError::Io(err)) => return Err(err),
            Err(CutError::RecordTooLong { quoted }) => {
                return Err(record_too_long(BODY, lines_before + 1, quoted))
            }
        };
        let mut cursor = Cursor::default();
        loop {
            batch.clear();
            let start = (cursor.pos, cursor.newlines);
            fill_batch(&selection, &block, &mut cursor, &mut batch, None)
                .map_err(|e| e.into_error(&selection.columns(), lines_before))?;
            let n = batch.rows;
            if n == 0 {
                break;
            }
            let mut scored = predictions.slice_mut(s![..n]);
            predictor.predict_into(batch.x.slice(s![..n, ..]), scored.view_mut());
            let scored = scored
                .into_slice()
                .expect("a slice of an Array1 is contiguous");
            let ids = selection.has_id().then_some(&batch.ids);
            if let Some(error) = writable.first_error(&selection, &block, start, scored, ids) {
                return Err(error.into_error(&selection.columns(), lines_before));
            }
            encoder.encode(scored, ids, &mut out);
            rows += n;
            if cursor.pos >= block.data.len() {
                break;
            }
        }
        lines_before += cursor.newlines;
        spare = block.data;
    }
    Ok(Predicted { out, rows })
}

/// `POST /predict[?format=csv|jsonl][&id_column=NAME]`: the body is a CSV with a header; the
/// answer is the batch command's output for it with `--format` and `--id-column` as given
/// (`Accept: application/jsonl` also asks for JSON Lines), or its error message as a 400.
pub async fn handle(
    State(server): State<Arc<Server>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> std::result::Result<Response, ApiError> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut format = match accept {
        "application/jsonl" | "application/x-ndjson" => Format::Jsonl,
        _ => Format::Csv,
    };
    let mut id_column = None;
    for pair in query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decoded(value)?;
        match key {
            "format" => {
                format = match value.as_str() {
                    "csv" => Format::Csv,
                    "jsonl" => Format::Jsonl,
                    other => {
                        return Err(ApiError::bad_request(format!(
                            "unknown format {other:?}: use csv or jsonl"
                        )))
                    }
                }
            }
            "id_column" => id_column = Some(value),
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter {other:?}: /predict takes format and id_column"
                )))
            }
        }
    }
    let read = body.read(&server).await?;
    let body = read.bytes.clone();
    let loaded = server.slot.get();
    let predicted = server
        .on_cpu(body.len(), move || {
            let id_columns: Vec<String> = match &id_column {
                Some(names) => names.split(',').map(str::to_string).collect(),
                None => Vec::new(),
            };
            predict_csv(&loaded.model, &loaded.predictor, &body, format, &id_columns)
                .map_err(|e| ApiError::bad_request(e.to_string()))
        })
        .await?;
    server.metrics.scored(predicted.rows);
    let content_type = match format {
        Format::Csv => "text/csv; charset=utf-8",
        Format::Jsonl => "application/jsonl",
        // Not offered by the query's formats; named for completeness.
        Format::Parquet => "application/vnd.apache.parquet",
    };
    let mut response = (StatusCode::OK, predicted.out).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(response)
}

/// A query string value with its `%XX` escapes and `+` decoded.
fn percent_decoded(value: &str) -> std::result::Result<String, ApiError> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = value
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        ApiError::bad_request(format!("bad escape in the query: {value:?}"))
                    })?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out)
        .map_err(|_| ApiError::bad_request(format!("the query is not UTF-8: {value:?}")))
}
