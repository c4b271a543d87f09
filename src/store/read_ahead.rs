//! Reading a stream on a thread of its own, a few chunks ahead of its reader.
//!
//! A compressed input costs more to decompress than its text costs to parse: read in line,
//! the decoder runs only while a scoring worker holds the input to cut its next block, and
//! stops while every worker parses, so it is the slowest stage and often idle. On its own
//! thread it runs all the time, as `zcat` does at the other end of a pipe, and the workers take
//! its text from memory. At most [`AHEAD`] chunks of [`CHUNK`] bytes wait to be read, so
//! memory stays bounded however far the decoder could run ahead. The bytes are the stream's,
//! in order: what is read does not depend on the thread count.

use std::io::{self, Read};
use std::sync::mpsc::{self, Receiver, SyncSender};

/// The most bytes one read of the inner stream asks for.
pub const CHUNK: usize = 256 * 1024;
/// The most chunks read but not yet taken.
pub const AHEAD: usize = 4;

/// One read of the inner stream: a buffer of [`CHUNK`] bytes and how many of them it holds
/// (0 at the end of the stream), or the read's error.
type Chunk = io::Result<(Vec<u8>, usize)>;

/// The reading end: the inner stream's bytes, read by a thread of their own.
pub struct ReadAhead {
    chunks: Receiver<Chunk>,
    /// Emptied buffers going back to the thread, so it allocates only a few.
    spare: SyncSender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    len: usize,
    state: State,
}

/// Where the stream stands, as far as the reader has taken it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Reading,
    Ended,
    Failed,
}

impl ReadAhead {
    /// Starts a thread named `name` that reads `inner` ahead of the returned reader. The
    /// thread ends at the end of the stream, at its first error, or when the reader is
    /// dropped and it next has a chunk to hand over.
    pub fn spawn(name: &str, inner: Box<dyn Read + Send>) -> io::Result<ReadAhead> {
        let (chunk_tx, chunks) = mpsc::sync_channel(AHEAD);
        // Room for every buffer there is, so handing one back never blocks the reader.
        let (spare, spare_rx) = mpsc::sync_channel(AHEAD + 2);
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || read_chunks(inner, &chunk_tx, &spare_rx))?;
        Ok(ReadAhead {
            chunks,
            spare,
            current: Vec::new(),
            pos: 0,
            len: 0,
            state: State::Reading,
        })
    }

    /// Takes the next chunk into `current`, handing the last one back.
    fn next_chunk(&mut self) -> io::Result<()> {
        let used = std::mem::take(&mut self.current);
        if used.capacity() > 0 {
            // Full only if the thread has ended; the buffer is then not needed.
            let _ = self.spare.try_send(used);
        }
        let received = self.chunks.recv();
        self.pos = 0;
        self.len = 0;
        match received {
            Ok(Ok((buf, 0))) => {
                self.state = State::Ended;
                self.current = buf;
                Ok(())
            }
            Ok(Ok((buf, len))) => {
                self.current = buf;
                self.len = len;
                Ok(())
            }
            Ok(Err(err)) => {
                self.state = State::Failed;
                Err(err)
            }
            Err(_) => {
                self.state = State::Failed;
                Err(io::Error::other(
                    "the thread reading ahead stopped before the end of the stream",
                ))
            }
        }
    }
}

impl Read for ReadAhead {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.len {
            match self.state {
                State::Reading => self.next_chunk()?,
                State::Ended => return Ok(0),
                // The error was returned once; reading on must not look like an end.
                State::Failed => {
                    return Err(io::Error::other("an earlier read of this stream failed"))
                }
            }
        }
        let n = out.len().min(self.len - self.pos);
        out[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The thread's loop: one read of `inner` a chunk, until the end, an error, or no reader.
fn read_chunks(
    mut inner: Box<dyn Read + Send>,
    chunks: &SyncSender<Chunk>,
    spare: &Receiver<Vec<u8>>,
) {
    loop {
        let mut buf = spare.try_recv().unwrap_or_default();
        // A recycled buffer is CHUNK long already; only a new one is allocated and zeroed.
        buf.resize(CHUNK, 0);
        // One read, not as many as fill the chunk: a pipe that has sent a header and then
        // waits must not keep the header from the reader.
        let read = loop {
            match inner.read(&mut buf) {
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                other => break other,
            }
        };
        let last = !matches!(read, Ok(n) if n > 0);
        if chunks.send(read.map(|n| (buf, n))).is_err() || last {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream that hands out its bytes a few at a time, then fails if told to.
    struct Trickle {
        bytes: Vec<u8>,
        pos: usize,
        step: usize,
        fail_at_end: bool,
        /// Dropped with the stream: its receiver then sees the stream gone.
        _alive: Option<mpsc::Sender<()>>,
    }

    impl Read for Trickle {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.pos == self.bytes.len() && self.fail_at_end {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "broken stream"));
            }
            let n = out.len().min(self.step).min(self.bytes.len() - self.pos);
            out[..n].copy_from_slice(&self.bytes[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    fn trickle(len: usize, step: usize, fail_at_end: bool) -> (Vec<u8>, Box<dyn Read + Send>) {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let stream = Trickle {
            bytes: bytes.clone(),
            pos: 0,
            step,
            fail_at_end,
            _alive: None,
        };
        (bytes, Box::new(stream))
    }

    #[test]
    fn the_bytes_come_out_as_they_went_in_whatever_the_read_sizes() {
        for (len, step, out_size) in [
            (0, 1, 7),
            (10, 3, 4),
            (3 * CHUNK + 17, CHUNK, 1000),
            (2 * CHUNK, 100_000, CHUNK + 1),
            (AHEAD * 3 * CHUNK, 3 * CHUNK, 512 * 1024),
        ] {
            let (want, stream) = trickle(len, step, false);
            let mut reader = ReadAhead::spawn("test", stream).unwrap();
            let mut got = Vec::new();
            let mut buf = vec![0; out_size];
            loop {
                let n = reader.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(got, want, "len {len}, step {step}, reads of {out_size}");
            assert_eq!(reader.read(&mut buf).unwrap(), 0, "the end stays the end");
        }
    }

    #[test]
    fn an_error_of_the_stream_reaches_the_reader_after_the_bytes_before_it() {
        let (want, stream) = trickle(CHUNK + 5, 1000, true);
        let mut reader = ReadAhead::spawn("test", stream).unwrap();
        let mut got = Vec::new();
        let err = reader.read_to_end(&mut got).unwrap_err();
        assert_eq!(got, want);
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(err.to_string(), "broken stream");
        let again = reader.read(&mut [0; 8]).unwrap_err();
        assert_eq!(again.to_string(), "an earlier read of this stream failed");
    }

    #[test]
    fn a_reader_dropped_early_lets_its_thread_end() {
        let (alive, gone) = mpsc::channel();
        let stream = Trickle {
            bytes: vec![b'x'; 64 * CHUNK],
            pos: 0,
            step: CHUNK,
            fail_at_end: false,
            _alive: Some(alive),
        };
        let mut reader = ReadAhead::spawn("test", Box::new(stream)).unwrap();
        let mut first = [0; 10];
        reader.read_exact(&mut first).unwrap();
        drop(reader);
        // The thread's next send fails, it returns and drops the stream, long before it could
        // have read the 64 chunks.
        let waited = gone.recv_timeout(std::time::Duration::from_secs(30));
        assert_eq!(waited, Err(mpsc::RecvTimeoutError::Disconnected));
    }
}
