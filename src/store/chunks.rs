//! A Parquet object read by byte ranges: the `parquet` crate's [`ChunkReader`] over an object,
//! so that a run fetches the footer and then only the column chunks it decodes, never the
//! whole object.
//!
//! The footer comes first, by one GET of the object's last bytes (a suffix range, which also
//! tells the object's size; Azure, which has no suffix ranges, gets a HEAD and a bounded
//! range), and stays in memory for the whole read. Its metadata is decoded here, once (the
//! Parquet reader takes it from [`ObjectChunks::metadata`] rather than decode it again), to know
//! where each column chunk starts and ends: the crate asks for a page header (a few bytes)
//! and then the page, one after another, so each request that misses the cache fetches a
//! read-ahead of up to [`READ_AHEAD`] bytes from there, never past the end of the column chunk
//! it falls in (so columns the run does not need are not fetched). Fetched ranges are kept, up
//! to `CACHE_BUDGET` bytes, the least recently used dropped first.
//!
//! A failed request is a storage error naming the URL ([`storage_error`] finds it again in the
//! crate's error), not a damaged file: reading again may well succeed.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use object_store::{GetOptions, GetRange};
use parquet::errors::{ParquetError, Result as ParquetResult};
use parquet::file::metadata::{FooterTail, ParquetMetaData, ParquetMetaDataReader};
use parquet::file::reader::{ChunkReader, Length};

use crate::error::{Error, Result};
use crate::store::{io_error, runtime, Object};

/// How many bytes of the object's end the first GET asks for: the footer of most files, so
/// one request finds it.
const FOOTER_GUESS: u64 = 64 * 1024;

/// The most bytes one GET for a column chunk asks for: enough that a chunk is not fetched in
/// small pieces, little enough that a batch of each column stays within `CACHE_BUDGET`.
pub const READ_AHEAD: u64 = 4 * 1024 * 1024;

/// The most bytes of column chunks kept in memory between requests.
const CACHE_BUDGET: usize = 32 * 1024 * 1024;

/// The first (and last) four bytes of every Parquet file.
const MAGIC: &[u8; 4] = b"PAR1";

/// The length of a Parquet file's tail: the metadata's length and the magic.
const FOOTER_SIZE: usize = 8;

/// A Parquet object, read by ranged GETs.
#[derive(Clone)]
pub struct ObjectChunks {
    shared: Arc<Shared>,
}

/// What an [`ObjectChunks`] and its readers share: the object, its footer, the fetched ranges.
pub struct Shared {
    object: Object,
    len: u64,
    /// Where the footer starts, and the object's bytes from there to its end.
    tail_start: u64,
    tail: Bytes,
    /// The byte ranges of the file's column chunks, in order of their start.
    chunks: Vec<Range<u64>>,
    /// The decoded footer, unless it did not decode.
    metadata: Option<Arc<ParquetMetaData>>,
    cache: Mutex<Cache>,
    requests: AtomicU64,
    fetched: AtomicU64,
}

/// Ranges fetched, least recently used first.
#[derive(Default)]
struct Cache {
    buffers: VecDeque<(u64, Bytes)>,
    bytes: usize,
}

/// A request for part of an object that failed: an I/O error of the object, which the
/// `parquet` crate carries inside its own error.
#[derive(Debug)]
pub struct FetchFailed {
    url: String,
    source: io::Error,
}

impl fmt::Display for FetchFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: cannot read: {}", self.url, self.source)
    }
}

impl std::error::Error for FetchFailed {}

impl FetchFailed {
    /// A failed request for part of the object at `url`.
    pub(crate) fn new(url: &str, source: io::Error) -> FetchFailed {
        FetchFailed {
            url: url.to_string(),
            source,
        }
    }

    /// The kind of the I/O error, for a reader that returns it as one.
    pub(crate) fn kind(&self) -> io::ErrorKind {
        self.source.kind()
    }
}

/// The storage error inside an error of the `parquet` crate, if it is one: a request to
/// object storage that failed, as an I/O error (exit 5) naming the object.
pub fn storage_error(err: &ParquetError) -> Option<Error> {
    let ParquetError::External(inner) = err else {
        return None;
    };
    let failed = inner.downcast_ref::<FetchFailed>().or_else(|| {
        inner
            .downcast_ref::<io::Error>()
            .and_then(|e| e.get_ref())
            .and_then(|e| e.downcast_ref::<FetchFailed>())
    })?;
    let source = io::Error::new(failed.source.kind(), failed.source.to_string());
    Some(Error::io(&failed.url, "read", source))
}

impl ObjectChunks {
    /// Opens the object at `url`: fetches its footer. A missing object is an I/O error (exit 5).
    pub fn open(url: &str) -> Result<ObjectChunks> {
        ObjectChunks::of(Object::open(url)?)
    }

    /// Opens `object`, as [`ObjectChunks::open`].
    pub fn of(object: Object) -> Result<ObjectChunks> {
        let footer = Footer::fetch(&object)?;
        let metadata = footer.metadata.map(Arc::new);
        let mut chunks: Vec<Range<u64>> = metadata
            .iter()
            .flat_map(|m| m.row_groups().iter())
            .flat_map(|group| group.columns().iter())
            .map(|column| {
                let (start, length) = column.byte_range();
                start..start.saturating_add(length)
            })
            .collect();
        chunks.sort_by_key(|c| c.start);
        Ok(ObjectChunks {
            shared: Arc::new(Shared {
                object,
                len: footer.len,
                tail_start: footer.tail_start,
                tail: footer.tail,
                chunks,
                metadata,
                cache: Mutex::new(Cache::default()),
                requests: AtomicU64::new(footer.requests),
                fetched: AtomicU64::new(footer.fetched),
            }),
        })
    }

    /// The object's decoded footer; `None` when it did not decode (the crate then reads it
    /// again and says what is wrong with the file).
    pub fn metadata(&self) -> Option<Arc<ParquetMetaData>> {
        self.shared.metadata.clone()
    }

    /// How many GETs were made and how many bytes they fetched, so far.
    pub fn fetched(&self) -> (u64, u64) {
        (
            self.shared.requests.load(Ordering::Relaxed),
            self.shared.fetched.load(Ordering::Relaxed),
        )
    }
}

/// The end of a Parquet object, fetched first: everything else is found from it.
pub(crate) struct Footer {
    /// The object's size.
    pub len: u64,
    /// Where `tail` starts in the object.
    pub tail_start: u64,
    /// The object's bytes from `tail_start` to its end: the footer, whole.
    pub tail: Bytes,
    /// The footer decoded; `None` when it does not decode, so that no column chunk is known
    /// and the `parquet` crate, reading it again, says what is wrong with the file.
    pub metadata: Option<ParquetMetaData>,
    /// How many GETs fetching it took.
    pub requests: u64,
    /// How many bytes they fetched.
    pub fetched: u64,
}

impl Footer {
    /// Fetches the footer of `object`. A missing object is an I/O error (exit 5).
    pub fn fetch(object: &Object) -> Result<Footer> {
        let (len, mut tail_start, mut tail) = match get(object, GetRange::Suffix(FOOTER_GUESS)) {
            Ok((range, len, bytes)) => (len, range.start, bytes),
            Err(object_store::Error::NotSupported { .. }) => {
                let len = object.size()?.ok_or_else(|| missing(object))?;
                let start = len.saturating_sub(FOOTER_GUESS);
                let (_, _, bytes) = get(object, GetRange::Bounded(start..len))
                    .map_err(|e| object.error("read", e))?;
                (len, start, bytes)
            }
            Err(e) => return Err(object.error("open", e)),
        };
        let mut requests = 1;
        let mut fetched = tail.len() as u64;
        // A footer larger than the guess: the rest of it, before what was fetched.
        let footer = footer_length(&tail).filter(|&n| n <= len);
        if let Some(needed) = footer.filter(|&n| n > tail.len() as u64) {
            let start = len - needed;
            let (_, _, head) = get(object, GetRange::Bounded(start..tail_start))
                .map_err(|e| object.error("read", e))?;
            requests += 1;
            fetched += head.len() as u64;
            tail = [head, tail].concat().into();
            tail_start = start;
        }
        let metadata = footer.and_then(|n| {
            let at = tail.len() - n as usize;
            ParquetMetaDataReader::decode_metadata(&tail[at..tail.len() - FOOTER_SIZE]).ok()
        });
        Ok(Footer {
            len,
            tail_start,
            tail,
            metadata,
            requests,
            fetched,
        })
    }
}

/// The length of the footer (metadata and tail) that `tail`, the end of a file, ends with.
fn footer_length(tail: &Bytes) -> Option<u64> {
    let end: &[u8; FOOTER_SIZE] = tail
        .get(tail.len().checked_sub(FOOTER_SIZE)?..)?
        .try_into()
        .ok()?;
    let footer = FooterTail::try_new(end).ok()?;
    Some(footer.metadata_length() as u64 + FOOTER_SIZE as u64)
}

fn missing(object: &Object) -> Error {
    let missing = object_store::Error::NotFound {
        path: object.key.to_string(),
        source: "no such object".into(),
    };
    object.error("open", missing)
}

/// One GET of `range` of `object`, whole: the range returned, the object's size, the bytes.
pub(crate) fn get(
    object: &Object,
    range: GetRange,
) -> object_store::Result<(Range<u64>, u64, Bytes)> {
    let options = GetOptions {
        range: Some(range),
        ..GetOptions::default()
    };
    let store = &object.store;
    let fetch = async {
        let got = store.get_opts(&object.key, options).await?;
        let (range, len) = (got.range.clone(), got.meta.size);
        Ok((range, len, got.bytes().await?))
    };
    runtime::block_on(fetch).map_err(|e| object_store::Error::Generic {
        store: "runtime",
        source: Box::new(e),
    })?
}

impl Shared {
    fn failed(&self, source: io::Error) -> FetchFailed {
        FetchFailed {
            url: self.object.url.clone(),
            source,
        }
    }

    /// The object's bytes from `start` on, at least `length` of them (fewer only at the
    /// object's end) and as many more as are at hand: from the footer, the cache, or a GET.
    fn span(&self, start: u64, length: u64) -> std::result::Result<Bytes, FetchFailed> {
        let end = start.saturating_add(length).min(self.len);
        if start >= end {
            return Ok(Bytes::new());
        }
        if start >= self.tail_start {
            return Ok(self.tail.slice((start - self.tail_start) as usize..));
        }
        if let Some(found) = self.cached(start, end) {
            return Ok(found);
        }
        // Within a column chunk, read ahead to the chunk's end (at most READ_AHEAD); elsewhere
        // (a file whose footer did not decode), only what is asked for.
        let at = self.chunks.partition_point(|c| c.start <= start);
        let ahead = match at.checked_sub(1).map(|i| &self.chunks[i]) {
            Some(chunk) if chunk.end > start => chunk.end.min(start.saturating_add(READ_AHEAD)),
            _ => end,
        };
        let want = end.max(ahead).min(self.tail_start.max(end));
        let (_, _, bytes) = get(&self.object, GetRange::Bounded(start..want))
            .map_err(|e| self.failed(io_error(e)))?;
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.fetched
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        if (bytes.len() as u64) < end - start {
            let short = io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "asked for bytes {start}..{want} and got {} bytes; was the object replaced meanwhile?",
                    bytes.len()
                ),
            );
            return Err(self.failed(short));
        }
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cache.bytes += bytes.len();
        cache.buffers.push_back((start, bytes.clone()));
        while cache.bytes > CACHE_BUDGET && cache.buffers.len() > 1 {
            if let Some((_, dropped)) = cache.buffers.pop_front() {
                cache.bytes -= dropped.len();
            }
        }
        Ok(bytes)
    }

    /// The cached bytes from `start` on, when a fetched range holds `start..end`.
    fn cached(&self, start: u64, end: u64) -> Option<Bytes> {
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let i = cache
            .buffers
            .iter()
            .position(|(at, b)| *at <= start && end <= at + b.len() as u64)?;
        let entry = cache.buffers.remove(i)?;
        let found = entry.1.slice((start - entry.0) as usize..);
        cache.buffers.push_back(entry);
        Some(found)
    }
}

impl Length for ObjectChunks {
    fn len(&self) -> u64 {
        self.shared.len
    }
}

impl ChunkReader for ObjectChunks {
    type T = SpanRead<Shared>;

    fn get_read(&self, start: u64) -> ParquetResult<SpanRead<Shared>> {
        Ok(SpanRead::new(Arc::clone(&self.shared), start))
    }

    fn get_bytes(&self, start: u64, length: usize) -> ParquetResult<Bytes> {
        exact_span(&*self.shared, start, length)
    }
}

impl Spans for Shared {
    fn size(&self) -> u64 {
        self.len
    }

    fn span(&self, start: u64, length: u64) -> std::result::Result<Bytes, FetchFailed> {
        Shared::span(self, start, length)
    }
}

/// An object's bytes by span, as an object read by ranges ([`ObjectChunks`]) and one read front
/// to back ([`crate::store::whole::WholeObject`]) each give them: what the `parquet` crate's
/// reads of both are served from.
pub trait Spans: Send + Sync {
    /// The object's size.
    fn size(&self) -> u64;
    /// The bytes from `start`, at most `length` of them and at least one unless at the end.
    fn span(&self, start: u64, length: u64) -> std::result::Result<Bytes, FetchFailed>;
}

/// Exactly `length` bytes from `start` (a column chunk, for `ChunkReader::get_bytes`); fewer
/// is the end of the object, an error.
pub(crate) fn exact_span<S: Spans>(spans: &S, start: u64, length: usize) -> ParquetResult<Bytes> {
    let span = spans
        .span(start, length as u64)
        .map_err(|e| ParquetError::External(Box::new(e)))?;
    if span.len() < length {
        return Err(ParquetError::EOF(format!(
            "expected {length} bytes at offset {start}, but the object has {}",
            spans.size()
        )));
    }
    Ok(span.slice(..length))
}

/// A reader of an [`ObjectChunks`] from a position on.
pub type ChunkRead = SpanRead<Shared>;

/// The object's bytes from a position on, as the crate reads a page header.
pub struct SpanRead<S> {
    spans: Arc<S>,
    pos: u64,
    /// Bytes at hand from `pos` on.
    current: Bytes,
}

impl<S: Spans> SpanRead<S> {
    /// Reads `spans` from `start`.
    pub(crate) fn new(spans: Arc<S>, start: u64) -> SpanRead<S> {
        SpanRead {
            spans,
            pos: start,
            current: Bytes::new(),
        }
    }
}

impl<S: Spans> Read for SpanRead<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.current.is_empty() {
            self.current = self
                .spans
                .span(self.pos, buf.len() as u64)
                .map_err(|e| io::Error::new(e.kind(), e))?;
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        self.pos += n as u64;
        Ok(n)
    }
}

/// Whether the object at `url` is Parquet: named `.parquet`, or starting with `PAR1`; for a
/// prefix, its first object. One that cannot be read is not (reading it says why).
pub fn is_parquet_object(url: &str) -> bool {
    let url = if crate::store::is_prefix(url) {
        let first = crate::store::list::objects_under(url)
            .ok()
            .and_then(|(_, listed)| listed.into_iter().find(|o| o.size > 0));
        match first {
            Some(first) => first.url,
            None => return false,
        }
    } else {
        url.to_string()
    };
    if url.to_ascii_lowercase().ends_with(".parquet") {
        return true;
    }
    let Ok(object) = Object::open(&url) else {
        return false;
    };
    get(&object, GetRange::Bounded(0..MAGIC.len() as u64))
        .is_ok_and(|(_, _, start)| start.as_ref() == MAGIC)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use object_store::memory::InMemory;
    use object_store::path::Path as Key;
    use object_store::{ObjectStore, PutPayload};
    use parquet::column::reader::ColumnReader;
    use parquet::data_type::DoubleType;
    use parquet::file::properties::WriterProperties;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;

    const COLUMNS: usize = 13;
    pub(crate) const GROUPS: usize = 2;
    pub(crate) const ROWS: usize = 20_000;

    /// The value of column `c` in row `r` of group `g`: all different, so nothing compresses.
    pub(crate) fn value(g: usize, r: usize, c: usize) -> f64 {
        ((g * ROWS + r) * COLUMNS + c) as f64 * 1.000_001
    }

    /// An uncompressed file of 13 double columns in two row groups (about 4 MB).
    pub(crate) fn file() -> Vec<u8> {
        let fields: String = (0..COLUMNS)
            .map(|c| format!("required double c{c};"))
            .collect();
        let schema = Arc::new(parse_message_type(&format!("message m {{ {fields} }}")).unwrap());
        let props = Arc::new(
            WriterProperties::builder()
                .set_dictionary_enabled(false)
                .build(),
        );
        let mut out = Vec::new();
        let mut writer = SerializedFileWriter::new(&mut out, schema, props).unwrap();
        for g in 0..GROUPS {
            let mut group = writer.next_row_group().unwrap();
            for c in 0..COLUMNS {
                let mut column = group.next_column().unwrap().unwrap();
                let values: Vec<f64> = (0..ROWS).map(|r| value(g, r, c)).collect();
                column
                    .typed::<DoubleType>()
                    .write_batch(&values, None, None)
                    .unwrap();
                column.close().unwrap();
            }
            group.close().unwrap();
        }
        writer.close().unwrap();
        out
    }

    pub(crate) fn stored(bytes: Vec<u8>) -> (Arc<InMemory>, Object) {
        let store = Arc::new(InMemory::new());
        let key = Key::from("in/x.parquet");
        runtime::block_on(store.put(&key, PutPayload::from(bytes)))
            .unwrap()
            .unwrap();
        let object = Object {
            store: Arc::clone(&store) as Arc<dyn ObjectStore>,
            key,
            url: "s3://bkt/in/x.parquet".into(),
        };
        (store, object)
    }

    /// Every value of column `c`, group by group, read through `file`.
    pub(crate) fn column<R: ChunkReader + 'static>(
        file: &SerializedFileReader<R>,
        c: usize,
    ) -> ParquetResult<Vec<f64>> {
        let mut all = Vec::new();
        for g in 0..file.num_row_groups() {
            let ColumnReader::DoubleColumnReader(mut reader) =
                file.get_row_group(g)?.get_column_reader(c)?
            else {
                panic!("a double column");
            };
            let mut values = Vec::new();
            reader.read_records(ROWS, None, None, &mut values)?;
            all.extend(values);
        }
        Ok(all)
    }

    #[test]
    fn two_columns_of_thirteen_fetch_the_footer_and_their_chunks_only() {
        let bytes = file();
        let size = bytes.len() as u64;
        let (_, object) = stored(bytes);
        let chunks = ObjectChunks::of(object).unwrap();
        assert_eq!(chunks.fetched().0, 1, "one GET for the footer");
        let file = SerializedFileReader::new(chunks.clone()).unwrap();
        for c in [0, 7] {
            let expected: Vec<f64> = (0..GROUPS)
                .flat_map(|g| (0..ROWS).map(move |r| value(g, r, c)))
                .collect();
            assert_eq!(column(&file, c).unwrap(), expected, "column {c}");
        }
        let (requests, fetched) = chunks.fetched();
        // The footer, then each of the four column chunks (160 kB, under the read-ahead) whole.
        assert_eq!(requests, 1 + 2 * GROUPS as u64);
        let chunk = (ROWS * 8) as u64;
        assert!(
            fetched < 2 * GROUPS as u64 * chunk + FOOTER_GUESS + 4096,
            "{fetched} bytes fetched of {size}"
        );
        assert!(fetched * 5 < size, "{fetched} bytes fetched of {size}");
    }

    #[test]
    fn a_request_reads_ahead_to_the_end_of_its_column_chunk_and_the_next_is_served_from_it() {
        let bytes = file();
        let (_, object) = stored(bytes);
        let chunks = ObjectChunks::of(object).unwrap();
        // The read-ahead stops at the end of the chunk a request falls in, and at READ_AHEAD.
        let first = chunks.shared.chunks[0].clone();
        let got = chunks.shared.span(first.start, 1).unwrap();
        assert_eq!(got.len() as u64, first.end - first.start);
        assert_eq!(chunks.get_bytes(first.start + 10, 100).unwrap().len(), 100);
        assert_eq!(
            chunks.fetched().0,
            2,
            "the second read is served from the first"
        );
    }

    #[test]
    fn a_missing_object_is_an_io_error_naming_its_url() {
        let (store, object) = stored(Vec::new());
        runtime::block_on(store.delete(&object.key))
            .unwrap()
            .unwrap();
        let err = ObjectChunks::of(object).err().unwrap();
        assert_eq!(err.exit_code(), 5);
        assert!(
            err.to_string()
                .starts_with("s3://bkt/in/x.parquet: cannot open: "),
            "{err}"
        );
    }

    #[test]
    fn an_object_gone_after_its_footer_is_a_storage_error_not_a_damaged_file() {
        let (store, object) = stored(file());
        let key = object.key.clone();
        let chunks = ObjectChunks::of(object).unwrap();
        let file = SerializedFileReader::new(chunks).unwrap();
        runtime::block_on(store.delete(&key)).unwrap().unwrap();
        let err = column(&file, 3).unwrap_err();
        let err = storage_error(&err).expect("a storage error");
        assert_eq!(err.exit_code(), 5);
        assert!(
            err.to_string()
                .starts_with("s3://bkt/in/x.parquet: cannot read: "),
            "{err}"
        );
        let damaged = ParquetError::General("corrupt".into());
        assert!(storage_error(&damaged).is_none());
    }
}
