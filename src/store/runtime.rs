//! The tokio runtime the object storage client runs on, owned here so the rest of the program
//! stays synchronous: a caller on any thread runs one request at a time with [`block_on`].
//!
//! Two worker threads are enough: they only drive network I/O (uploads of parts in the
//! background, the next chunk of a download), the CPU work stays on the pipeline's threads.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::{Builder, Runtime};

use crate::error::{Error, Result};

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The runtime, started on first use.
pub fn runtime() -> Result<&'static Runtime> {
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let runtime = Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("object-store")
        .enable_all()
        .build()
        .map_err(|e| Error::io("object storage", "start a runtime for", e))?;
    // Two threads may race to start it: one's runtime is kept, the other's dropped.
    Ok(RUNTIME.get_or_init(|| runtime))
}

/// Runs `future` to completion on the runtime, blocking this (non-runtime) thread.
pub fn block_on<F: Future>(future: F) -> Result<F::Output> {
    Ok(runtime()?.block_on(future))
}
