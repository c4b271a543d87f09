//! A Parquet object read once, front to back, for `train`: it decodes every row of its
//! columns and records the SHA-256 of the whole file in the model, so every byte is needed
//! anyway, and one pass serves both.
//!
//! The footer comes first, as for [`crate::store::chunks`] (one GET of the object's end).
//! Then one GET streams the rest, from the first byte to the footer, through the digest: the
//! row group being decoded is kept in memory (the crate reads its column chunks in turn, one
//! batch of each at a time), and the bytes between the row groups the run asks for (columns
//! it does not decode) are hashed and dropped. Memory is one row group, whatever the file's
//! size; the bytes fetched are the object's size. A request behind the stream (which reading
//! row groups in order never makes) is a ranged GET of its own.

use std::io::{self, Read};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use object_store::GetRange;
use parquet::errors::Result as ParquetResult;
use parquet::file::reader::{ChunkReader, Length};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::store::chunks::{exact_span, get, FetchFailed, Footer, SpanRead, Spans};
use crate::store::get::ObjectReader;
use crate::store::{io_error, Object};

/// How many bytes between two row groups are hashed at a time on their way past.
const SKIP_BUFFER: usize = 64 * 1024;

/// A Parquet object read in one pass, with the SHA-256 of every byte.
#[derive(Clone)]
pub struct WholeObject {
    shared: Arc<Shared>,
}

/// What a [`WholeObject`] and its readers share: the object, its footer, the stream.
pub struct Shared {
    object: Object,
    len: u64,
    /// Where the footer starts, and the object's bytes from there to its end.
    tail_start: u64,
    tail: Bytes,
    /// The byte ranges of the row groups (their column chunks), in order of their start.
    groups: Vec<Range<u64>>,
    stream: Mutex<Stream>,
    requests: AtomicU64,
    fetched: AtomicU64,
}

/// The one GET of the bytes before the footer, and what has passed through it.
struct Stream {
    reader: ObjectReader,
    hasher: Sha256,
    /// Every byte before this one has been hashed.
    pos: u64,
    /// The bytes kept from `window_start` on: the row group being decoded.
    window_start: u64,
    window: Bytes,
}

impl WholeObject {
    /// Opens the object at `url`: fetches its footer. A missing object is an I/O error (exit 5).
    pub fn open(url: &str) -> Result<WholeObject> {
        WholeObject::of(Object::open(url)?)
    }

    /// Opens `object`, as [`WholeObject::open`].
    pub fn of(object: Object) -> Result<WholeObject> {
        let footer = Footer::fetch(&object)?;
        let mut groups: Vec<Range<u64>> = footer
            .metadata
            .iter()
            .flat_map(|m| m.row_groups().iter())
            .filter_map(|group| {
                let ranges = group.columns().iter().map(|column| {
                    let (start, length) = column.byte_range();
                    start..start.saturating_add(length)
                });
                ranges.reduce(|a, b| a.start.min(b.start)..a.end.max(b.end))
            })
            .collect();
        groups.sort_by_key(|g| g.start);
        let reader = ObjectReader::with_size(&object, footer.tail_start);
        Ok(WholeObject {
            shared: Arc::new(Shared {
                object,
                len: footer.len,
                tail_start: footer.tail_start,
                tail: footer.tail,
                groups,
                stream: Mutex::new(Stream {
                    reader,
                    hasher: Sha256::new(),
                    pos: 0,
                    window_start: 0,
                    window: Bytes::new(),
                }),
                requests: AtomicU64::new(footer.requests),
                fetched: AtomicU64::new(footer.fetched),
            }),
        })
    }

    /// The SHA-256 (hex) of the whole object: the bytes not yet read are read (and hashed)
    /// now, so it is the digest of the file whatever the run decoded.
    pub fn finish(&self) -> Result<String> {
        let shared = &self.shared;
        let mut stream = shared.lock();
        shared
            .advance(&mut stream, shared.tail_start)
            .map_err(|e| Error::io(&shared.object.url, "read", e))?;
        let mut hasher = stream.hasher.clone();
        hasher.update(&shared.tail);
        Ok(hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect())
    }

    /// How many GETs were made and how many bytes they fetched, so far.
    pub fn fetched(&self) -> (u64, u64) {
        (
            self.shared.requests.load(Ordering::Relaxed),
            self.shared.fetched.load(Ordering::Relaxed),
        )
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Stream> {
        self.stream
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reads the stream up to `to`, hashing what passes and keeping none of it.
    fn advance(&self, stream: &mut Stream, to: u64) -> io::Result<()> {
        let mut scratch = vec![0u8; SKIP_BUFFER];
        while stream.pos < to {
            let n = (to - stream.pos).min(SKIP_BUFFER as u64) as usize;
            self.take(stream, &mut scratch[..n])?;
        }
        Ok(())
    }

    /// Fills `buf` with the stream's next bytes, hashing them.
    fn take(&self, stream: &mut Stream, buf: &mut [u8]) -> io::Result<()> {
        if stream.pos == 0 && !buf.is_empty() {
            self.requests.fetch_add(1, Ordering::Relaxed);
        }
        stream.reader.read_exact(buf)?;
        stream.hasher.update(&*buf);
        stream.pos += buf.len() as u64;
        self.fetched.fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// The object's bytes from `start` on, at least `length` of them (fewer only at the
    /// object's end): from the footer, the row group in memory, the stream, or a GET.
    fn span(&self, start: u64, length: u64) -> std::result::Result<Bytes, FetchFailed> {
        let failed = |e: io::Error| FetchFailed::new(&self.object.url, e);
        let end = start.saturating_add(length).min(self.len);
        if start >= end {
            return Ok(Bytes::new());
        }
        if start >= self.tail_start {
            return Ok(self.tail.slice((start - self.tail_start) as usize..));
        }
        let mut stream = self.lock();
        let window_end = stream.window_start + stream.window.len() as u64;
        if stream.window_start <= start && end <= window_end {
            return Ok(stream
                .window
                .slice((start - stream.window_start) as usize..));
        }
        if start < stream.pos {
            drop(stream);
            let (_, _, bytes) = get(&self.object, GetRange::Bounded(start..end))
                .map_err(|e| failed(io_error(e)))?;
            self.requests.fetch_add(1, Ordering::Relaxed);
            self.fetched
                .fetch_add(bytes.len() as u64, Ordering::Relaxed);
            return Ok(bytes);
        }
        // The row group `start` falls in is kept whole from where the stream stands: the
        // crate reads its columns in turn, in the order the run selected them.
        let group = self
            .groups
            .iter()
            .find(|g| g.start <= start && start < g.end);
        let from = group.map_or(start, |g| g.start.max(stream.pos));
        let to = group.map_or(end, |g| g.end.max(end)).min(self.tail_start);
        self.advance(&mut stream, from).map_err(failed)?;
        let mut kept = vec![0u8; (to - from) as usize];
        self.take(&mut stream, &mut kept).map_err(failed)?;
        stream.window_start = from;
        stream.window = Bytes::from(kept);
        let at = (start - from) as usize;
        if end <= to {
            return Ok(stream.window.slice(at..));
        }
        // A request that runs into the footer (a damaged file): the footer's bytes follow.
        let mut joined = stream.window[at..].to_vec();
        joined.extend_from_slice(&self.tail[..(end - self.tail_start) as usize]);
        Ok(Bytes::from(joined))
    }
}

impl Length for WholeObject {
    fn len(&self) -> u64 {
        self.shared.len
    }
}

impl ChunkReader for WholeObject {
    type T = SpanRead<Shared>;

    fn get_read(&self, start: u64) -> ParquetResult<SpanRead<Shared>> {
        Ok(SpanRead::new(Arc::clone(&self.shared), start))
    }

    fn get_bytes(&self, start: u64, length: usize) -> ParquetResult<Bytes> {
        exact_span(&*self.shared, start, length)
    }
}

/// A reader of a [`WholeObject`] from a position on.
pub type WholeRead = SpanRead<Shared>;

impl Spans for Shared {
    fn size(&self) -> u64 {
        self.len
    }

    fn span(&self, start: u64, length: u64) -> std::result::Result<Bytes, FetchFailed> {
        Shared::span(self, start, length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::chunks::tests::{column, file, stored, value, GROUPS, ROWS};
    use parquet::column::reader::ColumnReader;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    /// Columns `order` of `file`, row group by row group (as the Parquet reader reads them),
    /// each column's values in one vector.
    fn by_groups(file: &SerializedFileReader<WholeObject>, order: [usize; 2]) -> Vec<Vec<f64>> {
        let mut columns = vec![Vec::new(); order.len()];
        for g in 0..file.num_row_groups() {
            let group = file.get_row_group(g).unwrap();
            for (i, &c) in order.iter().enumerate() {
                let ColumnReader::DoubleColumnReader(mut reader) =
                    group.get_column_reader(c).unwrap()
                else {
                    panic!("a double column");
                };
                reader
                    .read_records(ROWS, None, None, &mut columns[i])
                    .unwrap();
            }
        }
        columns
    }

    fn expected(c: usize) -> Vec<f64> {
        (0..GROUPS)
            .flat_map(|g| (0..ROWS).map(move |r| value(g, r, c)))
            .collect()
    }

    #[test]
    fn two_columns_read_in_either_order_fetch_the_object_once_in_two_gets_with_its_digest() {
        for order in [[0, 7], [7, 0]] {
            let bytes = file();
            let size = bytes.len() as u64;
            let digest = format!("{:x}", Sha256::digest(&bytes));
            let (_, object) = stored(bytes);
            let whole = WholeObject::of(object).unwrap();
            assert_eq!(whole.fetched().0, 1, "one GET for the footer");
            let file = SerializedFileReader::new(whole.clone()).unwrap();
            let columns = by_groups(&file, order);
            assert_eq!(columns, order.map(expected), "columns {order:?}");
            assert_eq!(whole.finish().unwrap(), digest);
            // The footer, then one GET of everything before it: the object's size in all.
            assert_eq!(whole.fetched(), (2, size), "columns {order:?}");
        }
    }

    #[test]
    fn a_read_behind_the_stream_is_a_ranged_get_of_its_own() {
        let bytes = file();
        let digest = format!("{:x}", Sha256::digest(&bytes));
        let (_, object) = stored(bytes);
        let whole = WholeObject::of(object).unwrap();
        let file = SerializedFileReader::new(whole.clone()).unwrap();
        // Column 7 of both row groups, then column 0 of the first: behind the stream.
        assert_eq!(column(&file, 7).unwrap(), expected(7));
        assert_eq!(column(&file, 0).unwrap(), expected(0));
        assert_eq!(whole.finish().unwrap(), digest);
        assert!(whole.fetched().0 > 2);
    }

    #[test]
    fn an_object_read_whole_without_decoding_has_the_digest_of_its_bytes() {
        let bytes = file();
        let digest = format!("{:x}", Sha256::digest(&bytes));
        let (_, object) = stored(bytes);
        let whole = WholeObject::of(object).unwrap();
        assert_eq!(whole.finish().unwrap(), digest);
        assert_eq!(whole.fetched().0, 2);
    }

    #[test]
    fn an_object_gone_after_its_footer_is_a_storage_error_naming_its_url() {
        let (store, object) = stored(file());
        let key = object.key.clone();
        let whole = WholeObject::of(object).unwrap();
        let file = SerializedFileReader::new(whole.clone()).unwrap();
        crate::store::runtime::block_on(object_store::ObjectStore::delete(&*store, &key))
            .unwrap()
            .unwrap();
        let err = column(&file, 3).unwrap_err();
        let err = crate::store::chunks::storage_error(&err).expect("a storage error");
        assert_eq!(err.exit_code(), 5);
        assert!(
            err.to_string()
                .starts_with("s3://bkt/in/x.parquet: cannot read: "),
            "{err}"
        );
        let err = whole.finish().unwrap_err();
        assert_eq!(err.exit_code(), 5);
    }
}
