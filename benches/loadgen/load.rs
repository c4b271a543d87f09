//! An HTTP/1.1 load generator for benches/serve.py, on the standard library alone (so it builds
//! with one `rustc -O` in seconds, with nothing to download): one thread and one kept-alive
//! connection per client, POSTing the same body again and again.
//!
//! - Saturation (`--rate 0`): each connection sends its next request as soon as the answer to
//!   the last one has arrived, for `--seconds`.
//! - Fixed rate (`--rate R`): request i is due at start + i/R, the connections taking turns; a
//!   connection that is late sends at once. Latency is measured twice: from the moment the
//!   request was sent, and from the moment it was due, which charges a stall to every request
//!   it delayed (no coordinated omission).
//!
//! Prints one JSON object: requests answered 200, others (status or I/O errors), seconds,
//! requests per second, and the p50/p99 latencies in seconds.
//!
//!     rustc -O --edition 2021 -o target/bench-serve/load benches/loadgen/load.rs
//!     load --url http://127.0.0.1:8080/v2/models/model/infer --body FILE [--connections 32]
//!          [--seconds 10] [--rate 0]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// What one connection saw.
#[derive(Default)]
struct Tally {
    ok: u64,
    failed: u64,
    /// Nanoseconds from send to answer, per answered request.
    sent: Vec<u64>,
    /// Nanoseconds from due time to answer (fixed rate only).
    due: Vec<u64>,
}

struct Options {
    host: String,
    path: String,
    body: Vec<u8>,
    connections: usize,
    seconds: f64,
    rate: f64,
}

fn main() {
    let options = match parse() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("load: {message}");
            std::process::exit(2);
        }
    };
    let options = Arc::new(options);
    let start = Instant::now() + Duration::from_millis(50);
    let clients: Vec<_> = (0..options.connections)
        .map(|index| {
            let options = Arc::clone(&options);
            thread::spawn(move || client(&options, index, start))
        })
        .collect();
    let mut all = Tally::default();
    for handle in clients {
        let tally = handle.join().expect("a client thread panicked");
        all.ok += tally.ok;
        all.failed += tally.failed;
        all.sent.extend(tally.sent);
        all.due.extend(tally.due);
    }
    let seconds = options.seconds;
    let rps = all.ok as f64 / seconds;
    let p = |v: &mut Vec<u64>, q: f64| -> f64 {
        if v.is_empty() {
            return f64::NAN;
        }
        v.sort_unstable();
        let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
        v[i] as f64 / 1e9
    };
    let mut sent = all.sent;
    let mut due = all.due;
    println!(
        "{{\"ok\": {}, \"failed\": {}, \"seconds\": {}, \"rps\": {}, \"p50\": {}, \"p99\": {}, \"p50_due\": {}, \"p99_due\": {}}}",
        all.ok,
        all.failed,
        seconds,
        rps,
        json_number(p(&mut sent, 0.50)),
        json_number(p(&mut sent, 0.99)),
        json_number(p(&mut due, 0.50)),
        json_number(p(&mut due, 0.99)),
    );
}

fn json_number(v: f64) -> String {
    if v.is_finite() {
        v.to_string()
    } else {
        "null".to_string()
    }
}

/// One connection's loop until the run's end.
fn client(options: &Options, index: usize, start: Instant) -> Tally {
    let mut tally = Tally::default();
    let request = {
        let mut r = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            options.path,
            options.host,
            options.body.len()
        )
        .into_bytes();
        r.extend_from_slice(&options.body);
        r
    };
    let end = start + Duration::from_secs_f64(options.seconds);
    let mut connection: Option<(TcpStream, BufReader<TcpStream>)> = None;
    let mut turn = index as u64;
    let mut body = Vec::new();
    while Instant::now() < start {
        thread::sleep(start - Instant::now());
    }
    loop {
        let due = match options.rate > 0.0 {
            true => Some(start + Duration::from_secs_f64(turn as f64 / options.rate)),
            false => None,
        };
        if let Some(due) = due {
            turn += options.connections as u64;
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
        }
        let sent = Instant::now();
        if sent >= end {
            break;
        }
        if connection.is_none() {
            match TcpStream::connect(&options.host) {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                    let reader = BufReader::new(stream.try_clone().expect("a socket clones"));
                    connection = Some((stream, reader));
                }
                Err(_) => {
                    tally.failed += 1;
                    thread::sleep(Duration::from_millis(10));
                    continue;
                }
            }
        }
        let (stream, reader) = connection.as_mut().expect("connected above");
        match exchange(stream, reader, &request, &mut body) {
            Ok(200) => {
                let done = Instant::now();
                tally.ok += 1;
                tally.sent.push((done - sent).as_nanos() as u64);
                if let Some(due) = due {
                    tally.due.push((done - due).as_nanos() as u64);
                }
            }
            Ok(_) => tally.failed += 1,
            Err(_) => {
                tally.failed += 1;
                connection = None;
            }
        }
    }
    tally
}

/// Sends `request`, reads the answer whole (its body into `body`); its status.
fn exchange(
    stream: &mut TcpStream,
    reader: &mut BufReader<TcpStream>,
    request: &[u8],
    body: &mut Vec<u8>,
) -> std::io::Result<u16> {
    stream.write_all(request)?;
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not a status line: {line:?}")))?;
    let mut length = None;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::other("closed mid-answer"));
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse::<usize>().ok();
            }
        }
    }
    let length = length.ok_or_else(|| std::io::Error::other("an answer without Content-Length"))?;
    body.resize(length, 0);
    reader.read_exact(body)?;
    Ok(status)
}

fn parse() -> Result<Options, String> {
    let mut url = None;
    let mut body = None;
    let (mut connections, mut seconds, mut rate) = (32usize, 10f64, 0f64);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => url = Some(value()?),
            "--body" => {
                let path = value()?;
                body = Some(std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?);
            }
            "--connections" => connections = value()?.parse().map_err(|e| format!("{e}"))?,
            "--seconds" => seconds = value()?.parse().map_err(|e| format!("{e}"))?,
            "--rate" => rate = value()?.parse().map_err(|e| format!("{e}"))?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    let url = url.ok_or("--url is needed")?;
    let rest = url
        .strip_prefix("http://")
        .ok_or("only http:// URLs are supported")?;
    let (host, path) = rest.split_once('/').ok_or("the URL has no path")?;
    Ok(Options {
        host: host.to_string(),
        path: format!("/{path}"),
        body: body.ok_or("--body is needed")?,
        connections: connections.max(1),
        seconds,
        rate,
    })
}
