//! Signals and the end of serving. SIGHUP reloads the model (so does a changed model file,
//! checked every `--watch-seconds`); SIGTERM or SIGINT turns readiness false, closes the
//! listener, lets the requests in flight finish, and ends with exit 0, by `--drain-seconds` at
//! the latest, so a rolling update drops nothing.
//!
//! Signals are read on a thread of their own, as the batch command does ([`crate::signals`]),
//! through signal-hook's self-pipe: a reload reads a file, which a handler may not.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::Signals;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::cli::ServeArgs;
use crate::error::{Error, Outcome, Result};
use crate::serve::accept::{self, Limits};
use crate::serve::reload::{file_stamp, Loaded};
use crate::serve::{router, Server};

/// Serves on the address of `args` until a stopping signal, then drains.
pub async fn run(server: Arc<Server>, args: &ServeArgs) -> Result<Outcome> {
    let address = format!("{}:{}", args.host, args.port);
    let listener = TcpListener::bind(&address)
        .await
        .map_err(|e| Error::io(&address, "listen on", e))?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::io(&address, "listen on", e))?;
    let (stop_tx, stop_rx) = oneshot::channel::<&'static str>();
    watch_signals(Arc::clone(&server), stop_tx)?;
    if args.watch_seconds > 0 {
        watch_file(Arc::clone(&server), Duration::from_secs(args.watch_seconds))?;
    }
    server.ready.store(true, Ordering::SeqCst);
    server.log.info(&format!(
        "Serving model {:?} on http://{local} (Open Inference Protocol under /v2, POST /predict, /metrics)",
        server.name
    ));
    let (draining_tx, draining_rx) = oneshot::channel::<&'static str>();
    let app = router(Arc::clone(&server));
    let stopping = Arc::clone(&server);
    let limits = Limits {
        header_timeout: Duration::from_secs(args.header_timeout_seconds),
        max_connections: args.max_connections as usize,
    };
    let serving = tokio::spawn(accept::serve(
        listener,
        app,
        limits,
        server.log,
        async move {
            let signal = stop_rx.await.unwrap_or("the signal thread's end");
            stopping.ready.store(false, Ordering::SeqCst);
            let _ = draining_tx.send(signal);
        },
    ));
    // The server ends only after a signal: the sender is dropped only if it panicked.
    let signal = draining_rx.await.unwrap_or("the end of the accept loop");
    let drain = Duration::from_secs(args.drain_seconds);
    server.log.info(&format!(
        "{signal}: not ready any more; finishing the requests in flight (at most {} s)",
        drain.as_secs()
    ));
    match tokio::time::timeout(drain, serving).await {
        Ok(_) => {
            server.log.info("Stopped: every request was answered");
            Ok(Outcome::Success)
        }
        Err(_) => {
            server.log.warn(&format!(
                "Stopped: requests still open after --drain-seconds {}",
                drain.as_secs()
            ));
            Ok(Outcome::Success)
        }
    }
}

/// Reads signals on a thread: SIGHUP reloads; SIGTERM, SIGINT or SIGQUIT sends its name to
/// `stop`, once.
fn watch_signals(server: Arc<Server>, stop: oneshot::Sender<&'static str>) -> Result<()> {
    let names = "SIGTERM, SIGINT, SIGHUP and SIGQUIT";
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP, SIGQUIT])
        .map_err(|e| Error::io(names, "handle", e))?;
    let mut stop = Some(stop);
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                match signal {
                    SIGHUP => reload(&server, "SIGHUP"),
                    other => {
                        let name = match other {
                            SIGTERM => "SIGTERM",
                            SIGINT => "SIGINT",
                            _ => "SIGQUIT",
                        };
                        if let Some(stop) = stop.take() {
                            let _ = stop.send(name);
                        }
                    }
                }
            }
        })
        .map_err(|e| Error::io(names, "handle", e))?;
    Ok(())
}

/// Checks the model file's modification time and length every `every`; reloads when they
/// change (once per change, even when the new file fails to load).
fn watch_file(server: Arc<Server>, every: Duration) -> Result<()> {
    let mut seen = server.slot.get().stamp;
    let path = server.model_path.clone();
    std::thread::Builder::new()
        .name("model-watch".into())
        .spawn(move || loop {
            std::thread::sleep(every);
            let stamp = file_stamp(&server.model_path);
            if stamp.is_some() && stamp != seen {
                seen = stamp;
                reload(&server, "a changed model file");
            }
        })
        .map_err(|e| Error::io(&path, "watch", e))?;
    Ok(())
}

/// One reload at a time, whatever asked for it.
static RELOADING: Mutex<()> = Mutex::new(());

/// Loads the model file again beside the model in service and swaps it in; a model that
/// fails to load is logged and the old one keeps serving.
pub fn reload(server: &Server, cause: &str) {
    let _one = RELOADING.lock().unwrap_or_else(|p| p.into_inner());
    match Loaded::read(&server.model_path) {
        Ok(loaded) => {
            server.log.info(&format!(
                "Reloaded the model ({cause}): {} {}, SHA-256 {}",
                loaded.model.kind(),
                server.model_path,
                loaded.sha256
            ));
            server.metrics.serving(&server.name, &loaded);
            server.slot.swap(loaded);
            server.metrics.reloaded(true);
        }
        Err(err) => {
            server.log.error(&format!(
                "reload ({cause}) failed, the previous model keeps serving: {err}"
            ));
            server.metrics.reloaded(false);
        }
    }
}
