//! A local file as the `parquet` crate's [`ChunkReader`], read by position (`pread`) rather
//! than by seeking a shared cursor.
//!
//! The crate's own `ChunkReader for File` clones the handle and seeks it; clones share one
//! file offset, so two threads reading column chunks of the same file at once would read each
//! other's bytes. Positioned reads have no cursor to share, so the Parquet reader's workers may
//! each read their columns through one [`PositionedFile`].

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use ::parquet::errors::{ParquetError, Result as ParquetResult};
use ::parquet::file::reader::{ChunkReader, Length};
use bytes::Bytes;

/// A local file shared by the readers of its column chunks.
#[derive(Debug, Clone)]
pub struct PositionedFile {
    file: Arc<File>,
    len: u64,
}

impl PositionedFile {
    /// Wraps an open file; its length is taken once, now.
    pub fn new(file: File) -> io::Result<PositionedFile> {
        let len = file.metadata()?.len();
        Ok(PositionedFile {
            file: Arc::new(file),
            len,
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
        let mut buffer = vec![0u8; length];
        self.file.read_exact_at(&mut buffer, start).map_err(|e| {
            ParquetError::EOF(format!(
                "expected {length} bytes at offset {start} of {} ({e})",
                self.len
            ))
        })?;
        Ok(Bytes::from(buffer))
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
}
