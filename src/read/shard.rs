//! Sharding by byte range, for Kubernetes Indexed Jobs: shard `I` of `N` scores the records
//! that start in the `I`-th of `N` equal byte ranges of the data after the header.
//!
//! Every record starts in exactly one range, so every record is scored by exactly one shard,
//! and the shards' outputs concatenated in index order are the single-process output. A shard
//! finds the first record that starts in its range and the first that starts after it with
//! [`crate::read::boundary`], which follows quoted fields (line breaks inside quotes, quotes
//! inside unquoted fields) as the unsharded reader does, and reads the bytes between: a shard
//! accepts exactly what the unsharded reader accepts. Only record starts matter, so LF, CRLF
//! or CR, a missing final newline, empty lines and more shards than rows all work out.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};

use crate::error::{Error, Result};
use crate::read::boundary::state_at;
use crate::read::cursor::line_breaks;

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

/// The records of one shard of a file, as a reader.
pub struct ShardReader {
    inner: io::Take<Box<dyn Read + Send>>,
}

impl ShardReader {
    /// Opens `path` (its records starting after `header_bytes`) at the first record of `shard`.
    /// Returns the reader and the byte offset where the shard's first record starts.
    pub fn open(path: &str, shard: Shard, header_bytes: u64) -> Result<(ShardReader, u64)> {
        if crate::store::is_url(path) {
            let (object, len) = crate::store::get::seekable(path)?;
            return ShardReader::within(path, object, len, shard, header_bytes);
        }
        let file = File::open(path).map_err(|e| Error::io(path, "open", e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io(path, "read", e))?
            .len();
        ShardReader::within(path, file, len, shard, header_bytes)
    }

    /// The records of `shard` of `file` (any seekable bytes, such as an object read by ranged
    /// GETs), `len` bytes long; named `path` in messages.
    pub fn within<F: Read + Seek + Send + 'static>(
        path: &str,
        mut file: F,
        len: u64,
        shard: Shard,
        header_bytes: u64,
    ) -> Result<(ShardReader, u64)> {
        let (start, end) = shard.range(header_bytes, len);
        let first = record_start(&mut file, header_bytes, len, start)
            .map_err(|e| Error::io(path, "read", e))?;
        let next = record_start(&mut file, header_bytes, len, end)
            .map_err(|e| Error::io(path, "read", e))?;
        file.seek(SeekFrom::Start(first))
            .map_err(|e| Error::io(path, "seek", e))?;
        let inner = (Box::new(file) as Box<dyn Read + Send>).take(next.saturating_sub(first));
        Ok((ShardReader { inner }, first))
    }
}

impl Read for ShardReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

/// Where the first record that starts at or after byte `pos` of `file` starts (`len` when
/// none does). The records start at `data_start`, after the header.
fn record_start(
    file: &mut (impl Read + Seek),
    data_start: u64,
    len: u64,
    pos: u64,
) -> io::Result<u64> {
    if pos <= data_start {
        return Ok(data_start);
    }
    if pos >= len {
        return Ok(len);
    }
    let mut state = state_at(file, data_start, pos)?;
    file.seek(SeekFrom::Start(pos))?;
    let mut at = pos;
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(len);
        }
        match state.first_record_start(&buf[..n]) {
            Ok(i) => return Ok(at + i as u64),
            Err(after) => state = after,
        }
        at += n as u64;
    }
}

/// Line breaks in `path` before byte `upto`, counted as the readers count them
/// (`line_breaks`): the line number offset of a shard, counted only when an error needs it.
pub fn newlines_before(path: &str, upto: u64) -> Result<u64> {
    let file: Box<dyn Read> = if crate::store::is_url(path) {
        Box::new(crate::store::get::seekable(path)?.0)
    } else {
        Box::new(File::open(path).map_err(|e| Error::io(path, "open", e))?)
    };
    let mut reader = BufReader::with_capacity(256 * 1024, file.take(upto));
    let mut count = 0;
    // A carriage return that ends a buffer is a line break unless a line feed starts the next.
    let mut cr_pending = false;
    loop {
        let buf = reader.fill_buf().map_err(|e| Error::io(path, "read", e))?;
        if buf.is_empty() {
            return Ok(count + u64::from(cr_pending));
        }
        count += u64::from(cr_pending && buf[0] != b'\n');
        cr_pending = buf.last() == Some(&b'\r');
        let whole = if cr_pending {
            &buf[..buf.len() - 1]
        } else {
            buf
        };
        count += line_breaks(buf, 0..whole.len());
        let n = buf.len();
        reader.consume(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Rng;

    fn scratch(name: &str, bytes: &[u8]) -> String {
        crate::testing::scratch_file("shard", name, bytes)
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

    /// Where csv-core starts each record of `text` after `data_start`.
    fn record_starts(text: &[u8], data_start: usize) -> Vec<usize> {
        let mut reader = crate::read::block::record_reader();
        let (mut out, mut ends) = (vec![0; text.len() + 1], vec![0; text.len() + 1]);
        let mut starts = Vec::new();
        let mut pos = data_start;
        loop {
            while pos < text.len() && matches!(text[pos], b'\n' | b'\r') {
                pos += 1;
            }
            if pos >= text.len() {
                return starts;
            }
            starts.push(pos);
            let (result, nin, _, _) = reader.read_record(&text[pos..], &mut out, &mut ends);
            pos += nin;
            if result != csv_core::ReadRecordResult::Record {
                return starts;
            }
        }
    }

    #[test]
    fn shards_start_where_records_start_whatever_the_quotes_and_line_ends() {
        let mut rng = Rng(11);
        for case in 0..200 {
            let text = crate::testing::quoted_csv(&mut rng, 30).into_bytes();
            let Some(end) = text.iter().position(|&b| matches!(b, b'\n' | b'\r')) else {
                continue;
            };
            let header = end + usize::from(text[end..].starts_with(b"\r\n")) + 1;
            let starts = record_starts(&text, header);
            let path = scratch(&format!("quoted{case}.csv"), &text);
            for count in 1..=9 {
                let parts: Vec<Vec<u8>> = (0..count)
                    .map(|i| shard_bytes(&path, header as u64, i, count))
                    .collect();
                assert_eq!(
                    parts.concat(),
                    &text[header..],
                    "case {case}, {count} shards"
                );
                let mut at = header;
                for (i, part) in parts.iter().enumerate() {
                    if !part.is_empty() && i > 0 {
                        assert!(
                            starts.contains(&at),
                            "case {case}, shard {i} of {count} starts at byte {at}, in a record: {:?}",
                            String::from_utf8_lossy(&text)
                        );
                    }
                    at += part.len();
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
