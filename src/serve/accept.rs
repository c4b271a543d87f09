//! Connections: the accept loop in front of the routes. It is ours rather than `axum::serve`
//! for two limits that one does not set, so that slow or many clients cannot hold the server:
//! a deadline for a request's headers (hyper's `header_read_timeout`, on tokio's timer), which
//! closes a connection whose client sends its headers a byte at a time or stops halfway, and
//! a cap on the connections open at once, past which new ones wait in the listen queue.
//!
//! On the stop signal the listener closes at once and every open connection finishes the
//! request it is answering, then closes (hyper's graceful shutdown); [`serve`] returns when
//! the last one has.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::log::Logger;

/// How long the loop waits before accepting again after an error such as too many open
/// files, when only a closing connection can help.
const ACCEPT_PAUSE: Duration = Duration::from_secs(1);

/// The limits on connections.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long a request's headers may take to arrive, from the connection's opening or the
    /// end of its previous answer (so also how long a kept-alive connection may sit idle).
    pub header_timeout: Duration,
    /// The most connections open at once.
    pub max_connections: usize,
}

/// Answers connections from `listener` with `app` until `stop` completes; then closes the
/// listener and waits for the open connections to finish their requests.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    log: Logger,
    stop: impl Future<Output = ()>,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    tokio::pin!(stop);
    loop {
        // A slot first: at the cap, connections wait in the kernel's queue, not in memory.
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot.expect("the slots are never closed"),
            () = &mut stop => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    log.error(&format!("accepting a connection failed, trying again in 1 s: {e}"));
                    tokio::time::sleep(ACCEPT_PAUSE).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        // Answers are small and written whole; waiting to merge them with more only adds latency.
        let _ = stream.set_nodelay(true);
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A connection's end, by error or not, is the client's business; the slot is freed.
            let _ = connection.await;
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Errors of one connection that was reset before it was accepted: nothing to wait for.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
