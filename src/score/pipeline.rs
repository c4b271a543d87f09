//! The pipeline: worker threads take turns cutting the next block of whole records from the
//! input (the reading worker's own cache then holds the bytes it parses) and score it, while
//! this thread hands the results to the collector, which writes them in input order. A window
//! keeps the workers at most `2 × threads` blocks ahead of the writer, so memory stays bounded
//! by the blocks in flight, whatever the input size and however unevenly the threads run.

use std::io::Read;
use std::sync::{mpsc, Condvar, Mutex};

use crate::error::Result;
use crate::read::block::BlockSource;
use crate::score::collect::Collector;
use crate::score::scorer::{Done, Failure, Scorer};

/// Scores every block of `source` on `threads` workers (on this thread alone for 1) into
/// `collector`.
pub(crate) fn run<R: Read + Send>(
    source: BlockSource<R>,
    scorer: &Scorer,
    collector: &mut Collector,
    threads: usize,
) -> Result<()> {
    if threads <= 1 {
        run_inline(source, scorer, collector)
    } else {
        run_parallel(source, scorer, collector, threads)
    }
}

/// Scores block after block on this thread.
fn run_inline<R: Read>(
    mut source: BlockSource<R>,
    scorer: &Scorer,
    collector: &mut Collector,
) -> Result<()> {
    let mut work = scorer.work();
    let mut spare_input = Vec::new();
    loop {
        let seq = source.next_seq();
        let block = match source.next_block(std::mem::take(&mut spare_input)) {
            Ok(Some(block)) => block,
            Ok(None) => return Ok(()),
            Err(err) => Err(Failure::Cut(err)).map_err(|f| collector.failure(f))?,
        };
        let out = collector.spare.pop().unwrap_or_default();
        let result = scorer.score_block(&block, &mut work, out);
        spare_input = block.data;
        collector.accept(Done { seq, result })?;
    }
}

/// How far the workers may read ahead of the writer: blocks whose outputs wait to be written,
/// in input order, behind a block still being scored.
struct Window {
    /// The next block to write, and whether the writer has stopped.
    state: Mutex<(u64, bool)>,
    advanced: Condvar,
    /// Blocks a worker may start beyond the next one to write.
    ahead: u64,
}

impl Window {
    /// Waits until block `seq` may be started; false if the writer has stopped.
    fn wait_for(&self, seq: u64) -> bool {
        let guard = self
            .state
            .lock()
            .expect("no thread panics holding the window");
        let guard = self
            .advanced
            .wait_while(guard, |(next, stopped)| {
                !*stopped && seq >= *next + self.ahead
            })
            .expect("no thread panics holding the window");
        !guard.1
    }

    /// Block `next` is the next to write.
    fn advance(&self, next: u64) {
        self.update(|state| state.0 = next);
    }

    /// The writer has stopped: no worker waits any more.
    fn stop(&self) {
        self.update(|state| state.1 = true);
    }

    fn update(&self, change: impl FnOnce(&mut (u64, bool))) {
        change(
            &mut self
                .state
                .lock()
                .expect("no thread panics holding the window"),
        );
        self.advanced.notify_all();
    }
}

/// Stops the window when the writer leaves, by any path, so no worker waits for it forever.
struct StopOnDrop<'a>(&'a Window);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// Scores blocks on `threads` workers, which take turns reading them, while this thread writes.
fn run_parallel<R: Read + Send>(
    source: BlockSource<R>,
    scorer: &Scorer,
    collector: &mut Collector,
    threads: usize,
) -> Result<()> {
    // Each worker reads its own next block (so the bytes land in its own core's cache) and
    // scores it. Memory stays flat: a worker starts no block more than `2 * threads` past the
    // next one to write, so when one worker stalls (a preempted thread, a CPU quota's
    // throttling) the others wait instead of piling up outputs that cannot be written yet.
    let (done_tx, done_rx) = mpsc::sync_channel::<Done>(threads * 2);
    let window = Window {
        state: Mutex::new((0, false)),
        advanced: Condvar::new(),
        ahead: 2 * threads as u64,
    };
    // The input, and whether it is over (ended or failed): no worker reads past that.
    let source = Mutex::new((source, false));
    let output_pool: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        let (source, window, output_pool) = (&source, &window, &output_pool);
        for _ in 0..threads {
            let done_tx = done_tx.clone();
            scope.spawn(move || {
                let mut work = scorer.work();
                let mut buf = Vec::new();
                loop {
                    let (seq, next) = {
                        let mut guard = source.lock().expect("no thread panics holding the input");
                        let (source, over) = &mut *guard;
                        if *over {
                            break;
                        }
                        // Waiting holds the input, which only workers about to wait would want.
                        let seq = source.next_seq();
                        if !window.wait_for(seq) {
                            break;
                        }
                        let next = source.next_block(std::mem::take(&mut buf));
                        *over = !matches!(next, Ok(Some(_)));
                        (seq, next)
                    };
                    let result = match next {
                        Ok(Some(block)) => {
                            let out = output_pool
                                .lock()
                                .expect("no thread panics holding the pool")
                                .pop();
                            let result =
                                scorer.score_block(&block, &mut work, out.unwrap_or_default());
                            buf = block.data;
                            result
                        }
                        Ok(None) => break,
                        Err(err) => Err(Failure::Cut(err)),
                    };
                    if done_tx.send(Done { seq, result }).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        // Owned by this closure, so an early return drops them before the scope joins the
        // threads: workers' sends fail, waits end, and the workers return.
        let done_rx = done_rx;
        let _stop = StopOnDrop(window);
        for done in &done_rx {
            collector.accept(done)?;
            window.advance(collector.next);
            output_pool
                .lock()
                .expect("no thread panics holding the pool")
                .extend(collector.spare.drain(..));
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_waits_for_the_writer_when_too_far_ahead_and_never_once_it_stops() {
        let window = Window {
            state: Mutex::new((0, false)),
            advanced: Condvar::new(),
            ahead: 2,
        };
        assert!(window.wait_for(0));
        assert!(window.wait_for(1));
        std::thread::scope(|scope| {
            let waiting = scope.spawn(|| window.wait_for(4));
            std::thread::sleep(std::time::Duration::from_millis(50));
            window.advance(2);
            std::thread::sleep(std::time::Duration::from_millis(50));
            assert!(
                !waiting.is_finished(),
                "block 4 started with block 2 unwritten"
            );
            window.advance(3);
            assert!(waiting.join().unwrap());
            let stopped = scope.spawn(|| window.wait_for(100));
            drop(StopOnDrop(&window));
            assert!(!stopped.join().unwrap());
        });
    }
}
