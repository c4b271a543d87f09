//! `batch_inference serve`: the model behind HTTP, with the batch command's numbers. The Open
//! Inference Protocol (KServe V2: health, model metadata and readiness, inference) in
//! [`oip`], `POST /predict` (a CSV in, the batch command's output out) in [`predict`],
//! `/metrics` in [`metrics`]; [`reload`] holds the model in service and swaps it on SIGHUP or a
//! changed file, and [`drain`] stops the server on SIGTERM without dropping a request;
//! [`accept`] opens the connections, within a deadline for headers and a cap on their number.
//!
//! The model is loaded before the listener opens, so readiness is true from the first answer.
//! Every route predicts through a [`Predictor`](crate::model::predictor::Predictor) built when
//! the model is loaded, as the batch command does, so each kind of model it scores is served.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{FromRequest, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::json;

use crate::cli::ServeArgs;
use crate::error::{Error, Outcome, Result};
use crate::log::Logger;
use crate::serve::metrics::Metrics;
use crate::serve::reload::{Loaded, Slot};

pub mod accept;
pub mod drain;
pub mod metrics;
pub mod oip;
pub mod predict;
pub mod reload;

/// How long a client may take to send a request's body, so a slow one cannot hold its memory.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Bodies at least this large are scored on a blocking thread, not on the threads that
/// answer other connections.
const INLINE_BYTES: usize = 64 * 1024;

/// What every route shares: the model in service, readiness and metrics.
#[derive(Debug)]
pub struct Server {
    /// The name the model is served under (`/v2/models/{name}`).
    pub name: String,
    /// The model file's path, read again on a reload.
    pub model_path: String,
    /// The model in service.
    pub slot: Slot,
    /// False until the listener opens and once a drain starts.
    pub ready: AtomicBool,
    /// What the server has done.
    pub metrics: Metrics,
    /// The largest request body accepted.
    pub max_body: usize,
    /// Where log lines go.
    pub log: Logger,
    /// Whether each request gets a log line.
    pub log_requests: bool,
    /// Permits to score a large body: one per CPU.
    pub large: tokio::sync::Semaphore,
    /// Bytes of request bodies that may be held at once, whatever the number of clients:
    /// memory stays bounded, and a request waits for room rather than the process growing.
    pub budget: tokio::sync::Semaphore,
    /// The budget's size.
    pub budget_bytes: usize,
}

/// The budget of bytes in flight: four bodies at the limit, and at least 4 MiB.
pub fn budget_bytes(max_body: usize) -> usize {
    max_body.saturating_mul(4).max(4 << 20)
}

impl Server {
    /// Ok when ready; 503 when not.
    pub fn readiness(&self) -> std::result::Result<(), ApiError> {
        match self.ready.load(Ordering::SeqCst) {
            true => Ok(()),
            false => Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: the server is shutting down",
            )),
        }
    }

    /// Ok when `name` is the model served; 404 when not.
    pub fn check_name(&self, name: &str) -> std::result::Result<(), ApiError> {
        match name == self.name {
            true => Ok(()),
            false => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("unknown model {name:?}: this server serves {:?}", self.name),
            )),
        }
    }
}

/// An error answer: a status and the protocol's `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong, for the client.
    pub message: String,
}

impl ApiError {
    /// An error with `status`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// A 400: the request is wrong.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.status, json!({ "error": self.message }).to_string())
    }
}

/// A response with a JSON `body`.
pub fn json_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A request's body, read whole within `--max-body-bytes` and `BODY_TIMEOUT`; reading it is
/// left to the handler, after the cheap checks (the model's name) have passed.
pub struct Body(Request);

impl FromRequest<Arc<Server>> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &Arc<Server>) -> std::result::Result<Body, ApiError> {
        Ok(Body(req))
    }
}

impl Body {
    /// Reads the body whole, within the server's budget of bytes in flight (waiting for room
    /// in it): 413 past `--max-body-bytes` (at once when its length says so), 408 when the
    /// client is too slow. The budget's share is held until the answer is made.
    pub async fn read(self, server: &Server) -> std::result::Result<Read<'_>, ApiError> {
        let limit = server.max_body;
        let too_large = || {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is over the limit of {limit} bytes (--max-body-bytes)"),
            )
        };
        let claimed = self
            .0
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if claimed.is_some_and(|length| length > limit as u64) {
            return Err(too_large());
        }
        // A body without a length may take up to the limit.
        let share = claimed.map_or(limit, |length| length as usize).max(1);
        let share = u32::try_from(share.min(server.budget_bytes)).unwrap_or(u32::MAX);
        let permit = server
            .budget
            .acquire_many(share)
            .await
            .expect("the budget is never closed");
        let limited = Limited::new(self.0.into_body(), limit);
        match tokio::time::timeout(BODY_TIMEOUT, limited.collect()).await {
            Err(_) => Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {} s",
                    BODY_TIMEOUT.as_secs()
                ),
            )),
            Ok(Err(err)) if err.is::<LengthLimitError>() => Err(too_large()),
            Ok(Err(err)) => Err(ApiError::bad_request(format!(
                "the request body could not be read: {err}"
            ))),
            Ok(Ok(collected)) => Ok(Read {
                bytes: collected.to_bytes(),
                _share: permit,
            }),
        }
    }
}

impl Server {
    /// Runs `work` (a request of `size` bytes): inline when small, else on a blocking thread
    /// so the threads answering other connections stay free, one large request per CPU at a
    /// time, so memory stays bounded by the CPUs rather than by the requests waiting.
    pub async fn on_cpu<T: Send + 'static>(
        &self,
        size: usize,
        work: impl FnOnce() -> std::result::Result<T, ApiError> + Send + 'static,
    ) -> std::result::Result<T, ApiError> {
        if size < INLINE_BYTES {
            return work();
        }
        let _permit = self
            .large
            .acquire()
            .await
            .expect("the semaphore is never closed");
        tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("scoring failed: {e}"),
            ))
        })
    }
}

/// The routes, with metrics and request logs around each.
pub fn router(server: Arc<Server>) -> Router {
    Router::new()
        .route("/v2", get(server_metadata))
        .route("/v2/health/live", get(oip::live))
        .route("/v2/health/ready", get(oip::ready))
        .route("/v2/models/{name}", get(oip::metadata))
        .route("/v2/models/{name}/ready", get(oip::model_ready))
        .route("/v2/models/{name}/infer", post(oip::infer))
        .route("/predict", post(predict::handle))
        .route("/metrics", get(render_metrics))
        .route_layer(middleware::from_fn_with_state(server.clone(), observe))
        .fallback(not_found)
        .with_state(server)
}

/// `GET /v2`: the server's name, version and protocol extensions (none).
async fn server_metadata() -> Response {
    let body = json!({
        "name": "batch_inference",
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": [],
    });
    json_response(StatusCode::OK, body.to_string())
}

/// `GET /metrics`.
async fn render_metrics(State(server): State<Arc<Server>>) -> Response {
    let mut response = server.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(metrics::CONTENT_TYPE),
    );
    response
}

/// Any other path.
async fn not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no route for {method} {}", uri.path()),
    )
}

/// Counts and times each request by its route, and logs it under `--log-requests`.
async fn observe(
    State(server): State<Arc<Server>>,
    matched: Option<MatchedPath>,
    req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = matched.map_or_else(|| "other".to_string(), |m| m.as_str().to_string());
    let line = server
        .log_requests
        .then(|| format!("{} {}", req.method(), req.uri().path()));
    let response = next.run(req).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    server.metrics.observe(&route, status, elapsed);
    if let Some(line) = line {
        server.log.info(&format!(
            "{line} {status} {:.3} ms",
            elapsed.as_secs_f64() * 1000.0
        ));
    }
    response
}

/// A body read whole, and its share of the budget of bytes in flight, held while it lives.
pub struct Read<'a> {
    /// The body.
    pub bytes: Bytes,
    _share: tokio::sync::SemaphorePermit<'a>,
}

/// Runs `batch_inference serve`: loads the model, listens, serves until SIGTERM or SIGINT,
/// then drains.
pub fn serve(args: &ServeArgs, log: &Logger) -> Result<Outcome> {
    log.info(&format!("Loading model from: {}", args.model));
    let loaded = Loaded::read(&args.model)?;
    let metrics = Metrics::new();
    metrics.serving(&args.name, &loaded);
    let server = Arc::new(Server {
        name: args.name.clone(),
        model_path: args.model.clone(),
        slot: Slot::new(loaded),
        ready: AtomicBool::new(false),
        metrics,
        max_body: args.max_body_bytes,
        log: *log,
        log_requests: args.log_requests,
        budget: tokio::sync::Semaphore::new(budget_bytes(args.max_body_bytes)),
        budget_bytes: budget_bytes(args.max_body_bytes),
        large: tokio::sync::Semaphore::new(
            std::thread::available_parallelism().map_or(1, |n| n.get()),
        ),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("the HTTP server", "start", e))?;
    let outcome = runtime.block_on(drain::run(server, args));
    // Blocking threads still scoring past the deadline are not waited for.
    runtime.shutdown_timeout(Duration::from_millis(100));
    outcome
}
