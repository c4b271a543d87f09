//! `/metrics`: what the server has done, in the Prometheus (OpenMetrics) text format. Requests
//! by route and status, their latency, the rows scored, reloads, and which model is serving
//! (its SHA-256, kind and load time), so a dashboard can tell two replicas' models apart.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::serve::reload::Loaded;

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    name: String,
    sha256: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    result: String,
}

type Latency = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// Every metric the server keeps, and the registry that renders them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Latency,
    rows: Counter,
    reloads: Family<ReloadLabels, Counter>,
    model: Family<ModelLabels, Gauge>,
    loaded_at: Gauge<f64, AtomicU64>,
}

/// Latency buckets from 50 µs to about 1.6 s, doubling: a 1-row answer takes tens of
/// microseconds, a body at the size limit tens of milliseconds.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

impl Metrics {
    /// Empty metrics.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("batch_inference");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: Latency = Family::new_with_constructor(latency_histogram);
        let rows = Counter::default();
        let reloads = Family::<ReloadLabels, Counter>::default();
        let model = Family::<ModelLabels, Gauge>::default();
        let loaded_at = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's arrival to its answer, by route",
            latency.clone(),
        );
        registry.register("rows_scored", "Rows predicted", rows.clone());
        registry.register(
            "model_reloads",
            "Model reloads (SIGHUP or a changed file), by result",
            reloads.clone(),
        );
        registry.register(
            "model_info",
            "The model in service: 1 for its name, SHA-256 and kind",
            model.clone(),
        );
        registry.register(
            "model_loaded_timestamp_seconds",
            "When the model in service was loaded, in seconds since the Unix epoch",
            loaded_at.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            rows,
            reloads,
            model,
            loaded_at,
        }
    }

    /// Counts a request to `route` answered with `status` after `elapsed`.
    pub fn observe(&self, route: &str, status: u16, elapsed: Duration) {
        let route = route.to_string();
        self.requests
            .get_or_create(&RequestLabels {
                route: route.clone(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels { route })
            .observe(elapsed.as_secs_f64());
    }

    /// Counts `rows` rows scored.
    pub fn scored(&self, rows: usize) {
        self.rows.inc_by(rows as u64);
    }

    /// Counts a reload that succeeded or failed.
    pub fn reloaded(&self, ok: bool) {
        let result = if ok { "success" } else { "failure" };
        self.reloads
            .get_or_create(&ReloadLabels {
                result: result.into(),
            })
            .inc();
    }

    /// Shows `loaded`, served as `name`, as the model in service.
    pub fn serving(&self, name: &str, loaded: &Loaded) {
        self.model.clear();
        self.model
            .get_or_create(&ModelLabels {
                name: name.into(),
                sha256: loaded.sha256.clone(),
                kind: loaded.model.kind().into(),
            })
            .set(1);
        self.loaded_at.set(loaded.loaded_at);
    }

    /// Every metric, as OpenMetrics text.
    pub fn render(&self) -> String {
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}
