//! The Open Inference Protocol (KServe "V2") over HTTP/JSON: health, model metadata and
//! readiness, and inference. An inference request carries either one tensor of shape
//! `[n, features]` in the model's feature order (as tritonclient sends a NumPy array), or one
//! input per feature, by name, of shape `[n]` or `[n, 1]` (as MLServer's pandas codec sends a
//! data frame). The answer is one FP64 output, `prediction`, of shape `[n, 1]`.

use std::fmt;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ndarray::{Array1, Array2};
use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;

use crate::model::predictor::Predictor;
use crate::model::ModelFile;
use crate::read::problem::OVERFLOW;
use crate::serve::{json_response, ApiError, Body, Server};

/// The one output's name.
pub const OUTPUT: &str = "prediction";

/// `GET /v2/health/live`: the process answers.
pub async fn live() -> Response {
    json_response(StatusCode::OK, json!({ "live": true }).to_string())
}

/// `GET /v2/health/ready`: a model is loaded and the server is not draining.
pub async fn ready(State(server): State<Arc<Server>>) -> Response {
    server
        .readiness()
        .map_or_else(IntoResponse::into_response, |()| {
            json_response(StatusCode::OK, json!({ "ready": true }).to_string())
        })
}

/// `GET /v2/models/{name}`: the model's inputs (one per feature), output and platform.
pub async fn metadata(
    State(server): State<Arc<Server>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    server.check_name(&name)?;
    let loaded = server.slot.get();
    let inputs: Vec<_> = loaded
        .model
        .features
        .iter()
        .map(|f| json!({ "name": f, "datatype": "FP64", "shape": [-1, 1] }))
        .collect();
    let body = json!({
        "name": server.name,
        "versions": [],
        "platform": "batch_inference",
        "inputs": inputs,
        "outputs": [{ "name": OUTPUT, "datatype": "FP64", "shape": [-1, 1] }],
        "parameters": { "kind": loaded.model.kind(), "sha256": loaded.sha256 },
    });
    Ok(json_response(StatusCode::OK, body.to_string()))
}

/// `GET /v2/models/{name}/ready`.
pub async fn model_ready(
    State(server): State<Arc<Server>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    server.check_name(&name)?;
    server.readiness()?;
    let body = json!({ "name": server.name, "ready": true });
    Ok(json_response(StatusCode::OK, body.to_string()))
}

/// `POST /v2/models/{name}/infer`.
pub async fn infer(
    State(server): State<Arc<Server>>,
    Path(name): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    server.check_name(&name)?;
    let read = body.read(&server).await?;
    let body = read.bytes.clone();
    let loaded = server.slot.get();
    let model_name = server.name.clone();
    let (response, rows) = server
        .on_cpu(body.len(), move || {
            respond(&loaded.model, &loaded.predictor, &model_name, &body)
        })
        .await?;
    server.metrics.scored(rows);
    Ok(json_response(StatusCode::OK, response))
}

/// An inference request, as far as this server reads it; other fields (`parameters`) are
/// allowed and ignored.
#[derive(Deserialize)]
struct InferenceRequest {
    id: Option<String>,
    inputs: Vec<RequestInput>,
    outputs: Option<Vec<RequestedOutput>>,
}

#[derive(Deserialize)]
struct RequestInput {
    name: String,
    shape: Vec<u64>,
    datatype: String,
    data: Numbers,
}

#[derive(Deserialize)]
struct RequestedOutput {
    name: String,
}

#[derive(Serialize)]
struct InferenceResponse<'a> {
    model_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    outputs: [ResponseOutput; 1],
}

#[derive(Serialize)]
struct ResponseOutput {
    name: &'static str,
    datatype: &'static str,
    shape: [usize; 2],
    data: Vec<f64>,
}

/// Answers the request `body` with `model`, served as `name`: the response's JSON and the
/// rows it predicts.
pub fn respond(
    model: &ModelFile,
    predictor: &Predictor,
    name: &str,
    body: &[u8],
) -> Result<(String, usize), ApiError> {
    let request: InferenceRequest = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("the request is not an inference request: {e}"))
    })?;
    if let Some(outputs) = &request.outputs {
        if let Some(unknown) = outputs.iter().find(|o| o.name != OUTPUT) {
            return Err(ApiError::bad_request(format!(
                "unknown output {:?}: the model has one output, {OUTPUT:?}",
                unknown.name
            )));
        }
    }
    let x = rows(model, request.inputs)?;
    let n = x.nrows();
    let mut predictions = Array1::zeros(n);
    predictor.predict_into(x.view(), predictions.view_mut());
    if let Some(row) = predictions.iter().position(|p| !p.is_finite()) {
        return Err(ApiError::bad_request(format!("row {row}: {OVERFLOW}")));
    }
    let response = InferenceResponse {
        model_name: name,
        id: request.id,
        outputs: [ResponseOutput {
            name: OUTPUT,
            datatype: "FP64",
            shape: [n, 1],
            data: predictions.to_vec(),
        }],
    };
    let text = serde_json::to_string(&response).expect("finite numbers and strings serialize");
    Ok((text, n))
}

/// The request's inputs as one row per observation, one column per feature in model order.
fn rows(model: &ModelFile, mut inputs: Vec<RequestInput>) -> Result<Array2<f64>, ApiError> {
    let features = &model.features;
    let width = features.len();
    match &mut inputs[..] {
        [] => Err(ApiError::bad_request(
            "the request has no inputs: send one tensor of shape [n, features] or one input per feature",
        )),
        [one] if !features.contains(&one.name) => {
            let values = values(one)?;
            match one.shape[..] {
                [n, w] if w as usize == width => {
                    Array2::from_shape_vec((n as usize, width), values).map_err(|e| {
                        ApiError::bad_request(format!("input {:?}: {e}", one.name))
                    })
                }
                _ => Err(ApiError::bad_request(format!(
                    "input {:?}: shape {:?} is not [n, {width}]: send one row per observation and \
                     one column per feature, in the order {}, or one input per feature by name",
                    one.name,
                    one.shape,
                    features.join(", ")
                ))),
            }
        }
        _ => by_name(model, &mut inputs),
    }
}

/// The rows from one input per feature, each of shape `[n]` or `[n, 1]`.
fn by_name(model: &ModelFile, inputs: &mut [RequestInput]) -> Result<Array2<f64>, ApiError> {
    let features = &model.features;
    let mut columns: Vec<Option<Vec<f64>>> = vec![None; features.len()];
    let mut n = None;
    for input in inputs {
        let Some(slot) = features.iter().position(|f| *f == input.name) else {
            return Err(ApiError::bad_request(format!(
                "unknown feature {:?}: the model's features are {}",
                input.name,
                features.join(", ")
            )));
        };
        if columns[slot].is_some() {
            return Err(ApiError::bad_request(format!(
                "feature {:?} is given twice",
                input.name
            )));
        }
        let rows = match input.shape[..] {
            [rows] | [rows, 1] => rows,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "input {:?}: shape {:?} is not [n] or [n, 1]: one input per feature holds \
                     one value per observation",
                    input.name, input.shape
                )))
            }
        };
        if *n.get_or_insert(rows) != rows {
            return Err(ApiError::bad_request(format!(
                "input {:?}: {rows} rows where the inputs before it have {}",
                input.name,
                n.unwrap_or(0)
            )));
        }
        columns[slot] = Some(values(input)?);
    }
    if let Some(missing) = columns.iter().position(Option::is_none) {
        return Err(ApiError::bad_request(format!(
            "missing feature {:?}: send one input per feature ({})",
            features[missing],
            features.join(", ")
        )));
    }
    let n = n.unwrap_or(0) as usize;
    let mut x = Array2::zeros((n, features.len()));
    for (j, column) in columns.into_iter().enumerate() {
        let column = column.expect("every feature was checked present");
        x.column_mut(j).assign(&Array1::from(column));
    }
    Ok(x)
}

/// An input's values (taken from it), checked against its shape and datatype: FP32 values
/// are rounded to `f32` (what the client's tensor holds), and every value must be finite.
fn values(input: &mut RequestInput) -> Result<Vec<f64>, ApiError> {
    let name = &input.name;
    let expected = input
        .shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d));
    if expected != Some(input.data.0.len() as u64) {
        return Err(ApiError::bad_request(format!(
            "input {name:?}: shape {:?} does not match the {} values of its data",
            input.shape,
            input.data.0.len()
        )));
    }
    let round = match input.datatype.as_str() {
        "FP64" | "INT8" | "INT16" | "INT32" | "INT64" | "UINT8" | "UINT16" | "UINT32"
        | "UINT64" => false,
        "FP32" => true,
        other => {
            return Err(ApiError::bad_request(format!(
                "input {name:?}: datatype {other} is not supported: send FP64 or FP32"
            )))
        }
    };
    let mut values = std::mem::take(&mut input.data.0);
    for (i, v) in values.iter_mut().enumerate() {
        if round {
            *v = f64::from(*v as f32);
        }
        if !v.is_finite() {
            return Err(ApiError::bad_request(format!(
                "input {name:?}: value {i} is not a finite number"
            )));
        }
    }
    Ok(values)
}

/// A tensor's data: numbers, flat or nested in arrays of any depth (row-major either way, as
/// the protocol allows), gathered into one flat list without an intermediate JSON tree.
struct Numbers(Vec<f64>);

impl<'de> Deserialize<'de> for Numbers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Numbers, D::Error> {
        let mut values = Vec::new();
        Flatten(&mut values).deserialize(deserializer)?;
        Ok(Numbers(values))
    }
}

struct Flatten<'a>(&'a mut Vec<f64>);

impl<'de> DeserializeSeed<'de> for Flatten<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Flatten<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("numbers, or arrays of numbers")
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.0.push(v);
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.0.push(v as f64);
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.0.push(v as f64);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Flatten(&mut *self.0))?.is_some() {}
        Ok(())
    }
}
