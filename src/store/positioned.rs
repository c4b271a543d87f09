//! A local file as the `parquet` crate's [`ChunkReader`], read by position (`pread`) rather
//! than by seeking a shared cursor.
//!
//! The crate's own `ChunkReader for File` clones the handle and seeks it; clones share one
//! file offset, so two threads reading column chunks of the same file at once would read each
//! other's bytes. Positioned reads have no cursor to share, so the Parquet reader's workers may
//! each read their columns through one [`PositionedFile`].
//!
//! A page is read into a buffer from a small pool, given back when the crate drops the page's
//! bytes (after decompressing it, for a compressed page). A fresh buffer would have to be
//! zero-filled before each read (safe Rust reads only into initialised memory), which cost
//! about 8% of a Parquet run's CPU; a pooled buffer was initialised once, by its first read.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex};

use ::parquet::errors::{ParquetError, Result as ParquetResult};
use ::parquet::file::reader::{ChunkReader, Length};
use bytes::Bytes;

/// A local file shared by the readers of its column chunks.
#[derive(Debug, Clone)]
pub struct PositionedFile {
    file: Arc<File>,
    len: u64,
    pool: Arc<Pool>,
}

/// The most page buffers kept for reuse: more than the pages a run reads at once (one per
/// decoding worker, each dropped once decompressed), few enough that the pool stays a few
/// pages' worth of memory.
const POOLED: usize = 8;

/// Page buffers given back, each initialised over its whole length.
#[derive(Debug, Default)]
struct Pool(Mutex<Vec<Vec<u8>>>);

impl Pool {
    fn take(&self) -> Vec<u8> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop()
            .unwrap_or_default()
    }

    fn give_back(&self, buffer: Vec<u8>) {
        let mut pool = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if pool.len() < POOLED {
            pool.push(buffer);
        }
    }
}

/// The first `len` bytes of a pooled buffer, as the bytes of a page: the buffer goes back to
/// the pool when the last [`Bytes`] of it is dropped.
struct Pooled {
    buffer: Vec<u8>,
    len: usize,
    pool: Arc<Pool>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buffer[..self.len]
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        self.pool.give_back(std::mem::take(&mut self.buffer));
    }
}

impl PositionedFile {
    /// Wraps an open file; its length is taken once, now.
    pub fn new(file: File) -> io::Result<PositionedFile> {
        let len = file.metadata()?.len();
        Ok(PositionedFile {
            file: Arc::new(file),
            len,
            pool: Arc::default(),
        })
    }
}

impl Length for PositionedFile {
    fn len(&self) -> u64 {
        self.len
    }
}

/// The bytes of a [`PositionedFile`] from one offset on, each read at its own position.
pub struct ReaderAt {
    file: Arc<File>,
    at: u64,
}

impl Read for ReaderAt {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

impl ChunkReader for PositionedFile {
    type T = BufReader<ReaderAt>;

    fn get_read(&self, start: u64) -> ParquetResult<Self::T> {
        Ok(BufReader::new(ReaderAt {
            file: Arc::clone(&self.file),
            at: start,
        }))
    }

    fn get_bytes(&self, start: u64, length: usize) -> ParquetResult<Bytes> {
        let mut buffer = self.pool.take();
        if buffer.len() < length {
            // Only the part never read into before is zero-filled.
            buffer.resize(length, 0);
        }
        let read = self.file.read_exact_at(&mut buffer[..length], start);
        let pooled = Pooled {
            buffer,
            len: length,
            pool: Arc::clone(&self.pool),
        };
        read.map_err(|e| {
            ParquetError::EOF(format!(
                "expected {length} bytes at offset {start} of {} ({e})",
                self.len
            ))
        })?;
        Ok(Bytes::from_owner(pooled))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::scratch_file;

    #[test]
    fn readers_at_different_offsets_each_read_their_own_bytes() {
        let bytes: Vec<u8> = (0..=255u8).cycle().take(20_000).collect();
        let path = scratch_file("positioned", "bytes.bin", &bytes);
        let file = PositionedFile::new(File::open(&path).unwrap()).unwrap();
        assert_eq!(file.len(), 20_000);
        // With one shared cursor, opening the second reader would move the first.
        let mut first = file.get_read(10).unwrap();
        let mut second = file.get_read(9_000).unwrap();
        let (mut a, mut b) = ([0u8; 3], [0u8; 3]);
        second.read_exact(&mut b).unwrap();
        first.read_exact(&mut a).unwrap();
        assert_eq!((a, b), ([10, 11, 12], [40, 41, 42]));
        assert_eq!(&file.get_bytes(19_998, 2).unwrap()[..], &bytes[19_998..]);
        let short = file.get_bytes(19_998, 3).unwrap_err().to_string();
        assert!(
            short.starts_with("EOF: expected 3 bytes at offset 19998 of 20000"),
            "{short}"
        );
    }

    #[test]
    fn a_page_buffer_given_back_is_reused_and_never_shows_an_earlier_reads_bytes() {
        let bytes: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        let path = scratch_file("positioned", "pooled.bin", &bytes);
        let file = PositionedFile::new(File::open(&path).unwrap()).unwrap();
        let long = file.get_bytes(100, 5_000).unwrap();
        let at = long.as_ptr();
        assert_eq!(&long[..], &bytes[100..5_100]);
        drop(long);
        // The same buffer, shorter: only the bytes asked for, from where they were asked.
        let short = file.get_bytes(7_000, 3).unwrap();
        assert_eq!(
            short.as_ptr(),
            at,
            "the buffer given back is read into again"
        );
        assert_eq!(&short[..], &bytes[7_000..7_003]);
        // While a page is held, its buffer is not handed out again.
        let other = file.get_bytes(0, 3).unwrap();
        assert_ne!(other.as_ptr(), at);
        assert_eq!(
            (&short[..], &other[..]),
            (&bytes[7_000..7_003], &bytes[..3])
        );
    }
}
