//! `batch_inference serve`: the server runs on 127.0.0.1 on a port the kernel picks, is killed
//! when the test ends, and is spoken to over plain sockets, so hostile requests (a body over
//! the limit, a client that stops mid-request) can be sent as they are. Every wait is bounded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::util::{repo, Workdir};

/// The longest any wait in these tests lasts.
const PATIENCE: Duration = Duration::from_secs(60);

/// A running server, killed on drop.
struct Served {
    child: Child,
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl Served {
    /// Starts `serve` in `wd` with `args`, and waits for it to listen.
    fn start(wd: &Workdir, args: &[&str]) -> Served {
        let mut all = vec!["serve", "--host", "127.0.0.1", "--port", "0"];
        all.extend_from_slice(args);
        let mut child = wd
            .command(&all)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let lines = Arc::clone(&log);
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("http://127.0.0.1:").nth(1) {
                    let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    let _ = tx.send(port.parse::<u16>().unwrap());
                }
                lines.lock().unwrap().push(line);
            }
        });
        let port = match rx.recv_timeout(PATIENCE) {
            Ok(port) => port,
            Err(_) => {
                let _ = child.kill();
                panic!("the server did not start: {:?}", log.lock().unwrap());
            }
        };
        Served { child, port, log }
    }

    /// Sends `request` (whole, as bytes) on a new connection and reads the answer.
    fn raw(&self, request: &[u8]) -> Reply {
        let mut stream = self.connect();
        stream.write_all(request).unwrap();
        read_reply(&mut stream).unwrap_or_else(|e| panic!("no answer: {e}"))
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream
    }

    fn get(&self, path: &str) -> Reply {
        self.raw(format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes())
    }

    fn post(&self, path: &str, content_type: &str, body: &[u8]) -> Reply {
        self.raw(&post_request(path, content_type, body))
    }

    fn infer(&self, body: &Value) -> Reply {
        self.post(
            "/v2/models/model/infer",
            "application/json",
            body.to_string().as_bytes(),
        )
    }

    /// Sends `signal` to the server.
    fn signal(&self, signal: i32) {
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, signal) }, 0);
    }

    /// Waits for the server to exit; its exit code.
    fn wait(&mut self) -> Option<i32> {
        let start = Instant::now();
        while start.elapsed() < PATIENCE {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            thread::sleep(Duration::from_millis(20));
        }
        panic!("the server did not exit: {:?}", self.log.lock().unwrap());
    }

    /// Waits until a log line contains `text`.
    fn wait_for_log(&self, text: &str) {
        let start = Instant::now();
        while start.elapsed() < PATIENCE {
            if self.log.lock().unwrap().iter().any(|l| l.contains(text)) {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        panic!("no log line with {text:?}: {:?}", self.log.lock().unwrap());
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn post_request(path: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

/// An HTTP answer.
#[derive(Debug)]
struct Reply {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }

    /// The `error` of a JSON error answer with `status`.
    fn error(&self, status: u16) -> String {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.content_type, "application/json");
        self.json()["error"].as_str().unwrap().to_string()
    }
}

/// Reads one answer (the server closes the connection after it: `Connection: close`).
fn read_reply(stream: &mut TcpStream) -> std::io::Result<Reply> {
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes)?;
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("{} bytes, no header", bytes.len())))?;
    let head = String::from_utf8_lossy(&bytes[..end]).to_string();
    let status = head[9..12].parse().unwrap();
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                let (key, value) = l.split_once(':')?;
                key.eq_ignore_ascii_case(name)
                    .then(|| value.trim().to_string())
            })
            .unwrap_or_default()
    };
    let content_type = header("content-type");
    let mut body = bytes[end + 4..].to_vec();
    if header("transfer-encoding") == "chunked" {
        body = unchunk(&body);
    }
    Ok(Reply {
        status,
        content_type,
        body,
    })
}

fn unchunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&data[..line]).unwrap(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[line + 2..line + 2 + size]);
        data = &data[line + 4 + size..];
    }
}

/// The first `n` rows of data/test.csv as feature vectors (the model's 13 features, MEDV
/// left out), and the bundled model's features.
fn test_rows(n: usize) -> (Vec<String>, Vec<Vec<f64>>) {
    let text = std::fs::read_to_string(repo().join("data/test.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    let rows = lines
        .take(n)
        .map(|l| l.split(',').take(13).map(|v| v.parse().unwrap()).collect())
        .collect();
    (header[..13].to_vec(), rows)
}

/// What the batch command predicts for the first `n` rows of data/test.csv.
fn batch_predictions(wd: &Workdir, n: usize) -> Vec<f64> {
    let text = std::fs::read_to_string(repo().join("data/test.csv")).unwrap();
    let head: Vec<&str> = text.lines().take(n + 1).collect();
    wd.create("head.csv", head.join("\n") + "\n");
    let out = wd.ok(&["--data", "head.csv"]).stdout();
    out.lines().skip(1).map(|l| l.parse().unwrap()).collect()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn health_metadata_and_readiness_answer_as_the_protocol_says() {
    let wd = Workdir::new("serve_health");
    let server = Served::start(&wd, &[]);
    let live = server.get("/v2/health/live");
    assert_eq!((live.status, live.json()), (200, json!({"live": true})));
    let ready = server.get("/v2/health/ready");
    assert_eq!((ready.status, ready.json()), (200, json!({"ready": true})));
    let ready = server.get("/v2/models/model/ready");
    assert_eq!(
        (ready.status, ready.json()),
        (200, json!({"name": "model", "ready": true}))
    );
    let meta = server.get("/v2/models/model").json();
    let (features, _) = test_rows(0);
    let inputs: Vec<Value> = features
        .iter()
        .map(|f| json!({"name": f, "datatype": "FP64", "shape": [-1, 1]}))
        .collect();
    assert_eq!(meta["name"], "model");
    assert_eq!(meta["platform"], "batch_inference");
    assert_eq!(meta["inputs"], Value::Array(inputs));
    assert_eq!(
        meta["outputs"],
        json!([{"name": "prediction", "datatype": "FP64", "shape": [-1, 1]}])
    );
    assert_eq!(meta["parameters"]["kind"], "linear");
    let server_meta = server.get("/v2").json();
    assert_eq!(server_meta["name"], "batch_inference");
    for path in ["/v2/models/other", "/v2/models/other/ready"] {
        assert_eq!(
            server.get(path).error(404),
            "unknown model \"other\": this server serves \"model\""
        );
    }
    assert_eq!(
        server.infer_at("other", &json!({})).error(404),
        "unknown model \"other\": this server serves \"model\""
    );
    assert_eq!(
        server.get("/nowhere").error(404),
        "no route for GET /nowhere"
    );
}

impl Served {
    fn infer_at(&self, name: &str, body: &Value) -> Reply {
        self.post(
            &format!("/v2/models/{name}/infer"),
            "application/json",
            body.to_string().as_bytes(),
        )
    }
}

#[test]
fn one_tensor_or_one_input_per_feature_predicts_what_the_batch_command_prints() {
    let wd = Workdir::new("serve_infer");
    let server = Served::start(&wd, &["--name", "boston"]);
    let expected = batch_predictions(&wd, 5);
    let (features, rows) = test_rows(5);
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    let answer = |reply: Reply| {
        assert_eq!(reply.status, 200, "{}", reply.text());
        let body = reply.json();
        assert_eq!(body["model_name"], "boston");
        assert_eq!(body["outputs"][0]["name"], "prediction");
        assert_eq!(body["outputs"][0]["datatype"], "FP64");
        assert_eq!(body["outputs"][0]["shape"], json!([5, 1]));
        floats(&body["outputs"][0]["data"])
    };
    // One tensor, flat or nested (row-major either way).
    let flat_request = json!({"id": "r1", "inputs": [
        {"name": "input-0", "shape": [5, 13], "datatype": "FP64", "data": flat}]});
    let reply = server.infer_at("boston", &flat_request);
    assert_eq!(reply.json()["id"], "r1");
    assert_eq!(answer(reply), expected);
    let nested = json!({"inputs": [
        {"name": "x", "shape": [5, 13], "datatype": "FP64", "data": rows}]});
    assert_eq!(answer(server.infer_at("boston", &nested)), expected);
    // One input per feature, in any order, as MLServer's pandas codec sends a data frame.
    let mut inputs: Vec<Value> = features
        .iter()
        .enumerate()
        .map(|(j, f)| {
            let column: Vec<f64> = rows.iter().map(|r| r[j]).collect();
            json!({"name": f, "shape": [5, 1], "datatype": "FP64", "data": column})
        })
        .collect();
    inputs.reverse();
    let by_name = json!({"parameters": {"content_type": "pd"}, "inputs": inputs});
    assert_eq!(answer(server.infer_at("boston", &by_name)), expected);
}

#[test]
fn requests_a_real_client_sends_get_the_batch_commands_numbers() {
    // tests/fixtures/oip/*.json: made by tests/fixtures/make_oip_requests.py with tritonclient.
    let wd = Workdir::new("serve_client");
    let server = Served::start(&wd, &[]);
    let expected = batch_predictions(&wd, 5);
    let dir = repo().join("tests/fixtures/oip");
    for file in [
        "tritonclient_fp64.json",
        "tritonclient_by_name.json",
        "tritonclient_fp32.json",
    ] {
        let request = std::fs::read(dir.join(file)).unwrap();
        let reply = server.post("/v2/models/model/infer", "application/json", &request);
        assert_eq!(reply.status, 200, "{file}: {}", reply.text());
        let body = reply.json();
        assert_eq!(body["id"], "1", "{file}");
        assert_eq!(body["outputs"][0]["shape"], json!([5, 1]), "{file}");
        let answer = floats(&body["outputs"][0]["data"]);
        if file != "tritonclient_fp32.json" {
            assert_eq!(answer, expected, "{file}");
            continue;
        }
        // FP32: the client's tensor holds the values rounded to f32 (written exactly in the
        // JSON); the batch command scoring those same values gives the same numbers.
        let sent: Value = serde_json::from_slice(&request).unwrap();
        let values = floats(&sent["inputs"][0]["data"]);
        let (features, _) = test_rows(0);
        let mut csv = features.join(",") + "\n";
        for row in values.chunks(13) {
            let cells: Vec<String> = row.iter().map(|v| v.to_string()).collect();
            csv += &(cells.join(",") + "\n");
        }
        wd.create("fp32.csv", csv);
        let batch = wd.ok(&["--data", "fp32.csv"]).stdout();
        let batch: Vec<f64> = batch.lines().skip(1).map(|l| l.parse().unwrap()).collect();
        assert_eq!(answer, batch);
        assert_ne!(answer, expected);
    }
}

#[test]
fn mlserver_pandas_codec_requests_get_the_batch_commands_numbers() {
    // Written by hand after MLServer's documentation (Content Types and Codecs: a data frame is
    // sent with the request's `parameters.content_type` "pd", one input of shape [n, 1] per
    // column, its datatype from the column's dtype, and optionally each input's own
    // `parameters.content_type`). No fixture script makes these: mlserver is not among the
    // pinned packages of tests/fixtures/requirements.txt. The first shape is what
    // mlserver 1.7.1's PandasCodec.encode_request gives for pd.read_csv(data/test.csv), whose
    // integer columns CHAS, RAD and TAX come as INT64 (checked in benches/.venv-mlserver).
    let wd = Workdir::new("serve_mlserver");
    let server = Served::start(&wd, &[]);
    let expected = batch_predictions(&wd, 5);
    let (features, rows) = test_rows(5);
    let integers = ["CHAS", "RAD", "TAX"];
    let column = |i: usize, name: &str, per_input: bool| {
        let values: Vec<f64> = rows.iter().map(|row| row[i]).collect();
        let mut input = match integers.contains(&name) {
            true => {
                let ints: Vec<i64> = values.iter().map(|v| *v as i64).collect();
                assert!(ints.iter().zip(&values).all(|(i, v)| *i as f64 == *v));
                json!({"name": name, "shape": [5, 1], "datatype": "INT64", "data": ints})
            }
            false => json!({"name": name, "shape": [5, 1], "datatype": "FP64", "data": values}),
        };
        if per_input {
            input["parameters"] = json!({"content_type": "np"});
        }
        input
    };
    for per_input in [false, true] {
        let inputs: Vec<Value> = features
            .iter()
            .enumerate()
            .map(|(i, name)| column(i, name, per_input))
            .collect();
        let request = json!({"parameters": {"content_type": "pd"}, "inputs": inputs});
        let reply = server.infer(&request);
        assert_eq!(reply.status, 200, "{}", reply.text());
        let body = reply.json();
        assert_eq!(body["outputs"][0]["name"], "prediction");
        assert_eq!(body["outputs"][0]["shape"], json!([5, 1]));
        assert_eq!(floats(&body["outputs"][0]["data"]), expected, "{request}");
    }
}

#[test]
fn bad_requests_get_a_400_that_says_what_is_wrong() {
    let wd = Workdir::new("serve_bad");
    let server = Served::start(&wd, &[]);
    let (features, rows) = test_rows(2);
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    let cases = [
        (json!({"inputs": []}), "the request has no inputs: send one tensor of shape [n, features] or one input per feature"),
        (json!({"inputs": [{"name": "x", "shape": [2, 12], "datatype": "FP64", "data": flat[..24]}]}),
         "input \"x\": shape [2, 12] is not [n, 13]: send one row per observation and one column per feature, in the order CRIM, ZN, INDUS, CHAS, NOX, RM, AGE, DIS, RAD, TAX, PTRATIO, B, LSTAT, or one input per feature by name"),
        (json!({"inputs": [{"name": "x", "shape": [1_000_000_000u64, 13], "datatype": "FP64", "data": flat}]}),
         "input \"x\": shape [1000000000, 13] does not match the 26 values of its data"),
        (json!({"inputs": [{"name": "x", "shape": [2, 13], "datatype": "BYTES", "data": flat}]}),
         "input \"x\": datatype BYTES is not supported: send FP64 or FP32"),
        (json!({"inputs": [{"name": "x", "shape": [1, 13], "datatype": "FP32", "data": [1e39, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]}]}),
         "input \"x\": value 0 is not a finite number"),
        (json!({"inputs": [{"name": "CRIM", "shape": [1], "datatype": "FP64", "data": [1]},
                           {"name": "PRICE", "shape": [1], "datatype": "FP64", "data": [1]}]}),
         "unknown feature \"PRICE\": the model's features are CRIM, ZN, INDUS, CHAS, NOX, RM, AGE, DIS, RAD, TAX, PTRATIO, B, LSTAT"),
        (json!({"inputs": [{"name": "CRIM", "shape": [1], "datatype": "FP64", "data": [1]},
                           {"name": "ZN", "shape": [1], "datatype": "FP64", "data": [1]}]}),
         "missing feature \"INDUS\": send one input per feature (CRIM, ZN, INDUS, CHAS, NOX, RM, AGE, DIS, RAD, TAX, PTRATIO, B, LSTAT)"),
        (json!({"inputs": [{"name": "x", "shape": [1, 13], "datatype": "FP64", "data": vec![1.7e308; 13]}]}),
         "row 0: the prediction is beyond the range of f64; are the values in the right units?"),
        (json!({"inputs": [{"name": "x", "shape": [2, 13], "datatype": "FP64", "data": flat}], "outputs": [{"name": "price"}]}),
         "unknown output \"price\": the model has one output, \"prediction\""),
    ];
    for (request, message) in cases {
        assert_eq!(server.infer(&request).error(400), message, "{request}");
    }
    assert_eq!(features.len(), 13);
    // Malformed JSON, a wrong type, JSON's words for infinity, deep nesting.
    for (body, start) in [
        ("{\"inputs\": [", "the request is not an inference request: EOF while parsing"),
        ("{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 13], \"datatype\": \"FP64\", \"data\": [true]}]}",
         "the request is not an inference request: invalid type: boolean `true`, expected numbers, or arrays of numbers"),
        ("{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 1], \"datatype\": \"FP64\", \"data\": [NaN]}]}",
         "the request is not an inference request: expected value"),
        ("{\"inputs\": [{\"name\": \"x\", \"shape\": [-1, 13], \"datatype\": \"FP64\", \"data\": []}]}",
         "the request is not an inference request: invalid value: integer `-1`, expected u64"),
    ] {
        let error = server.post("/v2/models/model/infer", "application/json", body.as_bytes()).error(400);
        assert!(error.starts_with(start), "{error}");
    }
    let deep = format!(
        "{{\"inputs\": [{{\"name\": \"x\", \"shape\": [1, 13], \"datatype\": \"FP64\", \"data\": {}1{}}}]}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let error = server
        .post(
            "/v2/models/model/infer",
            "application/json",
            deep.as_bytes(),
        )
        .error(400);
    assert!(error.contains("recursion limit exceeded"), "{error}");
    // The server is none the worse.
    let ok = json!({"inputs": [{"name": "x", "shape": [2, 13], "datatype": "FP64", "data": flat}]});
    assert_eq!(server.infer(&ok).status, 200);
}

#[test]
fn a_body_over_the_limit_gets_a_413_and_a_slow_client_harms_no_other() {
    let wd = Workdir::new("serve_hostile");
    let server = Served::start(&wd, &["--max-body-bytes", "10000"]);
    // A claim of 1 GB is refused on its length, before any of it is read.
    let mut stream = server.connect();
    stream
        .write_all(b"POST /v2/models/model/infer HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 1000000000\r\n\r\n")
        .unwrap();
    let reply = read_reply(&mut stream).unwrap();
    assert_eq!(
        reply.error(413),
        "the request body is over the limit of 10000 bytes (--max-body-bytes)"
    );
    // A chunked body that turns out too long, on either route.
    for path in ["/v2/models/model/infer", "/predict"] {
        let chunk = "x".repeat(6000);
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n1770\r\n{chunk}\r\n1770\r\n{chunk}\r\n0\r\n\r\n"
        );
        assert_eq!(
            server.raw(request.as_bytes()).error(413),
            "the request body is over the limit of 10000 bytes (--max-body-bytes)"
        );
    }
    // Clients that stop halfway through their headers or their body hold their connections
    // while others are answered.
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut stream = server.connect();
        stream
            .write_all(b"POST /v2/models/model/infer HTTP/1.1\r\nHost: t\r\nContent-Le")
            .unwrap();
        slow.push(stream);
        let mut stream = server.connect();
        stream
            .write_all(b"POST /v2/models/model/infer HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{\"inp")
            .unwrap();
        slow.push(stream);
    }
    let (_, rows) = test_rows(1);
    let ok = json!({"inputs": [{"name": "x", "shape": [1, 13], "datatype": "FP64", "data": rows}]});
    for _ in 0..20 {
        assert_eq!(server.infer(&ok).status, 200);
    }
    assert_eq!(server.get("/v2/health/ready").status, 200);
    drop(slow);
}

#[test]
fn slow_clients_over_the_connection_cap_are_cut_off_by_the_header_timeout() {
    let wd = Workdir::new("serve_slowloris");
    let server = Served::start(
        &wd,
        &["--header-timeout-seconds", "1", "--max-connections", "4"],
    );
    // Twice the cap of clients that send their headers a byte at a time: the first four hold
    // every connection, the other four wait in the listen queue behind them.
    let opened = Instant::now();
    let slow: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut stream = server.connect();
            stream
                .write_all(b"POST /v2/models/model/infer HTTP/1.1\r\nHost: t\r\nX-Slow: ")
                .unwrap();
            stream
        })
        .collect();
    let dripping = Arc::new(AtomicBool::new(true));
    let drip = {
        let mut streams: Vec<TcpStream> = slow.iter().map(|s| s.try_clone().unwrap()).collect();
        let dripping = Arc::clone(&dripping);
        thread::spawn(move || {
            // One byte each every 100 ms, for at most 10 s; a closed connection's write fails.
            let start = Instant::now();
            while dripping.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(10) {
                for stream in &mut streams {
                    let _ = stream.write_all(b"a");
                }
                thread::sleep(Duration::from_millis(100));
            }
        })
    };
    // A normal client behind them all is answered once the timeout has freed the connections.
    let (_, rows) = test_rows(1);
    let ok = json!({"inputs": [{"name": "x", "shape": [1, 13], "datatype": "FP64", "data": rows}]});
    assert_eq!(server.infer(&ok).status, 200);
    // Each slow client is disconnected without an answer, not before the timeout, though it
    // kept sending.
    for mut stream in slow {
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut buf = [0u8; 64];
        match stream.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("a slow client was not disconnected: {other:?}"),
        }
        assert!(opened.elapsed() >= Duration::from_secs(1));
    }
    dripping.store(false, Ordering::SeqCst);
    drip.join().unwrap();
    // The server answers as before.
    assert_eq!(server.infer(&ok).status, 200);
    assert_eq!(server.get("/v2/health/ready").status, 200);
}

/// Runs the batch command on `file` of `wd` with `args`: its standard output, or its error.
fn batch(wd: &Workdir, file: &str, args: &[&str]) -> Result<Vec<u8>, String> {
    let mut all = vec!["--data", "-"];
    all.extend_from_slice(args);
    let mut cmd = wd.command(&all);
    cmd.stdin(std::fs::File::open(wd.path(file)).unwrap());
    let run = wd.output(&mut cmd);
    match run.output.status.code() {
        Some(0) => Ok(run.output.stdout.clone()),
        Some(3) => Err(run.error().replace("<stdin>", "<body>")),
        other => panic!("exit {other:?}: {}", run.stderr()),
    }
}

#[test]
fn predict_answers_the_bytes_the_batch_command_prints_for_the_same_file() {
    let wd = Workdir::new("serve_predict");
    let server = Served::start(&wd, &[]);
    let test = std::fs::read_to_string(wd.path("data/test.csv")).unwrap();
    let mut lines: Vec<String> = test.lines().map(String::from).collect();
    wd.create("test.csv", &test);
    let header = lines[0].clone();
    // Quoted fields, CRLF line ends, an id column.
    let mut quoted = vec![format!("id,{header}")];
    quoted.extend(
        lines[1..]
            .iter()
            .enumerate()
            .map(|(i, l)| format!("\"r\"\"{i}\",{l}")),
    );
    wd.create("quoted.csv", quoted.join("\r\n"));
    lines[7] = lines[7].replacen(",0,", ",abc,", 1);
    wd.create("bad_cell.csv", lines.join("\n"));
    wd.create("missing_column.csv", "CRIM,ZN\n1,2\n");
    wd.create("fields.csv", format!("{header}\n1,2,3\n"));
    let big = "1.7e308,".repeat(13) + "1";
    wd.create("overflow.csv", format!("{header}\n{}\n{big}\n", lines[1]));
    wd.create("empty.csv", "");
    // Over 64 KiB, so scored on a blocking thread; 12,000 rows, so several batches.
    let big_text = crate::util::repeated_rows("data/test.csv", 12_000);
    assert!(big_text.len() > 600_000 && big_text.len() < 1024 * 1024);
    wd.create("big.csv", &big_text);
    let mut late_error = big_text.clone();
    late_error.push_str("1,2\n");
    wd.create("big_bad.csv", &late_error);
    let cases: [(&str, &str, &[&str]); 11] = [
        ("big.csv", "", &[]),
        ("big_bad.csv", "", &[]),
        ("test.csv", "", &[]),
        ("test.csv", "?format=jsonl", &["--format", "jsonl"]),
        ("quoted.csv", "?id_column=id", &["--id-column", "id"]),
        (
            "quoted.csv",
            "?id_column=id&format=jsonl",
            &["--id-column", "id", "--format", "jsonl"],
        ),
        ("bad_cell.csv", "", &[]),
        ("missing_column.csv", "", &[]),
        ("fields.csv", "", &[]),
        ("overflow.csv", "", &[]),
        ("empty.csv", "", &[]),
    ];
    for (file, query, args) in cases {
        let body = std::fs::read(wd.path(file)).unwrap();
        let reply = server.post(&format!("/predict{query}"), "text/csv", &body);
        match batch(&wd, file, args) {
            Ok(stdout) => {
                assert_eq!(reply.status, 200, "{file}{query}: {}", reply.text());
                assert_eq!(
                    reply.text(),
                    String::from_utf8(stdout).unwrap(),
                    "{file}{query}"
                );
            }
            Err(message) => assert_eq!(reply.error(400), message, "{file}{query}"),
        }
    }
    let overflow = std::fs::read(wd.path("overflow.csv")).unwrap();
    assert_eq!(
        server.post("/predict", "text/csv", &overflow).error(400),
        "<body>:3: the prediction is beyond the range of f64; are the values in the right units?"
    );
    let reply = server.post("/predict?format=xml", "text/csv", b"");
    assert_eq!(reply.error(400), "unknown format \"xml\": use csv or jsonl");
}

#[test]
fn metrics_count_requests_rows_and_name_the_model() {
    use sha2::{Digest, Sha256};
    let wd = Workdir::new("serve_metrics");
    let server = Served::start(&wd, &[]);
    let (_, rows) = test_rows(3);
    let ok = json!({"inputs": [{"name": "x", "shape": [3, 13], "datatype": "FP64", "data": rows}]});
    assert_eq!(server.infer(&ok).status, 200);
    assert_eq!(server.infer(&json!({})).status, 400);
    let metrics = server.get("/metrics");
    assert_eq!(metrics.status, 200);
    assert!(metrics
        .content_type
        .starts_with("application/openmetrics-text"));
    let text = metrics.text();
    let sha: String = Sha256::digest(std::fs::read(wd.path("model/model.bin")).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    for line in [
        "batch_inference_http_requests_total{route=\"/v2/models/{name}/infer\",status=\"200\"} 1"
            .to_string(),
        "batch_inference_http_requests_total{route=\"/v2/models/{name}/infer\",status=\"400\"} 1"
            .to_string(),
        "batch_inference_rows_scored_total 3".to_string(),
        format!("batch_inference_model_info{{name=\"model\",sha256=\"{sha}\",kind=\"linear\"}} 1"),
        "batch_inference_http_request_duration_seconds_count{route=\"/v2/models/{name}/infer\"} 2"
            .to_string(),
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
}

/// Clients that score one row again and again on fresh connections until the server stops
/// taking them; each answer's prediction is recorded, and anything but a whole 200 answer to
/// a request the server took is a failure.
struct Load {
    stop: Arc<AtomicBool>,
    served: Arc<AtomicUsize>,
    threads: Vec<thread::JoinHandle<(Vec<f64>, Vec<String>)>>,
}

impl Load {
    fn start(port: u16, clients: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicUsize::new(0));
        let (_, rows) = test_rows(1);
        let body =
            json!({"inputs": [{"name": "x", "shape": [1, 13], "datatype": "FP64", "data": rows}]})
                .to_string();
        let request = post_request(
            "/v2/models/model/infer",
            "application/json",
            body.as_bytes(),
        );
        let threads = (0..clients)
            .map(|_| {
                let (stop, served, request) =
                    (Arc::clone(&stop), Arc::clone(&served), request.clone());
                thread::spawn(move || {
                    let start = Instant::now();
                    let (mut seen, mut failures) = (Vec::new(), Vec::new());
                    for _ in 0..100_000 {
                        if stop.load(Ordering::SeqCst) || start.elapsed() > PATIENCE {
                            break;
                        }
                        // Refused: the listener is closed, which is how a drain ends.
                        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
                            break;
                        };
                        stream.set_read_timeout(Some(PATIENCE)).unwrap();
                        if stream.write_all(&request).is_err() {
                            break;
                        }
                        match read_reply(&mut stream) {
                            Ok(reply) if reply.status == 200 => {
                                seen.push(reply.json()["outputs"][0]["data"][0].as_f64().unwrap());
                                served.fetch_add(1, Ordering::SeqCst);
                            }
                            Ok(reply) => {
                                failures.push(format!("{}: {}", reply.status, reply.text()))
                            }
                            // Nothing at all came back: the connection waited in the kernel's
                            // queue and was never taken, as after the listener closes.
                            Err(e) if e.to_string().starts_with("0 bytes") => break,
                            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                            Err(e) => failures.push(e.to_string()),
                        }
                    }
                    (seen, failures)
                })
            })
            .collect();
        Load {
            stop,
            served,
            threads,
        }
    }

    fn wait_for(&self, answers: usize) {
        let start = Instant::now();
        while self.served.load(Ordering::SeqCst) < answers {
            assert!(start.elapsed() < PATIENCE, "the load got no answers");
            thread::sleep(Duration::from_millis(5));
        }
    }

    fn finish(self) -> Vec<(Vec<f64>, Vec<String>)> {
        self.stop.store(true, Ordering::SeqCst);
        self.threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect()
    }
}

#[test]
fn sigterm_under_load_answers_every_request_in_flight_and_exits_0() {
    let wd = Workdir::new("serve_drain");
    let mut server = Served::start(&wd, &["--drain-seconds", "30"]);
    let load = Load::start(server.port, 4);
    load.wait_for(200);
    // A request in flight: its headers and half its body are sent before the signal.
    let (_, rows) = test_rows(1);
    let body =
        json!({"inputs": [{"name": "x", "shape": [1, 13], "datatype": "FP64", "data": rows}]})
            .to_string();
    let request = post_request(
        "/v2/models/model/infer",
        "application/json",
        body.as_bytes(),
    );
    let mut in_flight = server.connect();
    let half = request.len() - body.len() / 2;
    in_flight.write_all(&request[..half]).unwrap();
    thread::sleep(Duration::from_millis(100));
    server.signal(libc::SIGTERM);
    server.wait_for_log("SIGTERM: not ready any more");
    in_flight.write_all(&request[half..]).unwrap();
    let reply = read_reply(&mut in_flight).unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(server.wait(), Some(0));
    server.wait_for_log("Stopped: every request was answered");
    for (seen, failures) in load.finish() {
        assert!(failures.is_empty(), "{failures:?}");
        assert!(!seen.is_empty());
    }
}

#[test]
fn sighup_under_load_swaps_the_model_without_a_failed_request() {
    let wd = Workdir::new("serve_reload");
    wd.mkdir("ridge");
    wd.ok(&[
        "train",
        "--data",
        "data/train.csv",
        "--target",
        "MEDV",
        "--algorithm",
        "ridge",
        "--alpha",
        "100",
        "--out",
        "ridge/model.bin",
    ]);
    let mut server = Served::start(&wd, &["--watch-seconds", "0"]);
    let old = batch_predictions(&wd, 1)[0];
    let new_text = wd
        .ok(&["--data", "head.csv", "--model", "ridge/model.bin"])
        .stdout();
    let new: f64 = new_text.lines().nth(1).unwrap().parse().unwrap();
    assert_ne!(old, new);
    let load = Load::start(server.port, 4);
    load.wait_for(100);
    // A file that is not a model: logged, and the old model keeps serving.
    std::fs::write(wd.path("model/model.bin.tmp"), b"not a model").unwrap();
    std::fs::rename(wd.path("model/model.bin.tmp"), wd.path("model/model.bin")).unwrap();
    server.signal(libc::SIGHUP);
    server
        .wait_for_log("reload (SIGHUP) failed, the previous model keeps serving: model/model.bin:");
    let before = load.served.load(Ordering::SeqCst);
    load.wait_for(before + 100);
    std::fs::copy(wd.path("ridge/model.bin"), wd.path("model/model.bin.tmp")).unwrap();
    std::fs::rename(wd.path("model/model.bin.tmp"), wd.path("model/model.bin")).unwrap();
    server.signal(libc::SIGHUP);
    server.wait_for_log("Reloaded the model (SIGHUP)");
    let after = load.served.load(Ordering::SeqCst);
    load.wait_for(after + 200);
    let results = load.finish();
    for (seen, failures) in &results {
        assert!(failures.is_empty(), "{failures:?}");
        // Each client sees the old model's number, then the new one's, never back.
        let switch = seen.iter().position(|&p| p == new).unwrap_or(seen.len());
        assert!(seen[..switch].iter().all(|&p| p == old), "{seen:?}");
        assert!(seen[switch..].iter().all(|&p| p == new), "{seen:?}");
        assert!(switch < seen.len(), "this client never saw the new model");
    }
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait(), Some(0));
}

#[test]
fn a_changed_model_file_is_loaded_without_a_signal() {
    let wd = Workdir::new("serve_watch");
    wd.mkdir("ridge");
    wd.ok(&[
        "train",
        "--data",
        "data/train.csv",
        "--target",
        "MEDV",
        "--algorithm",
        "ridge",
        "--alpha",
        "100",
        "--out",
        "ridge/model.bin",
    ]);
    let server = Served::start(&wd, &["--watch-seconds", "1"]);
    std::fs::copy(wd.path("ridge/model.bin"), wd.path("model/model.bin.tmp")).unwrap();
    std::fs::rename(wd.path("model/model.bin.tmp"), wd.path("model/model.bin")).unwrap();
    server.wait_for_log("Reloaded the model (a changed model file)");
    let new_text = wd
        .ok(&["--data", "data/test.csv", "--model", "ridge/model.bin"])
        .stdout();
    let body = std::fs::read(wd.path("data/test.csv")).unwrap();
    assert_eq!(server.post("/predict", "text/csv", &body).text(), new_text);
}

#[test]
fn a_model_that_cannot_load_stops_serve_before_it_listens() {
    let wd = Workdir::new("serve_no_model");
    let run = wd.fails(
        &[
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--model",
            "none.bin",
        ],
        5,
    );
    assert_eq!(
        run.error(),
        "none.bin: cannot open: no such file; train one with `batch_inference train`, or import one \
         with `batch_inference import`"
    );
    wd.create("bad.bin", "not a model");
    let run = wd.fails(
        &[
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--model",
            "bad.bin",
        ],
        4,
    );
    assert!(run.error().starts_with("bad.bin: "), "{}", run.error());
}

#[test]
fn a_tree_ensemble_is_served_with_the_batch_commands_numbers() {
    // model/gbr.bin: the seed's GradientBoostingRegressor, imported (tests/trees.rs).
    let wd = Workdir::new("serve_trees");
    let server = Served::start(&wd, &["--model", "model/gbr.bin", "--name", "gbr"]);
    let metadata = server.get("/v2/models/gbr").json();
    assert_eq!(metadata["parameters"]["kind"], "tree ensemble");
    let test = std::fs::read(wd.path("data/test.csv")).unwrap();
    let printed = batch(&wd, "data/test.csv", &["--model", "model/gbr.bin"]).unwrap();
    let reply = server.post("/predict", "text/csv", &test);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), String::from_utf8(printed.clone()).unwrap());
    // The same rows as one tensor: the numbers the batch command printed, to the last bit.
    let expected: Vec<f64> = String::from_utf8(printed)
        .unwrap()
        .lines()
        .skip(1)
        .take(5)
        .map(|l| l.parse().unwrap())
        .collect();
    let (_, rows) = test_rows(5);
    let request = json!({"inputs": [
        {"name": "x", "shape": [5, 13], "datatype": "FP64", "data": rows}]});
    let reply = server.infer_at("gbr", &request);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(floats(&reply.json()["outputs"][0]["data"]), expected);
    // Linear models keep their kind.
    let linear = Served::start(&wd, &[]);
    assert_eq!(
        linear.get("/v2/models/model").json()["parameters"]["kind"],
        "linear"
    );
}
