//! Object storage against a real S3 API: moto's server (`python3 -m moto.server`, pinned in
//! tests/fixtures/requirements.txt) on 127.0.0.1 and a free port, started per test and
//! stopped when the test ends. Buckets and objects are made and read back with plain HTTP
//! requests (moto accepts unsigned ones); the binary signs its own as it would against S3.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{repeated_rows, sha256_hex, termination_summary, Run, Workdir};

/// A secret that must never appear in anything the binary prints.
const SECRET: &str = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYzzSECRET";

/// What the test's own requests send as credentials: moto checks who asks (an object written
/// by the binary's signed request is not anonymous's to read) but not the signature.
const AUTHORIZATION: &str = "Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00";

/// A moto server, killed when dropped.
struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    /// Starts moto on a free port of 127.0.0.1 and waits (at most 60 s) until it answers;
    /// `env` is added to its environment.
    fn start(env: &[(&str, &str)]) -> Moto {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // `python3 -m moto.server` is `moto_server`, found wherever pip put moto, even when
        // its script is not on the PATH (a pyenv shim not yet made).
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs (pip install -r tests/fixtures/requirements.txt installs moto)");
        let mut moto = Moto { child, port };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto's server exited with {status}: is moto installed (tests/fixtures/requirements.txt)?");
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "moto_server did not listen on port {port} within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One HTTP request; the status and the body.
    fn request(&self, method: &str, target: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let head = format!(
            "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\n{AUTHORIZATION}\r\nConnection: close\r\n\r\n",
            self.port,
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        let split = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("an HTTP response has a head");
        let head = String::from_utf8_lossy(&response[..split]).to_lowercase();
        let status = head[9..12].parse().unwrap();
        let mut body = response[split + 4..].to_vec();
        if head.contains("transfer-encoding: chunked") {
            body = unchunked(&body);
        }
        (status, body)
    }

    fn create_bucket(&self, bucket: &str) {
        let (status, body) = self.request("PUT", &format!("/{bucket}"), b"");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }

    fn put(&self, bucket: &str, key: &str, bytes: &[u8]) {
        let (status, body) = self.request("PUT", &format!("/{bucket}/{key}"), bytes);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }

    /// The object's bytes, or `None` when there is none.
    fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        match self.request("GET", &format!("/{bucket}/{key}"), b"") {
            (200, body) => Some(body),
            (404, _) => None,
            (status, body) => panic!("GET {key}: {status} {}", String::from_utf8_lossy(&body)),
        }
    }

    /// The multipart uploads in progress in `bucket` (the XML of ListMultipartUploads).
    fn pending_uploads(&self, bucket: &str) -> usize {
        let (status, body) = self.request("GET", &format!("/{bucket}?uploads"), b"");
        assert_eq!(status, 200);
        String::from_utf8_lossy(&body).matches("<Upload>").count()
    }

    /// The binary, run in `wd` with this server's endpoint and test credentials.
    fn command(&self, wd: &Workdir, args: &[&str]) -> Command {
        let mut cmd = wd.command(args);
        for (name, _) in std::env::vars() {
            if name.starts_with("AWS_") {
                cmd.env_remove(name);
            }
        }
        cmd.env("AWS_ENDPOINT_URL", self.endpoint())
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", SECRET);
        cmd
    }

    fn run(&self, wd: &Workdir, args: &[&str], code: i32) -> Run {
        let run = wd.output(&mut self.command(wd, args));
        run.assert_code(code);
        assert!(!run.stderr().contains(SECRET), "{}", run.stderr());
        run
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A chunked HTTP body, decoded.
fn unchunked(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n").unwrap();
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        body = &body[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

/// A moto server with bucket `bkt` holding the bundled data and model.
fn moto_with_data(wd: &Workdir) -> Moto {
    let moto = Moto::start(&[]);
    moto.create_bucket("bkt");
    moto.put(
        "bkt",
        "in/test.csv",
        &std::fs::read(wd.path("data/test.csv")).unwrap(),
    );
    moto.put(
        "bkt",
        "model.bin",
        &std::fs::read(wd.path("model/model.bin")).unwrap(),
    );
    moto
}

#[test]
fn scoring_s3_to_s3_writes_the_bytes_of_a_local_run() {
    let wd = Workdir::new("s3_to_s3");
    let moto = moto_with_data(&wd);
    let local = wd.ok(&["-q"]).output.stdout;
    let args = [
        "-q",
        "--data",
        "s3://bkt/in/test.csv",
        "--model",
        "s3://bkt/model.bin",
        "--output",
        "s3://bkt/out/predictions.csv",
    ];
    let run = moto.run(&wd, &args, 0);
    assert!(run.output.stdout.is_empty());
    assert_eq!(moto.get("bkt", "out/predictions.csv").unwrap(), local);
    assert_eq!(moto.pending_uploads("bkt"), 0);
}

#[test]
fn a_model_read_from_s3_is_reported_by_the_digest_of_the_local_file() {
    let wd = Workdir::new("s3_model_digest");
    let moto = moto_with_data(&wd);
    wd.create("termination-log", "");
    let mut cmd = moto.command(&wd, &["-q", "--model", "s3://bkt/model.bin"]);
    cmd.env(
        "BATCH_INFERENCE_TERMINATION_LOG",
        wd.path("termination-log"),
    );
    let run = wd.output(&mut cmd);
    run.assert_code(0);
    let local = sha256_hex(&std::fs::read(wd.path("model/model.bin")).unwrap());
    let summary = termination_summary(&wd, "termination-log");
    assert_eq!(summary["model_sha256"], local.as_str());
}

#[test]
fn gzip_and_zstd_objects_score_like_the_plain_object() {
    let wd = Workdir::new("s3_compressed");
    let moto = moto_with_data(&wd);
    let text = std::fs::read(wd.path("data/test.csv")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&text).unwrap();
    moto.put("bkt", "in/test.csv.gz", &gz.finish().unwrap());
    moto.put(
        "bkt",
        "in/test.csv.zst",
        &zstd::stream::encode_all(&text[..], 3).unwrap(),
    );
    let local = wd.ok(&["-q"]).output.stdout;
    for data in ["s3://bkt/in/test.csv.gz", "s3://bkt/in/test.csv.zst"] {
        let run = moto.run(&wd, &["-q", "--data", data], 0);
        assert_eq!(run.output.stdout, local, "{data}");
    }
}

#[test]
fn a_prefix_of_three_objects_is_one_input_in_key_order() {
    let wd = Workdir::new("s3_prefix");
    let moto = Moto::start(&[]);
    moto.create_bucket("bkt");
    let text = wd.read("data/test.csv");
    let (header, rows) = text.split_once('\n').unwrap();
    let rows: Vec<&str> = rows.lines().collect();
    let third = rows.len() / 3;
    let parts = [&rows[..third], &rows[third..2 * third], &rows[2 * third..]];
    // Keys listed out of order on purpose: the input is in key order, not upload order.
    for (i, part) in parts.iter().enumerate().rev() {
        let body = format!("{header}\n{}\n", part.join("\n"));
        moto.put("bkt", &format!("in/part-{i}.csv"), body.as_bytes());
    }
    let local = wd.ok(&["-q"]).output.stdout;
    let run = moto.run(&wd, &["-q", "--data", "s3://bkt/in/"], 0);
    assert_eq!(run.stdout(), String::from_utf8(local).unwrap());

    // An object with other columns is refused by name, before anything is scored.
    let other = format!(
        "{}\n{}\n",
        header.replacen(',', ";", 1),
        parts[0].join("\n")
    );
    moto.put("bkt", "in/part-3.csv", other.as_bytes());
    let run = moto.run(&wd, &["-q", "--data", "s3://bkt/in/"], 3);
    assert_eq!(
        run.error(),
        "s3://bkt/in/part-3.csv:1: its header is not the header of s3://bkt/in/part-0.csv, the first object under the prefix: every object under a prefix must have the same columns in the same order"
    );
}

#[test]
fn a_missing_bucket_or_object_is_an_io_error_naming_the_url_and_never_the_secret() {
    let wd = Workdir::new("s3_missing");
    let moto = moto_with_data(&wd);
    let run = moto.run(&wd, &["-q", "--data", "s3://nobucket/test.csv"], 5);
    assert!(
        run.error().starts_with("s3://nobucket/test.csv: cannot "),
        "{}",
        run.error()
    );
    let run = moto.run(&wd, &["-q", "--data", "s3://bkt/in/nothing.csv"], 5);
    assert!(
        run.error()
            .starts_with("s3://bkt/in/nothing.csv: cannot open: "),
        "{}",
        run.error()
    );
    let run = moto.run(&wd, &["-q", "--output", "s3://nobucket/p.csv"], 5);
    assert!(
        run.error().starts_with("s3://nobucket/p.csv: cannot "),
        "{}",
        run.error()
    );
    assert_eq!(moto.get("bkt", "p.csv"), None);
}

#[test]
fn wrong_credentials_are_an_io_error_naming_the_url_and_never_the_secret() {
    let wd = Workdir::new("s3_credentials");
    // With authentication enforced from the first request, moto knows no access key at all.
    let moto = Moto::start(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")]);
    let run = moto.run(&wd, &["-q", "--data", "s3://bkt/in/test.csv"], 5);
    let error = run.error();
    assert!(
        error.starts_with("s3://bkt/in/test.csv: cannot "),
        "{error}"
    );
    assert!(error.contains("403"), "{error}");
    let run = moto.run(&wd, &["-q", "--output", "s3://bkt/p.csv"], 5);
    assert!(
        run.error().starts_with("s3://bkt/p.csv: cannot "),
        "{}",
        run.error()
    );
}

#[test]
fn train_writes_its_model_to_s3_and_scoring_loads_it_from_there() {
    let wd = Workdir::new("s3_train");
    let moto = moto_with_data(&wd);
    moto.put(
        "bkt",
        "train.csv",
        &std::fs::read(wd.path("data/train.csv")).unwrap(),
    );
    let target = ["--target", "MEDV"];
    wd.mkdir("local");
    wd.ok(&[
        "-q",
        "train",
        "--data",
        "data/train.csv",
        target[0],
        target[1],
        "--out",
        "local/model.bin",
    ]);
    let args = [
        "-q",
        "train",
        "--data",
        "s3://bkt/train.csv",
        target[0],
        target[1],
        "--out",
        "s3://bkt/models/model.bin",
    ];
    moto.run(&wd, &args, 0);
    let local = std::fs::read(wd.path("local/model.bin")).unwrap();
    assert_eq!(moto.get("bkt", "models/model.bin").unwrap(), local);
    assert!(moto.get("bkt", "models/metadata.json").is_some());
    let run = moto.run(&wd, &["-q", "--model", "s3://bkt/models/model.bin"], 0);
    let with_local = wd.ok(&["-q", "--model", "local/model.bin"]).output.stdout;
    assert_eq!(run.output.stdout, with_local);
}

#[test]
fn a_run_stopped_by_sigterm_mid_upload_leaves_no_object_and_no_pending_upload() {
    let wd = Workdir::new("s3_sigterm");
    let moto = moto_with_data(&wd);
    // Enough rows that the predictions outgrow one 8 MiB part, so a multipart upload starts;
    // the input comes through a pipe held open, so the run is still going when it is stopped.
    let rows = repeated_rows("data/test.csv", 600_000);
    let mut cmd = moto.command(
        &wd,
        &["-q", "--data", "-", "--output", "s3://bkt/out/p.csv"],
    );
    cmd.stdin(Stdio::piped()).stderr(Stdio::piped());
    let mut child = Running(cmd.spawn().unwrap());
    let child = &mut child.0;
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(rows.as_bytes()).unwrap();
    let started = Instant::now();
    while moto.pending_uploads("bkt") == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no upload started"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    send_signal(child.id(), 15);
    let status = child.wait().unwrap();
    drop(stdin);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(143), "{stderr}");
    assert!(stderr.contains("stopped by SIGTERM"), "{stderr}");
    assert_eq!(moto.get("bkt", "out/p.csv"), None);
    assert_eq!(moto.pending_uploads("bkt"), 0);
}

/// A child process, killed if the test fails before it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends signal `signal` to process `pid` with kill(1).
fn send_signal(pid: u32, signal: i32) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn four_shards_of_one_object_read_by_ranges_add_up_to_the_unsharded_output() {
    let wd = Workdir::new("s3_shards");
    let moto = moto_with_data(&wd);
    moto.put(
        "bkt",
        "in/big.csv",
        repeated_rows("data/test.csv", 5000).as_bytes(),
    );
    let whole = moto
        .run(&wd, &["-q", "--data", "s3://bkt/in/big.csv"], 0)
        .output
        .stdout;
    let mut joined = Vec::new();
    for index in 0..4 {
        let index = index.to_string();
        let args = [
            "-q",
            "--data",
            "s3://bkt/in/big.csv",
            "--shard-count",
            "4",
            "--shard-index",
            &index,
            "--output",
            "s3://bkt/out/part-{index:05}.csv",
        ];
        moto.run(&wd, &args, 0);
        let key = format!("out/part-{index:0>5}.csv");
        let part = moto.get("bkt", &key).unwrap();
        assert!(!part.is_empty() && part.len() < whole.len() / 2, "{key}");
        joined.extend(part);
    }
    assert_eq!(joined, whole);
    // A rerun finds each shard's object and skips it, writing nothing.
    let args = [
        "--data",
        "s3://bkt/in/big.csv",
        "--shard-count",
        "4",
        "--shard-index",
        "2",
        "--output",
        "s3://bkt/out/part-{index:05}.csv",
    ];
    let run = moto.run(&wd, &args, 0);
    assert!(
        run.stderr().contains("s3://bkt/out/part-00002.csv exists"),
        "{}",
        run.stderr()
    );
}

#[test]
fn shards_of_a_prefix_take_its_objects_in_runs_and_add_up_to_the_unsharded_output() {
    let wd = Workdir::new("s3_prefix_shards");
    let moto = moto_with_data(&wd);
    let text = wd.read("data/test.csv");
    let (header, rows) = text.split_once('\n').unwrap();
    let rows: Vec<&str> = rows.lines().collect();
    for (i, part) in rows.chunks(rows.len() / 5 + 1).enumerate() {
        let body = format!("{header}\n{}\n", part.join("\n"));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(body.as_bytes()).unwrap();
        moto.put("bkt", &format!("parts/{i}.csv.gz"), &gz.finish().unwrap());
    }
    let whole = wd.ok(&["-q"]).output.stdout;
    let mut joined = Vec::new();
    for index in ["0", "1", "2"] {
        let args = [
            "-q",
            "--data",
            "s3://bkt/parts/",
            "--shard-count",
            "3",
            "--shard-index",
            index,
        ];
        joined.extend(moto.run(&wd, &args, 0).output.stdout);
    }
    assert_eq!(joined, whole);
}

#[test]
fn a_compressed_object_cannot_be_split_by_range_and_the_error_says_to_use_a_prefix() {
    let wd = Workdir::new("s3_compressed_shard");
    let moto = moto_with_data(&wd);
    let args = [
        "-q",
        "--data",
        "s3://bkt/in/test.csv.gz",
        "--shard-count",
        "2",
        "--shard-index",
        "0",
    ];
    let run = moto.run(&wd, &args, 2);
    assert_eq!(
        run.error(),
        "--shard-count cuts --data by byte ranges, but s3://bkt/in/test.csv.gz is gzip compressed and cannot be cut: put the compressed objects under a prefix and give it, ending in / (the shards then split it by object), or decompress it first"
    );
}

#[test]
fn an_output_under_the_input_prefix_is_refused_before_anything_is_read() {
    let wd = Workdir::new("s3_alias");
    let moto = moto_with_data(&wd);
    let run = moto.run(
        &wd,
        &[
            "-q",
            "--data",
            "s3://bkt/in/",
            "--output",
            "s3://bkt/in/p.csv",
        ],
        2,
    );
    assert_eq!(
        run.error(),
        "--output s3://bkt/in/p.csv is the same file as --data s3://bkt/in/: it would be destroyed; write the predictions elsewhere"
    );
}

/// A URL ending in `/` is a prefix: the client would drop the `/` and write or read the object
/// named like the folder (`--output s3://bkt/out/` wrote an object `out`, and `train --out` then
/// replaced it with the model). Every path that must be one object refuses it, before anything
/// is read or written.
#[test]
fn a_prefix_where_one_object_is_needed_is_a_usage_error_and_nothing_is_written() {
    let wd = Workdir::new("s3_prefix_as_object");
    let moto = moto_with_data(&wd);
    let output = "ends in /, so it names a prefix (a folder of objects), not an object: give the object to write, under it or elsewhere";
    let cases: [(&[&str], String); 4] = [
        (
            &["-q", "--output", "s3://bkt/out/"],
            format!("--output s3://bkt/out/ {output}"),
        ),
        (
            &["-q", "--on-error", "skip", "--rejects", "s3://bkt/out/"],
            format!("--rejects s3://bkt/out/ {output}"),
        ),
        (
            &["-q", "train", "--data", "data/train.csv", "--target", "MEDV", "--out", "s3://bkt/out/"],
            format!("--out s3://bkt/out/ {output}"),
        ),
        (
            &["-q", "--model", "s3://bkt/out/"],
            "s3://bkt/out/ ends in /, so it names a prefix (a folder of objects), and one object is needed here; name the object, as in s3://bkt/out/NAME".to_string(),
        ),
    ];
    for (args, message) in cases {
        let run = moto.run(&wd, args, 2);
        assert_eq!(run.error(), message, "{args:?}");
        assert!(run.output.stdout.is_empty(), "{args:?}");
    }
    for key in ["out", "out/", "metadata.json", "out/metadata.json"] {
        assert_eq!(moto.get("bkt", key), None, "{key}");
    }
}

/// DuckDB and polars expand `s3://b/in/*.csv`; here a URL names one object or a prefix, and the
/// error for a pattern says so.
#[test]
fn a_pattern_in_a_url_is_not_expanded_and_the_error_says_to_give_a_prefix() {
    let wd = Workdir::new("s3_pattern");
    let moto = moto_with_data(&wd);
    let run = moto.run(&wd, &["-q", "--data", "s3://bkt/in/*.csv"], 5);
    assert!(
        run.error().starts_with("s3://bkt/in/*.csv: cannot open: ")
            && run.error().ends_with(
                "; a URL is not a pattern: to read every object under a folder, give the prefix ending in /"
            ),
        "{}",
        run.error()
    );
    let run = moto.run(&wd, &["-q", "--data", "s3://bkt/in/none.csv"], 5);
    assert!(!run.error().contains("pattern"), "{}", run.error());
}

/// `s3://bucket/` is the bucket's root as a prefix: every object in it, in key order; an
/// output anywhere in that bucket lies under it and is refused.
#[test]
fn a_bucket_root_is_a_prefix_of_every_object_in_it() {
    let wd = Workdir::new("s3_bucket_root");
    let moto = Moto::start(&[]);
    moto.create_bucket("whole");
    let text = wd.read("data/test.csv");
    let (header, rows) = text.split_once('\n').unwrap();
    let rows: Vec<&str> = rows.lines().collect();
    let half = rows.len() / 2;
    moto.put(
        "whole",
        "b/second.csv",
        format!("{header}\n{}\n", rows[half..].join("\n")).as_bytes(),
    );
    moto.put(
        "whole",
        "a.csv",
        format!("{header}\n{}\n", rows[..half].join("\n")).as_bytes(),
    );
    let local = wd.ok(&["-q"]).stdout();
    let run = moto.run(&wd, &["-q", "--data", "s3://whole/"], 0);
    assert_eq!(run.stdout(), local);
    let args = [
        "-q",
        "--data",
        "s3://whole/",
        "--output",
        "s3://whole/p.csv",
    ];
    let run = moto.run(&wd, &args, 2);
    assert_eq!(
        run.error(),
        "--output s3://whole/p.csv is the same file as --data s3://whole/: it would be destroyed; write the predictions elsewhere"
    );
    let run = moto.run(&wd, &["-q", "--data", "s3://whole"], 2);
    assert_eq!(
        run.error(),
        "s3://whole: name a bucket and an object in it, as in s3://bucket/data/test.csv (or a prefix, ending in /)"
    );
}

#[test]
fn a_file_url_is_the_local_path_it_names() {
    let wd = Workdir::new("s3_file_url");
    let local = wd.ok(&["-q"]).output.stdout;
    let data = format!("file://{}", wd.path("data/test.csv").display());
    let output = format!("file://{}", wd.path("p.csv").display());
    wd.ok(&["-q", "--data", &data, "--output", &output]);
    assert_eq!(std::fs::read(wd.path("p.csv")).unwrap(), local);
}

/// The Parquet fixture (data/test.csv written by pyarrow in row groups of 10 rows: see
/// tests/fixtures/make_parquet_fixtures.py).
fn test_parquet() -> Vec<u8> {
    std::fs::read(crate::util::repo().join("tests/fixtures/parquet/test.parquet")).unwrap()
}

#[test]
fn a_parquet_object_scores_like_the_local_file_and_the_csv_and_writes_parquet_to_s3() {
    let wd = Workdir::new("s3_parquet");
    let moto = moto_with_data(&wd);
    wd.create("test.parquet", test_parquet());
    moto.put("bkt", "in/test.parquet", &test_parquet());
    // Named otherwise, it is known by its first bytes, as a file is.
    moto.put("bkt", "in/test.bin", &test_parquet());
    let csv = wd.ok(&["-q"]).output.stdout;
    let local = wd.ok(&["-q", "--data", "test.parquet"]).output.stdout;
    assert_eq!(local, csv);
    for data in ["s3://bkt/in/test.parquet", "s3://bkt/in/test.bin"] {
        let run = moto.run(&wd, &["-q", "--data", data], 0);
        assert_eq!(run.output.stdout, csv, "{data}");
    }
    wd.ok(&["-q", "--data", "test.parquet", "--output", "local.parquet"]);
    let args = [
        "-q",
        "--data",
        "s3://bkt/in/test.parquet",
        "--output",
        "s3://bkt/out/p.parquet",
    ];
    moto.run(&wd, &args, 0);
    let local = std::fs::read(wd.path("local.parquet")).unwrap();
    assert_eq!(moto.get("bkt", "out/p.parquet").unwrap(), local);
}

#[test]
fn four_shards_of_a_parquet_object_add_up_to_the_unsharded_output() {
    let wd = Workdir::new("s3_parquet_shards");
    let moto = moto_with_data(&wd);
    moto.put("bkt", "in/test.parquet", &test_parquet());
    let whole = moto
        .run(&wd, &["-q", "--data", "s3://bkt/in/test.parquet"], 0)
        .output
        .stdout;
    let mut joined = Vec::new();
    for index in ["0", "1", "2", "3"] {
        let args = [
            "-q",
            "--data",
            "s3://bkt/in/test.parquet",
            "--shard-count",
            "4",
            "--shard-index",
            index,
            "--output",
            "s3://bkt/out/part-{index}.csv",
        ];
        moto.run(&wd, &args, 0);
        let part = moto.get("bkt", &format!("out/part-{index}.csv")).unwrap();
        // Every shard has whole row groups of rows (the file has 11), the first the header.
        assert!(
            part.len() > whole.len() / 8 && part.len() < whole.len() / 2,
            "{index}"
        );
        joined.extend(part);
    }
    assert_eq!(joined, whole);
}

#[test]
fn a_prefix_of_parquet_objects_is_one_input_and_its_shards_add_up_to_it() {
    let wd = Workdir::new("s3_parquet_prefix");
    let moto = moto_with_data(&wd);
    for i in 0..3 {
        moto.put("bkt", &format!("pq/part-{i}.parquet"), &test_parquet());
    }
    let csv = wd.ok(&["-q"]).output.stdout;
    let (header, body) = csv.split_at(csv.iter().position(|&b| b == b'\n').unwrap() + 1);
    let expected = [header, body, body, body].concat();
    let whole = moto.run(&wd, &["-q", "--data", "s3://bkt/pq/"], 0);
    assert_eq!(whole.output.stdout, expected);
    let mut joined = Vec::new();
    for index in ["0", "1", "2", "3"] {
        let args = [
            "-q",
            "--data",
            "s3://bkt/pq/",
            "--shard-count",
            "4",
            "--shard-index",
            index,
        ];
        joined.extend(moto.run(&wd, &args, 0).output.stdout);
    }
    assert_eq!(joined, expected);
    // An object with other columns is refused by name, before anything is scored.
    moto.put(
        "bkt",
        "pq/part-3.parquet",
        &std::fs::read(crate::util::repo().join("tests/fixtures/parquet/not.parquet")).unwrap(),
    );
    let run = moto.run(&wd, &["-q", "--data", "s3://bkt/pq/"], 3);
    assert!(
        run.error()
            .starts_with("s3://bkt/pq/part-3.parquet: not a readable Parquet file ("),
        "{}",
        run.error()
    );
}

#[test]
fn training_on_a_parquet_object_writes_the_model_of_the_local_file() {
    let wd = Workdir::new("s3_parquet_train");
    let moto = moto_with_data(&wd);
    wd.create("test.parquet", test_parquet());
    moto.put("bkt", "in/test.parquet", &test_parquet());
    let features = "CRIM,ZN,INDUS,CHAS,NOX,RM,AGE,DIS,RAD,TAX,PTRATIO,B,LSTAT";
    let train = |data: &str, out: &str| {
        [
            "-q",
            "train",
            "--data",
            data,
            "--target",
            "MEDV",
            "--features",
            features,
            "--out",
            out,
        ]
        .map(String::from)
    };
    let local = train("test.parquet", "local.bin");
    wd.ok(&local.each_ref().map(String::as_str));
    let remote = train("s3://bkt/in/test.parquet", "remote.bin");
    moto.run(&wd, &remote.each_ref().map(String::as_str), 0);
    assert_eq!(
        std::fs::read(wd.path("remote.bin")).unwrap(),
        std::fs::read(wd.path("local.bin")).unwrap()
    );
    // Streaming with folds: a first pass counts the rows (by column ranges), the second fits
    // and takes the digest.
    let folds = ["--streaming", "--cv", "3"];
    let local = train("test.parquet", "local-cv.bin");
    let mut args: Vec<&str> = local.iter().map(String::as_str).collect();
    args.extend(folds);
    wd.ok(&args);
    let remote = train("s3://bkt/in/test.parquet", "remote-cv.bin");
    let mut args: Vec<&str> = remote.iter().map(String::as_str).collect();
    args.extend(folds);
    moto.run(&wd, &args, 0);
    assert_eq!(
        std::fs::read(wd.path("remote-cv.bin")).unwrap(),
        std::fs::read(wd.path("local-cv.bin")).unwrap()
    );
}

/// A proxy on 127.0.0.1 in front of moto that records each request the binary makes, as its
/// request line and `Range` header, and counts the bytes moto sends back. It reads requests
/// without a body (GET and HEAD) only, and serves at most 20 connections within 60 s.
struct Recording {
    port: u16,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    answered: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Recording {
    fn start(moto: &Moto) -> Recording {
        use std::sync::atomic::{AtomicU64, Ordering};
        use std::sync::{Arc, Mutex};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let upstream = moto.port;
        let requests = Arc::new(Mutex::new(Vec::new()));
        let answered = Arc::new(AtomicU64::new(0));
        let (seen, sent) = (Arc::clone(&requests), Arc::clone(&answered));
        std::thread::spawn(move || {
            let started = Instant::now();
            for client in listener.incoming().take(20) {
                if started.elapsed() > Duration::from_secs(60) {
                    return;
                }
                let Ok(mut client) = client else { continue };
                let mut server = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
                let mut back = client.try_clone().unwrap();
                let mut from_server = server.try_clone().unwrap();
                let sent = Arc::clone(&sent);
                std::thread::spawn(move || {
                    let mut buf = [0u8; 8192];
                    while let Ok(n @ 1..) = from_server.read(&mut buf) {
                        sent.fetch_add(n as u64, Ordering::Relaxed);
                        if back.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                });
                let seen = Arc::clone(&seen);
                std::thread::spawn(move || {
                    let mut head = Vec::new();
                    let mut byte = [0u8];
                    while client.read(&mut byte).unwrap_or(0) == 1 {
                        head.push(byte[0]);
                        if head.ends_with(b"\r\n\r\n") {
                            let text = String::from_utf8_lossy(&head).to_lowercase();
                            let line = text.lines().next().unwrap_or("").to_string();
                            let range = text
                                .lines()
                                .find_map(|l| l.strip_prefix("range: "))
                                .unwrap_or("whole");
                            seen.lock().unwrap().push(format!("{line} {range}"));
                            if server.write_all(&head).is_err() {
                                return;
                            }
                            head.clear();
                        }
                    }
                });
            }
        });
        Recording {
            port,
            requests,
            answered,
        }
    }
}

#[test]
fn training_on_a_parquet_object_reads_it_once_for_the_rows_and_the_digest() {
    let wd = Workdir::new("s3_parquet_train_once");
    let moto = moto_with_data(&wd);
    let bytes = test_parquet();
    moto.put("bkt", "in/test.parquet", &bytes);
    let proxy = Recording::start(&moto);
    let mut cmd = moto.command(
        &wd,
        &[
            "-q",
            "train",
            "--data",
            "s3://bkt/in/test.parquet",
            "--target",
            "MEDV",
            "--features",
            "CRIM,ZN,INDUS,CHAS,NOX,RM,AGE,DIS,RAD,TAX,PTRATIO,B,LSTAT",
            "--out",
            "m.bin",
        ],
    );
    cmd.env(
        "AWS_ENDPOINT_URL",
        format!("http://127.0.0.1:{}", proxy.port),
    );
    wd.output(&mut cmd).assert_code(0);
    let metadata: serde_json::Value =
        serde_json::from_slice(&std::fs::read(wd.path("metadata.json")).unwrap()).unwrap();
    assert_eq!(metadata["training_sha256"], sha256_hex(&bytes).as_str());
    // The object (27 kB) is inside the footer's GET of the last 64 KiB: that one GET is all.
    assert_eq!(
        *proxy.requests.lock().unwrap(),
        ["get /bkt/in/test.parquet http/1.1 bytes=-65536"]
    );
    let answered = proxy.answered.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        answered < bytes.len() as u64 + 4096,
        "{answered} bytes sent for an object of {}",
        bytes.len()
    );
}

#[test]
fn a_prefix_is_listed_once_for_the_check_of_its_kind_and_the_reading() {
    let wd = Workdir::new("s3_prefix_listed_once");
    let moto = moto_with_data(&wd);
    let text = wd.read("data/test.csv");
    let (header, rows) = text.split_once('\n').unwrap();
    let rows: Vec<&str> = rows.lines().collect();
    let half = rows.len() / 2;
    // Named without .csv, so the first object's start is looked at for the Parquet magic.
    for (i, part) in [&rows[..half], &rows[half..]].iter().enumerate() {
        let body = format!("{header}\n{}\n", part.join("\n"));
        moto.put("bkt", &format!("parts/{i}"), body.as_bytes());
    }
    let proxy = Recording::start(&moto);
    let mut cmd = moto.command(
        &wd,
        &["-q", "--data", "s3://bkt/parts/", "--output", "p.csv"],
    );
    cmd.env(
        "AWS_ENDPOINT_URL",
        format!("http://127.0.0.1:{}", proxy.port),
    );
    wd.output(&mut cmd).assert_code(0);
    wd.ok(&["-q", "--output", "local.csv"]);
    assert_eq!(wd.read("p.csv"), wd.read("local.csv"));
    let requests = proxy.requests.lock().unwrap().clone();
    let lists = requests
        .iter()
        .filter(|r| r.contains("list-type=2"))
        .count();
    assert_eq!(lists, 1, "{requests:#?}");
}

#[test]
fn a_missing_parquet_object_is_an_io_error_naming_the_url() {
    let wd = Workdir::new("s3_parquet_missing");
    let moto = moto_with_data(&wd);
    let run = moto.run(&wd, &["-q", "--data", "s3://bkt/in/nothing.parquet"], 5);
    assert!(
        run.error()
            .starts_with("s3://bkt/in/nothing.parquet: cannot open: "),
        "{}",
        run.error()
    );
}

/// A server on 127.0.0.1 that says an object has `body`'s size and, asked for it, sends
/// only its first half and closes the connection; it answers at most 20 requests within 60 s.
struct Dropping {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Dropping {
    fn start(body: Vec<u8>) -> Dropping {
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let stopped = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            let started = Instant::now();
            let mut answered = 0;
            while answered < 20 && started.elapsed() < Duration::from_secs(60) {
                if stopped.load(Ordering::Relaxed) {
                    return;
                }
                let Ok((mut stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                answered += 1;
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let mut head = Vec::new();
                let mut byte = [0u8];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).to_lowercase();
                let len = body.len();
                let response = if head.starts_with("head ") {
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n")
                        .into_bytes()
                } else {
                    let mut response = format!(
                        "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-{}/{len}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n",
                        len - 1
                    )
                    .into_bytes();
                    response.extend_from_slice(&body[..len / 2]);
                    response
                };
                let _ = stream.write_all(&response);
            }
        });
        Dropping { port, stop }
    }
}

impl Drop for Dropping {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn a_connection_dropped_inside_a_compressed_object_is_an_io_error_not_corrupt_data() {
    let wd = Workdir::new("s3_dropped");
    let text = repeated_rows("data/test.csv", 2000);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.as_bytes()).unwrap();
    let objects = [
        ("s3://bkt/in.csv.gz", gz.finish().unwrap()),
        (
            "s3://bkt/in.csv.zst",
            zstd::stream::encode_all(text.as_bytes(), 3).unwrap(),
        ),
    ];
    for (url, body) in objects {
        let server = Dropping::start(body);
        let mut cmd = wd.command(&["-q", "--data", url, "--output", "p.csv"]);
        for (name, _) in std::env::vars() {
            if name.starts_with("AWS_") {
                cmd.env_remove(name);
            }
        }
        cmd.env(
            "AWS_ENDPOINT_URL",
            format!("http://127.0.0.1:{}", server.port),
        )
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", SECRET);
        let run = wd.output(&mut cmd);
        run.assert_code(5);
        assert!(
            run.error().starts_with(&format!("{url}: cannot read: ")),
            "{}",
            run.error()
        );
        assert!(!run.stderr().contains(SECRET), "{}", run.stderr());
        assert!(!wd.path("p.csv").exists());
    }
}

/// Every other path the issue names goes through object storage as well: `import` reads an
/// ONNX object and writes the model to an object, `--rejects` goes to an object, `train
/// --holdout` reads one, and `--id-column` carries columns of an object; each gives the bytes
/// of the same run on local files.
#[test]
fn import_rejects_holdout_and_id_columns_work_through_s3_like_local_files() {
    let wd = Workdir::new("s3_other_paths");
    let moto = moto_with_data(&wd);
    let onnx =
        std::fs::read(crate::util::repo().join("tests/fixtures/trees/gbr_double.onnx")).unwrap();
    wd.create("gbr.onnx", &onnx);
    moto.put("bkt", "onnx/gbr.onnx", &onnx);
    let features = "CRIM,ZN,INDUS,CHAS,NOX,RM,AGE,DIS,RAD,TAX,PTRATIO,B,LSTAT";
    wd.ok(&[
        "-q",
        "import",
        "gbr.onnx",
        "--out",
        "gbr.bin",
        "--features",
        features,
    ]);
    let import = [
        "-q",
        "import",
        "s3://bkt/onnx/gbr.onnx",
        "--out",
        "s3://bkt/models/gbr.bin",
        "--features",
        features,
    ];
    moto.run(&wd, &import, 0);
    let local_model = std::fs::read(wd.path("gbr.bin")).unwrap();
    assert_eq!(moto.get("bkt", "models/gbr.bin").unwrap(), local_model);

    let mut lines: Vec<String> = wd.read("data/test.csv").lines().map(String::from).collect();
    lines[3] = "1,2,3".to_string();
    wd.create_lines("bad.csv", &lines);
    moto.put("bkt", "in/bad.csv", (lines.join("\n") + "\n").as_bytes());
    let skip = ["--on-error", "skip", "--id-column", "RAD,CHAS", "--model"];
    let mut local = vec!["-q", "--data", "bad.csv", "--rejects", "rejects.csv"];
    local.extend(skip);
    local.extend(["gbr.bin", "--output", "p.csv"]);
    wd.fails(&local, 6);
    let mut remote = vec!["-q", "--data", "s3://bkt/in/bad.csv"];
    remote.extend(["--rejects", "s3://bkt/out/rejects.csv"]);
    remote.extend(skip);
    remote.extend(["s3://bkt/models/gbr.bin", "--output", "s3://bkt/out/p.csv"]);
    moto.run(&wd, &remote, 6);
    let rejects = moto.get("bkt", "out/rejects.csv").unwrap();
    assert_eq!(rejects, std::fs::read(wd.path("rejects.csv")).unwrap());
    assert!(String::from_utf8_lossy(&rejects).contains("1,2,3"));
    let predictions = moto.get("bkt", "out/p.csv").unwrap();
    assert_eq!(predictions, std::fs::read(wd.path("p.csv")).unwrap());
    assert!(predictions.starts_with(b"RAD,CHAS,prediction\n"));

    moto.put(
        "bkt",
        "train.csv",
        &std::fs::read(wd.path("data/train.csv")).unwrap(),
    );
    moto.put(
        "bkt",
        "holdout.csv",
        &std::fs::read(wd.path("data/test.csv")).unwrap(),
    );
    wd.mkdir("local");
    let train = ["-q", "train", "--target", "MEDV", "--data"];
    let mut args = train.to_vec();
    args.extend(["data/train.csv", "--holdout", "data/test.csv"]);
    args.extend(["--out", "local/model.bin"]);
    wd.ok(&args);
    let mut args = train.to_vec();
    args.extend(["s3://bkt/train.csv", "--holdout", "s3://bkt/holdout.csv"]);
    args.extend(["--out", "s3://bkt/trained/model.bin"]);
    moto.run(&wd, &args, 0);
    let local_meta: serde_json::Value =
        serde_json::from_str(&wd.read("local/metadata.json")).unwrap();
    let remote_meta: serde_json::Value =
        serde_json::from_slice(&moto.get("bkt", "trained/metadata.json").unwrap()).unwrap();
    assert_eq!(remote_meta["holdout"], local_meta["holdout"]);
    assert_eq!(remote_meta["holdout"]["rows"], 51);
}
