//! What a scoring run reports when it ends: its figures pushed to a Pushgateway (here a small
//! HTTP server of the test's own, on 127.0.0.1), and the one-line JSON summary of the
//! termination log. Neither may change the run's exit code.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::util::{sha256_hex, Workdir};

/// One request as the server received it.
struct Received {
    request_line: String,
    headers: Vec<String>,
    body: String,
}

/// A one-request HTTP server on a free port of 127.0.0.1 that answers with `status`.
struct Gateway {
    url: String,
    handle: JoinHandle<Option<Received>>,
}

impl Gateway {
    fn start(status: &'static str) -> Gateway {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        listener.set_nonblocking(true).unwrap();
        let handle = thread::spawn(move || {
            // Bounded: the run connects within seconds or never does.
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut stream = loop {
                match listener.accept() {
                    Ok((stream, _)) => break stream,
                    Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                    Err(_) => return None,
                }
            };
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let received = read_request(&mut stream)?;
            let body = "boom";
            let answer = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(answer.as_bytes()).ok()?;
            Some(received)
        });
        Gateway { url, handle }
    }

    /// The request the server got (panics if none came).
    fn received(self) -> Received {
        self.handle
            .join()
            .unwrap()
            .expect("the Pushgateway got no request")
    }
}

/// Reads one request: its head, then a body of its Content-Length.
fn read_request(stream: &mut TcpStream) -> Option<Received> {
    let mut data = Vec::new();
    let mut buffer = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let n = stream.read(&mut buffer).ok()?;
        if n == 0 || data.len() > 1 << 20 {
            return None;
        }
        data.extend_from_slice(&buffer[..n]);
    };
    let head = String::from_utf8(data[..head_end].to_vec()).ok()?;
    let mut lines = head.split("\r\n").map(String::from);
    let request_line = lines.next()?;
    let headers: Vec<String> = lines.collect();
    let length: usize = headers
        .iter()
        .find_map(|h| h.strip_prefix("Content-Length: "))?
        .parse()
        .ok()?;
    let mut body = data[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut buffer).ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&buffer[..n]);
    }
    Some(Received {
        request_line,
        headers,
        body: String::from_utf8(body).ok()?,
    })
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The value of the metric sample named `name` in `body`, as written.
fn raw<'a>(body: &'a str, name: &str) -> &'a str {
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in:\n{body}"))
}

/// The value of the metric sample named `name` in `body`.
fn sample(body: &str, name: &str) -> f64 {
    raw(body, name).parse().unwrap()
}

/// The seconds of the run's summary log line, `Scored N rows in S s`.
fn logged_seconds(stderr: &str) -> f64 {
    let after = stderr.split(" rows in ").nth(1).expect(stderr);
    after.split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn a_run_pushes_its_figures_under_its_job_with_the_last_success() {
    let wd = Workdir::new("report_push");
    let gateway = Gateway::start("200 OK");
    let url = gateway.url.clone();
    let before = now();
    let run = wd.ok(&["--metrics-push", &gateway.url, "--metrics-job", "nightly"]);
    let after = now();
    let got = gateway.received();
    let rows = run.stdout().lines().count() - 1;
    assert_eq!(rows, 51, "data/test.csv's rows");
    assert_eq!(got.request_line, "POST /metrics/job/nightly HTTP/1.1");
    assert!(got
        .headers
        .contains(&"Content-Type: text/plain; version=0.0.4; charset=utf-8".to_string()));
    let lines: Vec<&str> = got.body.lines().filter(|l| !l.starts_with('#')).collect();
    let seconds = raw(&got.body, "batch_inference_run_duration_seconds");
    let model = sha256_hex(&std::fs::read(wd.path("model/model.bin")).unwrap());
    let success = raw(&got.body, "batch_inference_last_success_timestamp_seconds");
    assert_eq!(
        lines,
        [
            format!("batch_inference_rows_scored {rows}"),
            "batch_inference_rows_rejected 0".to_string(),
            "batch_inference_exit_code 0".to_string(),
            format!("batch_inference_model_info{{sha256=\"{model}\"}} 1"),
            format!("batch_inference_run_duration_seconds {seconds}"),
            format!("batch_inference_last_success_timestamp_seconds {success}"),
        ]
    );
    let (seconds, success): (f64, f64) = (seconds.parse().unwrap(), success.parse().unwrap());
    // The push is made after the summary line is logged, so it counts at least those seconds.
    assert!(
        seconds + 0.0005 >= logged_seconds(&run.stderr()),
        "{seconds}"
    );
    assert!(
        before <= success && success <= after,
        "{before} {success} {after}"
    );
    assert!(got.body.ends_with("# EOF\n"));
    assert!(run
        .stderr()
        .contains(&format!("Pushed the run's metrics to {url}")));
}

#[test]
fn a_failed_run_pushes_its_exit_code_but_no_rows_and_no_success() {
    let wd = Workdir::new("report_push_failed");
    let gateway = Gateway::start("200 OK");
    let run = wd.fails(
        &["--data", "missing.csv", "--metrics-push", &gateway.url],
        5,
    );
    let got = gateway.received();
    assert_eq!(
        got.request_line,
        "POST /metrics/job/batch_inference HTTP/1.1"
    );
    assert_eq!(sample(&got.body, "batch_inference_exit_code"), 5.0);
    assert!(!got.body.contains("batch_inference_rows_"), "{}", got.body);
    assert!(!got.body.contains("last_success"), "{}", got.body);
    assert!(run.error().starts_with("missing.csv: cannot open"));
}

#[test]
fn a_sharded_run_pushes_under_its_shard_index_from_the_environment() {
    let wd = Workdir::new("report_push_shard");
    wd.mkdir("out");
    let gateway = Gateway::start("202 Accepted");
    let mut cmd = wd.command(&["--output", "out/part-{index}.csv"]);
    cmd.env("SHARD_COUNT", "2")
        .env("JOB_COMPLETION_INDEX", "1")
        .env("METRICS_PUSH_URL", &gateway.url)
        .env("METRICS_JOB", "scores");
    wd.output(&mut cmd).assert_code(0);
    let got = gateway.received();
    assert_eq!(
        got.request_line,
        "POST /metrics/job/scores/shard/1 HTTP/1.1"
    );
    // Shard 1 writes no header: each line of its part is a row it scored.
    let rows = wd.read("out/part-1.csv").lines().count();
    assert!(rows > 0);
    assert_eq!(
        sample(&got.body, "batch_inference_rows_scored"),
        rows as f64
    );
}

#[test]
fn a_pushgateway_that_answers_500_is_a_warning_and_the_run_still_exits_0() {
    let wd = Workdir::new("report_push_500");
    let plain = wd.ok(&[]).stdout();
    let gateway = Gateway::start("500 Internal Server Error");
    let url = gateway.url.clone();
    let run = wd.ok(&["--metrics-push", &url]);
    gateway.received();
    assert_eq!(run.stdout(), plain);
    assert!(
        run.stderr().contains(&format!(
            "batch_inference: warning: --metrics-push {url}: the Pushgateway answered 500 \
             Internal Server Error: boom; the metrics were not pushed (the run's exit code \
             stands)\n"
        )),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_pushgateway_that_does_not_listen_is_a_warning_and_the_run_still_exits_0() {
    let wd = Workdir::new("report_push_refused");
    // A port that was free a moment ago and has no listener now.
    let address = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{address}");
    let run = wd.ok(&["--metrics-push", &url]);
    let expected =
        format!("batch_inference: warning: --metrics-push {url}: cannot connect to {address}: ");
    assert!(run.stderr().contains(&expected), "{}", run.stderr());
}

#[test]
fn a_pushgateway_whose_name_does_not_resolve_is_a_warning_and_the_run_still_exits_0() {
    let wd = Workdir::new("report_push_unresolved");
    // `.invalid` is reserved never to resolve (RFC 2606).
    let url = "http://no-such-host.invalid:9091";
    let run = wd.ok(&["--metrics-push", url]);
    let stderr = run.stderr();
    let warning = stderr
        .lines()
        .find(|l| l.contains("warning"))
        .unwrap_or_else(|| panic!("no warning in:\n{stderr}"));
    assert!(
        warning.starts_with(&format!(
            "batch_inference: warning: --metrics-push {url}: cannot resolve \
             no-such-host.invalid:9091: "
        )),
        "{warning}"
    );
    assert!(
        warning.ends_with("; the metrics were not pushed (the run's exit code stands)"),
        "{warning}"
    );
    assert_eq!(
        run.stdout().lines().count(),
        52,
        "the predictions are written"
    );
}

#[test]
fn a_push_url_that_is_not_http_is_a_usage_error_before_anything_runs() {
    let wd = Workdir::new("report_push_usage");
    let run = wd.fails(
        &["--output", "out.csv", "--metrics-push", "https://gw:9091"],
        2,
    );
    assert_eq!(
        run.error(),
        "--metrics-push https://gw:9091: https is not supported: a Pushgateway is reached \
         inside the cluster, over plain http:// (such as http://pushgateway:9091)"
    );
    let run = wd.fails(&["--output", "out.csv", "--metrics-push", "gw:9091"], 2);
    assert_eq!(
        run.error(),
        "--metrics-push gw:9091: expected an http:// URL of a Pushgateway, such as \
         http://pushgateway:9091"
    );
    assert!(!wd.path("out.csv").exists());
    assert!(
        !run.stderr().contains("Running inference"),
        "{}",
        run.stderr()
    );
}

#[test]
fn the_termination_log_gets_one_json_line_with_the_runs_figures() {
    let wd = Workdir::new("report_termination_log");
    wd.create("termination-log", "a stale message from an earlier run\n");
    let log = wd.path("termination-log");
    let mut cmd = wd.command(&[]);
    cmd.env("BATCH_INFERENCE_TERMINATION_LOG", &log);
    let run = wd.output(&mut cmd);
    run.assert_code(0);
    let text = wd.read("termination-log");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.ends_with('\n'));
    let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
    let sha256: String = Sha256::digest(std::fs::read(wd.path("model/model.bin")).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let rows = run.stdout().lines().count() as u64 - 1;
    assert_eq!(summary["status"], "success");
    assert_eq!(summary["exit_code"], 0);
    assert_eq!(summary["rows"], rows);
    assert_eq!(summary["rejects"], 0);
    assert_eq!(summary["model_sha256"], sha256.as_str());
    assert!(summary["seconds"].as_f64().unwrap() >= logged_seconds(&run.stderr()) - 0.0005);
    let keys: Vec<&String> = summary.as_object().unwrap().keys().collect();
    assert_eq!(
        keys.len(),
        6,
        "status, exit_code, rows, rejects, seconds, model_sha256: {text}"
    );
}

#[test]
fn a_failed_run_writes_its_error_to_the_termination_log_and_a_missing_log_is_left_alone() {
    let wd = Workdir::new("report_termination_log_failed");
    wd.create("termination-log", "");
    wd.create("bad.csv", "CRIM\n1\n");
    let mut cmd = wd.command(&["--data", "bad.csv"]);
    cmd.env(
        "BATCH_INFERENCE_TERMINATION_LOG",
        wd.path("termination-log"),
    );
    let run = wd.output(&mut cmd);
    run.assert_code(3);
    let summary: serde_json::Value = serde_json::from_str(&wd.read("termination-log")).unwrap();
    assert_eq!(summary["status"], "failed");
    assert_eq!(summary["exit_code"], 3);
    assert_eq!(summary["rows"], serde_json::Value::Null);
    assert_eq!(summary["error"], run.error().as_str());
    assert_eq!(summary["model_sha256"].as_str().unwrap().len(), 64);

    let mut cmd = wd.command(&[]);
    cmd.env("BATCH_INFERENCE_TERMINATION_LOG", wd.path("absent/log"));
    let run = wd.output(&mut cmd);
    run.assert_code(0);
    assert!(!wd.path("absent").exists());
    assert!(!run.stderr().contains("warning"), "{}", run.stderr());
}

#[test]
fn a_termination_log_that_is_the_data_is_refused_before_anything_is_written() {
    let wd = Workdir::new("report_log_is_data");
    let before = std::fs::read(wd.path("data/test.csv")).unwrap();
    let mut cmd = wd.command(&["--data", "data/test.csv"]);
    cmd.env("BATCH_INFERENCE_TERMINATION_LOG", wd.path("data/test.csv"));
    let run = wd.output(&mut cmd);
    assert_eq!(run.output.status.code(), Some(2), "{}", run.stderr());
    assert!(
        run.stderr().contains(
            "is the same file as --data data/test.csv: it would be destroyed; name another file \
             for the run's summary"
        ),
        "{}",
        run.stderr()
    );
    assert_eq!(std::fs::read(wd.path("data/test.csv")).unwrap(), before);
}
