//! `--metrics-push`: a run's figures sent to a Prometheus Pushgateway, the way a batch job
//! reports to Prometheus (it ends before any scrape could find it).
//!
//! Push-add semantics: `POST URL/metrics/job/JOB[/shard/I]` replaces, in that group, only the
//! metrics the body names, so `batch_inference_last_success_timestamp_seconds` from the last
//! successful run stays when a later run fails and does not push it. The client is plain
//! HTTP/1.1 over a [`TcpStream`] with timeouts: a Pushgateway is reached inside the cluster,
//! and one request a run needs no HTTP library (nor TLS: an `https://` URL is refused).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// How long the whole push may take: looking the host up, connecting (to each of its
/// addresses in turn), sending and waiting for the answer, all within this one deadline, so a
/// name with many addresses that do not answer holds the run no longer than one that has one.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// The most of the answer that is read: its status line and a little of its body.
const ANSWER_LIMIT: usize = 4096;

/// The content type of the body: the Prometheus text format, which the Pushgateway reads (the
/// OpenMetrics text that prometheus-client writes is read as it, `# EOF` being a comment).
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Where a run's figures go: a Pushgateway's address and the group's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushTarget {
    /// The URL as given, for messages.
    pub url: String,
    /// `host:port`, as the request's `Host` header and the address to connect to.
    authority: String,
    /// The request path: the URL's own path, then `/metrics/job/JOB[/shard/I]`.
    pub path: String,
}

impl PushTarget {
    /// Checks `url` (given to `--metrics-push`) and `job` (`--metrics-job`), and makes the
    /// group's path, with the shard's index when the run is sharded.
    pub fn new(url: &str, job: &str, shard: Option<u64>) -> Result<PushTarget> {
        let usage = |why: &str| Error::Usage(format!("--metrics-push {url}: {why}"));
        let rest = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) if scheme.eq_ignore_ascii_case("https") => {
                return Err(usage(
                    "https is not supported: a Pushgateway is reached inside the cluster, \
                     over plain http:// (such as http://pushgateway:9091)",
                ))
            }
            _ => {
                return Err(usage(
                    "expected an http:// URL of a Pushgateway, such as http://pushgateway:9091",
                ))
            }
        };
        if rest.contains(['?', '#', '@']) {
            return Err(usage(
                "a query, fragment or user name cannot be given; give http://HOST:PORT[/PREFIX]",
            ));
        }
        let (authority, prefix) = match rest.find('/') {
            Some(slash) => (&rest[..slash], rest[slash..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(usage("the URL names no host; give http://HOST:PORT"));
        }
        // A port is given when the part after the last colon is outside any IPv6 brackets.
        let has_port = authority
            .rsplit_once(':')
            .is_some_and(|(_, port)| !port.contains(']'));
        let authority = match has_port {
            true => authority.to_string(),
            false => format!("{authority}:80"),
        };
        let valid = |text: &str| {
            !text.is_empty()
                && text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b))
        };
        if !valid(job) {
            return Err(Error::Usage(format!(
                "--metrics-job {job:?}: a job name is letters, digits, '_', '.', ':' or '-'"
            )));
        }
        let mut path = format!("{prefix}/metrics/job/{job}");
        if let Some(index) = shard {
            path += &format!("/shard/{index}");
        }
        Ok(PushTarget {
            url: url.to_string(),
            authority,
            path,
        })
    }

    /// POSTs `body` (metrics in the text format) to the group, within [`TIMEOUT`]; the error
    /// says what failed, for a warning.
    pub fn push(&self, body: &str) -> std::result::Result<(), String> {
        self.push_within(body, TIMEOUT, |name| {
            name.to_socket_addrs().map(Iterator::collect)
        })
    }

    /// POSTs `body` to the addresses `lookup` finds for the host, all within `timeout`.
    fn push_within(
        &self,
        body: &str,
        timeout: Duration,
        lookup: impl FnOnce(&str) -> std::io::Result<Vec<SocketAddr>> + Send + 'static,
    ) -> std::result::Result<(), String> {
        let deadline = Instant::now() + timeout;
        let late = || format!("{}: no answer within {timeout:?}", self.authority);
        // The time left before the deadline; none (an error) once it has passed.
        let left = || {
            deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
                .ok_or_else(late)
        };
        let addresses = resolve_with(&self.authority, timeout, lookup)?;
        let mut last = format!("{} resolves to no address", self.authority);
        let mut stream = None;
        for address in addresses {
            match TcpStream::connect_timeout(&address, left()?) {
                Ok(connected) => {
                    stream = Some(connected);
                    break;
                }
                Err(e) => last = format!("cannot connect to {address}: {e}"),
            }
        }
        let mut stream = stream.ok_or(last)?;
        let io = |e: std::io::Error| format!("{}: {e}", self.authority);
        stream.set_write_timeout(Some(left()?)).map_err(io)?;
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: batch_inference/{version}\r\n\
             Content-Type: {CONTENT_TYPE}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n",
            path = self.path,
            host = self.authority,
            version = env!("CARGO_PKG_VERSION"),
            length = body.len(),
        );
        stream
            .write_all(request.as_bytes())
            .and_then(|()| stream.write_all(body.as_bytes()))
            .map_err(|e| format!("cannot send to {}: {e}", self.authority))?;
        // The status line and a little of the answer are enough; the deadline, set again
        // before each read, keeps a slow or confused server from holding the run.
        let mut answer = Vec::new();
        let mut buffer = [0u8; 1024];
        while answer.len() < ANSWER_LIMIT {
            stream.set_read_timeout(Some(left()?)).map_err(io)?;
            match stream.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n.min(ANSWER_LIMIT - answer.len())]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Err(late())
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("no answer from {}: {e}", self.authority)),
            }
        }
        let text = String::from_utf8_lossy(&answer);
        let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head.lines().next().unwrap_or("");
        let code = status
            .strip_prefix("HTTP/1.")
            .and_then(|s| s.get(2..5))
            .and_then(|c| c.parse::<u16>().ok());
        match code {
            Some(200..=299) => Ok(()),
            Some(_) => {
                let said = rest.lines().next().unwrap_or("").trim();
                let reason = status.split_once(' ').map_or("", |(_, r)| r);
                Err(match said.is_empty() {
                    true => format!("the Pushgateway answered {reason}"),
                    false => format!("the Pushgateway answered {reason}: {said}"),
                })
            }
            None => Err(format!("{} gave no HTTP answer", self.authority)),
        }
    }
}

/// The addresses `lookup` finds for `authority`, waited for at most `timeout`. The system's
/// resolver has no timeout a caller can set (a DNS server that does not answer holds it for
/// as long as its retries take), so the lookup runs on a thread of its own; one that outlives
/// the wait is left behind, and ends with the process, which is about to exit.
fn resolve_with(
    authority: &str,
    timeout: Duration,
    lookup: impl FnOnce(&str) -> std::io::Result<Vec<SocketAddr>> + Send + 'static,
) -> std::result::Result<Vec<SocketAddr>, String> {
    let (sender, receiver) = mpsc::channel();
    let name = authority.to_string();
    thread::Builder::new()
        .name("push-resolve".into())
        .spawn(move || {
            // The receiver is gone when the wait timed out: nobody needs the answer then.
            let _ = sender.send(lookup(&name));
        })
        .map_err(|e| format!("cannot resolve {authority}: {e}"))?;
    match receiver.recv_timeout(timeout) {
        Ok(Ok(addresses)) => Ok(addresses),
        Ok(Err(e)) => Err(format!("cannot resolve {authority}: {e}")),
        Err(_) => Err(format!(
            "cannot resolve {authority}: no answer within {timeout:?} (is the DNS server reachable?)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::os::fd::AsRawFd;

    /// A loopback listener whose accept queue is full and never served: the kernel drops the
    /// handshakes of further connections, so connecting to it hangs as to a host that does
    /// not answer. The first connection, kept with it, fills the queue.
    fn unanswering() -> (TcpListener, TcpStream, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        // Why `unsafe`: listen(2) again on a listening socket only sets its queue's length
        // (0: one connection waits, no more); the descriptor stays owned by `listener`.
        assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
        let address = listener.local_addr().unwrap();
        let filler = TcpStream::connect(address).unwrap();
        (listener, filler, address)
    }

    #[test]
    fn a_host_with_many_addresses_that_do_not_answer_is_given_up_within_one_timeout() {
        let (_listener, _filler, address) = unanswering();
        let target = PushTarget::new(&format!("http://gw:{}", address.port()), "j", None).unwrap();
        let timeout = Duration::from_millis(300);
        let started = Instant::now();
        let err = target
            .push_within("m 1\n", timeout, move |_| Ok(vec![address; 8]))
            .unwrap_err();
        let took = started.elapsed();
        // Eight addresses at 300 ms each would be 2.4 s; one deadline ends it at 300 ms.
        assert!(took < Duration::from_millis(1500), "took {took:?}");
        assert!(took >= timeout, "took {took:?}");
        assert!(
            err == format!("gw:{}: no answer within 300ms", address.port())
                || err.starts_with(&format!("cannot connect to {address}: ")),
            "{err}"
        );
    }

    #[test]
    fn a_server_that_takes_the_request_and_never_answers_is_given_up_at_the_deadline() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let target = PushTarget::new(&format!("http://gw:{}", address.port()), "j", None).unwrap();
        let started = Instant::now();
        let err = target
            .push_within("m 1\n", Duration::from_millis(300), move |_| {
                Ok(vec![address])
            })
            .unwrap_err();
        let took = started.elapsed();
        assert!(took < Duration::from_millis(1500), "took {took:?}");
        assert_eq!(
            err,
            format!("gw:{}: no answer within 300ms", address.port())
        );
        drop(listener);
    }

    #[test]
    fn a_lookup_that_does_not_answer_is_given_up_after_the_timeout() {
        let started = std::time::Instant::now();
        let hanging = |_: &str| {
            thread::sleep(Duration::from_secs(30));
            Ok(Vec::new())
        };
        let err = resolve_with("gw:9091", Duration::from_millis(50), hanging).unwrap_err();
        assert_eq!(
            err,
            "cannot resolve gw:9091: no answer within 50ms (is the DNS server reachable?)"
        );
        assert!(started.elapsed() < Duration::from_secs(30));
        let failing = |_: &str| Err(std::io::Error::other("no such host"));
        assert_eq!(
            resolve_with("gw:9091", TIMEOUT, failing).unwrap_err(),
            "cannot resolve gw:9091: no such host"
        );
        let address: SocketAddr = "127.0.0.1:9091".parse().unwrap();
        assert_eq!(
            resolve_with("gw:9091", TIMEOUT, move |_| Ok(vec![address])).unwrap(),
            [address]
        );
    }

    #[test]
    fn the_group_path_follows_the_url_prefix_job_and_shard() {
        let target = PushTarget::new("http://pushgateway:9091", "nightly", None).unwrap();
        assert_eq!(target.authority, "pushgateway:9091");
        assert_eq!(target.path, "/metrics/job/nightly");
        let target = PushTarget::new("http://gw/prefix/", "nightly", Some(3)).unwrap();
        assert_eq!(target.authority, "gw:80");
        assert_eq!(target.path, "/prefix/metrics/job/nightly/shard/3");
        let target = PushTarget::new("http://[::1]", "j", None).unwrap();
        assert_eq!(target.authority, "[::1]:80");
        let target = PushTarget::new("http://[::1]:9091", "j", None).unwrap();
        assert_eq!(target.authority, "[::1]:9091");
    }

    #[test]
    fn other_schemes_credentials_and_odd_job_names_are_usage_errors() {
        let message =
            |url: &str, job: &str| PushTarget::new(url, job, None).unwrap_err().to_string();
        assert_eq!(
            message("https://gw:9091", "j"),
            "--metrics-push https://gw:9091: https is not supported: a Pushgateway is reached \
             inside the cluster, over plain http:// (such as http://pushgateway:9091)"
        );
        assert_eq!(
            message("gw:9091", "j"),
            "--metrics-push gw:9091: expected an http:// URL of a Pushgateway, such as \
             http://pushgateway:9091"
        );
        assert!(message("http://u:p@gw", "j").contains("user name"));
        assert!(message("http:///x", "j").contains("no host"));
        assert_eq!(
            message("http://gw", "a/b"),
            "--metrics-job \"a/b\": a job name is letters, digits, '_', '.', ':' or '-'"
        );
    }
}
