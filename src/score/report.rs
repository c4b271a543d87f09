//! What a scoring run reports when it ends, for whoever watches the Job rather than its logs:
//! its figures pushed to a Prometheus Pushgateway ([`push`](crate::score::push), with
//! `--metrics-push`), and a one-line JSON summary in the termination-log file that Kubernetes
//! shows in `kubectl describe pod` (`/dev/termination-log` when it exists).
//!
//! A run that fails reports what it knows (its exit code, its seconds, the model's SHA-256 if it
//! was read) and leaves out what it does not (rows). Neither report ever changes the run's
//! exit code: a failure to write one is a warning.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::sync::atomic::AtomicU64;
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Serialize;

use crate::error::{Outcome, Result, EXIT_OK};
use crate::log::Logger;
use crate::score::push::PushTarget;

/// Where Kubernetes reads a container's termination message from, by default.
const TERMINATION_LOG: &str = "/dev/termination-log";

/// The environment variable that names another termination-log file (for tests, or a Pod
/// whose `terminationMessagePath` is not the default).
pub const TERMINATION_LOG_ENV: &str = "BATCH_INFERENCE_TERMINATION_LOG";

/// What a run learnt as it went; what it did not get to stays `None`.
#[derive(Debug, Default)]
pub struct Figures {
    /// Rows scored.
    pub rows: Option<u64>,
    /// Rows set aside under `--on-error skip`.
    pub rejected: Option<u64>,
    /// SHA-256 (hex) of the model file's bytes, as they were decoded
    /// ([`LoadedModel`](crate::model::LoadedModel)).
    pub model_sha256: Option<String>,
    /// The shard's index, when sharded.
    pub shard: Option<u64>,
}

/// The labels of the model's info gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    sha256: String,
}

/// The termination-log line, in this field order.
#[derive(Debug, Serialize)]
struct Summary<'a> {
    status: &'static str,
    exit_code: i32,
    rows: Option<u64>,
    rejects: Option<u64>,
    seconds: f64,
    model_sha256: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shard: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// A finished run: its figures, how it ended, and how long it took.
#[derive(Debug)]
pub struct Finished<'a> {
    figures: &'a Figures,
    exit_code: i32,
    status: &'static str,
    error: Option<String>,
    seconds: f64,
}

impl<'a> Finished<'a> {
    /// The run that learnt `figures` and ended with `result` after `seconds`; the exit code is
    /// the one main.rs makes of it (the reader of the output going away is a success).
    pub fn new(figures: &'a Figures, result: &Result<Outcome>, seconds: f64) -> Finished<'a> {
        let (exit_code, error) = match result {
            Ok(outcome) => (outcome.exit_code(), None),
            Err(err) if err.is_broken_pipe() => (EXIT_OK, None),
            Err(err) => (err.exit_code(), Some(err.to_string())),
        };
        let status = match (result, exit_code) {
            (Ok(Outcome::RowsRejected), _) => "rows_rejected",
            (_, EXIT_OK) => "success",
            _ => "failed",
        };
        Finished {
            figures,
            exit_code,
            status,
            error,
            seconds,
        }
    }

    /// The run's metrics in the Prometheus text format, `now` (seconds since the Unix epoch)
    /// being the last success when the run succeeded.
    pub fn metrics(&self, now: f64) -> String {
        let mut registry = Registry::with_prefix("batch_inference");
        let mut whole = |name: &str, help: &str, value: i64| {
            let gauge = Gauge::<i64>::default();
            gauge.set(value);
            registry.register(name, help, gauge);
        };
        if let Some(rows) = self.figures.rows {
            whole("rows_scored", "Rows the run scored", rows as i64);
        }
        if let Some(rejected) = self.figures.rejected {
            whole(
                "rows_rejected",
                "Rows the run set aside (--on-error skip)",
                rejected as i64,
            );
        }
        whole(
            "exit_code",
            "The run's exit code (0 success, 6 rows rejected; see --help)",
            self.exit_code.into(),
        );
        // The model's identity as serve's `/metrics` shows it: an info gauge, its digest a label.
        if let Some(sha256) = &self.figures.model_sha256 {
            let info = Family::<ModelLabels, Gauge>::default();
            info.get_or_create(&ModelLabels {
                sha256: sha256.clone(),
            })
            .set(1);
            registry.register(
                "model_info",
                "The model the run used: 1 for its SHA-256",
                info,
            );
        }
        let mut real = |name: &str, help: &str, value: f64| {
            let gauge = Gauge::<f64, AtomicU64>::default();
            gauge.set(value);
            registry.register(name, help, gauge);
        };
        real("run_duration_seconds", "Seconds the run took", self.seconds);
        if self.status == "success" {
            real(
                "last_success_timestamp_seconds",
                "When the last successful run ended, in seconds since the Unix epoch",
                now,
            );
        }
        let mut text = String::new();
        encode(&mut text, &registry).expect("writing to a String cannot fail");
        text
    }

    /// The one-line JSON summary of the run, ended by a newline.
    pub fn summary_line(&self) -> String {
        let summary = Summary {
            status: self.status,
            exit_code: self.exit_code,
            rows: self.figures.rows,
            rejects: self.figures.rejected,
            seconds: self.seconds,
            model_sha256: self.figures.model_sha256.as_deref(),
            shard: self.figures.shard,
            error: self.error.clone(),
        };
        serde_json::to_string(&summary).expect("a summary of numbers and strings serializes") + "\n"
    }
}

/// The termination-log file (`BATCH_INFERENCE_TERMINATION_LOG`, else `/dev/termination-log`)
/// when it exists; none outside Kubernetes.
pub fn termination_log() -> Option<String> {
    let path = std::env::var(TERMINATION_LOG_ENV).unwrap_or_else(|_| TERMINATION_LOG.into());
    std::path::Path::new(&path).exists().then_some(path)
}

/// Reports the finished run `run`: pushes its metrics to `push` when given, and writes its
/// summary to the termination log when that file exists. Failures are warnings only.
pub fn report(
    run: &Finished,
    push: Option<&PushTarget>,
    termination_log: Option<&str>,
    log: &Logger,
) {
    if let Some(target) = push {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        match target.push(&run.metrics(now)) {
            Ok(()) => log.info(&format!("Pushed the run's metrics to {}", target.url)),
            Err(why) => log.warn(&format!(
                "--metrics-push {}: {why}; the metrics were not pushed (the run's exit code \
                 stands)",
                target.url
            )),
        }
    }
    // Only an existing file, checked by the plan, is written: outside Kubernetes there is none.
    let Some(path) = termination_log else {
        return;
    };
    let written = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .and_then(|mut file| file.write_all(run.summary_line().as_bytes()));
    match written {
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => log.warn(&format!("{path}: cannot write the run's summary: {e}")),
        Ok(()) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn a_success_sets_the_last_success_and_a_failure_pushes_only_what_it_knows() {
        let figures = Figures {
            rows: Some(102),
            rejected: Some(0),
            model_sha256: Some("ab".into()),
            shard: None,
        };
        let run = Finished::new(&figures, &Ok(Outcome::Success), 0.5);
        assert_eq!(
            run.metrics(1_700_000_000.25),
            "# HELP batch_inference_rows_scored Rows the run scored.\n\
             # TYPE batch_inference_rows_scored gauge\n\
             batch_inference_rows_scored 102\n\
             # HELP batch_inference_rows_rejected Rows the run set aside (--on-error skip).\n\
             # TYPE batch_inference_rows_rejected gauge\n\
             batch_inference_rows_rejected 0\n\
             # HELP batch_inference_exit_code The run's exit code (0 success, 6 rows rejected; see --help).\n\
             # TYPE batch_inference_exit_code gauge\n\
             batch_inference_exit_code 0\n\
             # HELP batch_inference_model_info The model the run used: 1 for its SHA-256.\n\
             # TYPE batch_inference_model_info gauge\n\
             batch_inference_model_info{sha256=\"ab\"} 1\n\
             # HELP batch_inference_run_duration_seconds Seconds the run took.\n\
             # TYPE batch_inference_run_duration_seconds gauge\n\
             batch_inference_run_duration_seconds 0.5\n\
             # HELP batch_inference_last_success_timestamp_seconds When the last successful run ended, in seconds since the Unix epoch.\n\
             # TYPE batch_inference_last_success_timestamp_seconds gauge\n\
             batch_inference_last_success_timestamp_seconds 1700000000.25\n\
             # EOF\n"
        );
        let unknown = Figures::default();
        let failed = Err(Error::Usage("bad".into()));
        let run = Finished::new(&unknown, &failed, 0.25);
        let text = run.metrics(1.0);
        assert!(
            !text.contains("_rows_") && !text.contains("last_success"),
            "{text}"
        );
        assert!(text.contains("\nbatch_inference_exit_code 2\n"), "{text}");
        assert_eq!(
            run.summary_line(),
            "{\"status\":\"failed\",\"exit_code\":2,\"rows\":null,\"rejects\":null,\
             \"seconds\":0.25,\"model_sha256\":null,\"error\":\"bad\"}\n"
        );
    }

    #[test]
    fn rejected_rows_are_not_a_success() {
        let figures = Figures {
            rows: Some(100),
            rejected: Some(2),
            model_sha256: None,
            shard: Some(1),
        };
        let run = Finished::new(&figures, &Ok(Outcome::RowsRejected), 1.0);
        assert!(!run.metrics(1.0).contains("last_success"));
        assert_eq!(
            run.summary_line(),
            "{\"status\":\"rows_rejected\",\"exit_code\":6,\"rows\":100,\"rejects\":2,\
             \"seconds\":1.0,\"model_sha256\":null,\"shard\":1}\n"
        );
    }
}
