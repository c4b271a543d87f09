//! Sharding by byte range, for Kubernetes Indexed Jobs: shard `I` of `N` scores the rows whose
//! line starts fall in the `I`-th of `N` equal byte ranges of the data after the header.
//!
//! Every row starts in exactly one range, so every row is scored by exactly one shard, and the
//! shards' outputs concatenated in index order are the single-process output. A shard seeks to
//! its range, skips the end of a line that started before it, and reads on past its range to
//! the end of the last line that started inside it. Only line starts matter, so LF or CRLF, a
//! missing final newline, empty lines and more shards than rows all work out.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};

use crate::error::{Error, Result};

/// One shard of a sharded run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard's index, from 0.
    pub index: u64,
    /// How many shards there are.
    pub count: u64,
}

impl Shard {
    /// A checked shard: `count >= 1` and `index < count`.
    pub fn new(index: u64, count: u64) -> Result<Shard> {
        if count == 0 {
            return Err(Error::Usage("--shard-count must be at least 1".into()));
        }
        if index >= count {
            return Err(Error::Usage(format!(
                "--shard-index {index} is out of range for --shard-count {count} (indexes run from 0 to {})",
                count - 1
            )));
        }
        Ok(Shard { index, count })
    }

    /// The byte range `[start, end)` of this shard in data spanning `[data_start, len)`.
    pub fn range(&self, data_start: u64, len: u64) -> (u64, u64) {
        let size = u128::from(len.saturating_sub(data_start));
        let at = |i: u64| data_start + (size * u128::from(i) / u128::from(self.count)) as u64;
        (at(self.index), at(self.index + 1))
    }
}

/// The lines of one shard of a file, as a reader.
pub struct ShardReader {
    inner: BufReader<File>,
    pos: u64,
    end: u64,
    done: bool,
}

impl ShardReader {
    /// Opens `path` (its data starting after `header_bytes`) at the first line of `shard`.
    /// Returns the reader and the byte offset where the shard's first line starts.
    pub fn open(path: &str, shard: Shard, header_bytes: u64) -> Result<(ShardReader, u64)> {
        let file = File::open(path).map_err(|e| Error::io(path, "open", e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io(path, "read", e))?
            .len();
        let (start, end) = shard.range(header_bytes, len);
        let mut inner = BufReader::with_capacity(64 * 1024, file);
        let first = if start <= header_bytes {
            inner
                .seek(SeekFrom::Start(header_bytes))
                .map_err(|e| Error::io(path, "seek", e))?;
            header_bytes
        } else {
            // A line starts at `start` only if the byte before it ends a line.
            inner
                .seek(SeekFrom::Start(start - 1))
                .map_err(|e| Error::io(path, "seek", e))?;
            let skipped = inner
                .skip_until(b'\n')
                .map_err(|e| Error::io(path, "read", e))?;
            start - 1 + skipped as u64
        };
        Ok((
            ShardReader {
                inner,
                pos: first,
                end,
                done: first >= end,
            },
            first,
        ))
    }
}

impl Read for ShardReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.pos < self.end {
            let want = buf
                .len()
                .min((self.end - self.pos).min(usize::MAX as u64) as usize);
            let n = self.inner.read(&mut buf[..want])?;
            if n == 0 {
                self.done = true;
                return Ok(0);
            }
            self.pos += n as u64;
            if self.pos == self.end && buf[n - 1] == b'\n' {
                self.done = true;
            }
            return Ok(n);
        }
        // Past the range: finish the line that started inside it.
        let available = self.inner.fill_buf()?;
        if available.is_empty() {
            self.done = true;
            return Ok(0);
        }
        let (n, line_ends) = match memchr::memchr(b'\n', available) {
            Some(i) if i < buf.len() => (i + 1, true),
            _ => (available.len().min(buf.len()), false),
        };
        buf[..n].copy_from_slice(&available[..n]);
        self.inner.consume(n);
        self.pos += n as u64;
        self.done = line_ends;
        Ok(n)
    }
}

/// Line breaks in `path` before byte `upto`: the line number offset of a shard, counted only
/// when an error needs it.
pub fn newlines_before(path: &str, upto: u64) -> Result<u64> {
    let file = File::open(path).map_err(|e| Error::io(path, "open", e))?;
    let mut reader = BufReader::with_capacity(256 * 1024, file.take(upto));
    let mut count = 0;
    loop {
        let buf = reader.fill_buf().map_err(|e| Error::io(path, "read", e))?;
        if buf.is_empty() {
            return Ok(count);
        }
        count += memchr::memchr_iter(b'\n', buf).count() as u64;
        let n = buf.len();
        reader.consume(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Rng;

    fn scratch(name: &str, bytes: &[u8]) -> String {
        let dir = std::env::temp_dir().join(format!("bi-shard-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_string_lossy().into_owned()
    }

    fn shard_bytes(path: &str, header: u64, index: u64, count: u64) -> Vec<u8> {
        let (mut reader, _) =
            ShardReader::open(path, Shard::new(index, count).unwrap(), header).unwrap();
        let mut out = Vec::new();
        // Small reads exercise every branch of the reader.
        let mut buf = [0u8; 3];
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn shards_cover_the_data_exactly_once_in_order() {
        let mut rng = Rng(5);
        for case in 0..300 {
            let mut text = b"h1,h2\n".to_vec();
            let header = text.len() as u64;
            for _ in 0..rng.below(12) {
                if rng.one_in(5) {
                    text.extend_from_slice(if rng.one_in(2) { b"\n" } else { b"\r\n" });
                }
                for _ in 0..rng.below(9) {
                    text.push(b"0123456789,."[rng.below(12) as usize]);
                }
                text.extend_from_slice(if rng.one_in(2) { b"\n" } else { b"\r\n" });
            }
            if text.len() as u64 > header && rng.one_in(3) {
                text.pop();
            }
            let path = scratch(&format!("case{case}.csv"), &text);
            for count in 1..=17 {
                let parts: Vec<Vec<u8>> = (0..count)
                    .map(|i| shard_bytes(&path, header, i, count))
                    .collect();
                assert_eq!(
                    parts.concat(),
                    &text[header as usize..],
                    "case {case}, {count} shards"
                );
                // Each part is whole lines: it starts where a line starts, and ends a line or
                // the file.
                let mut at = header as usize;
                for part in parts.iter().filter(|p| !p.is_empty()) {
                    assert_eq!(
                        text[at - 1],
                        b'\n',
                        "case {case}, {count} shards: starts mid-line"
                    );
                    at += part.len();
                    assert!(
                        at == text.len() || part.ends_with(b"\n"),
                        "case {case}: ends mid-line"
                    );
                }
            }
        }
    }

    #[test]
    fn an_index_past_the_count_is_a_usage_error() {
        let err = Shard::new(4, 4).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert_eq!(
            err.to_string(),
            "--shard-index 4 is out of range for --shard-count 4 (indexes run from 0 to 3)"
        );
    }
}
