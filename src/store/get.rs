//! Reading an object as a `std::io::Read`: one GET streamed chunk by chunk (only the chunk
//! being read is held, so memory stays bounded whatever the object's size), and `Seek` by
//! starting a new ranged GET where the reader moved to, which is how a shard finds its
//! records in a byte range of one object without downloading the rest.

use std::io::{self, Read, Seek, SeekFrom};

use bytes::{Buf, Bytes};
use futures_util::stream::{BoxStream, StreamExt};
use object_store::{GetOptions, GetRange};

use crate::error::Result;
use crate::store::{io_error, runtime, Object};

/// The bytes of an object from a position on, as a reader.
pub struct ObjectReader {
    object: Object,
    /// The object's size.
    len: u64,
    /// Where the next byte read comes from.
    pos: u64,
    /// At most how many bytes one GET asks for, or `None` for the rest of the object: a
    /// reader that seeks about (to find a record boundary) asks for little at a time.
    window: Option<u64>,
    /// The GET in progress, if any, and the part of its current chunk not yet read.
    body: Option<BoxStream<'static, object_store::Result<Bytes>>>,
    chunk: Bytes,
}

impl ObjectReader {
    /// A reader of `object` from its start; a missing object is an I/O error (exit 5).
    pub fn open(object: &Object) -> Result<ObjectReader> {
        let len = object.size()?.ok_or_else(|| {
            let missing = object_store::Error::NotFound {
                path: object.key.to_string(),
                source: "no such object".into(),
            };
            object.error("open", missing)
        })?;
        Ok(ObjectReader::with_size(object, len))
    }

    /// A reader of `object`, known to hold `len` bytes, from its start.
    pub fn with_size(object: &Object, len: u64) -> ObjectReader {
        ObjectReader {
            object: object.clone(),
            len,
            pos: 0,
            window: None,
            body: None,
            chunk: Bytes::new(),
        }
    }

    /// The same reader asking for at most `window` bytes per GET.
    pub fn windowed(mut self, window: u64) -> ObjectReader {
        self.window = Some(window);
        self
    }

    /// The object's size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the object is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Starts a GET of the bytes from `self.pos` on (up to the window).
    fn request(&mut self) -> io::Result<()> {
        let end = match self.window {
            Some(window) => self.len.min(self.pos.saturating_add(window)),
            None => self.len,
        };
        let options = GetOptions {
            range: Some(GetRange::Bounded(self.pos..end)),
            ..GetOptions::default()
        };
        let store = &self.object.store;
        let got = runtime::block_on(store.get_opts(&self.object.key, options))
            .map_err(io::Error::other)?
            .map_err(io_error)?;
        self.body = Some(got.into_stream());
        Ok(())
    }
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            if self.pos >= self.len || buf.is_empty() {
                return Ok(0);
            }
            if self.body.is_none() {
                self.request()?;
            }
            let body = self.body.as_mut().expect("a GET was just started");
            match runtime::block_on(body.next()).map_err(io::Error::other)? {
                Some(chunk) => self.chunk = chunk.map_err(io_error)?,
                // This GET's range is read: the next read starts another, if bytes remain.
                None => self.body = None,
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk.advance(n);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for ObjectReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(at) => Some(at),
            SeekFrom::End(delta) => self.len.checked_add_signed(delta),
            SeekFrom::Current(delta) => self.pos.checked_add_signed(delta),
        }
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        if target != self.pos {
            self.pos = target;
            self.body = None;
            self.chunk = Bytes::new();
        }
        Ok(self.pos)
    }
}

/// The object at `url` in memory (a model file), up to `limit` bytes and one more, so the
/// caller can tell one that is too large.
pub fn read_to_limit(url: &str, limit: u64) -> Result<Vec<u8>> {
    let object = Object::open(url)?;
    let reader = ObjectReader::open(&object)?;
    let mut bytes = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| crate::error::Error::io(url, "read", e))?;
    Ok(bytes)
}

/// Opens the object or prefix at `url` for reading, as its raw bytes (a prefix's objects are
/// each decompressed and joined into one text: [`crate::store::prefix`]).
pub fn open(url: &str) -> Result<Box<dyn Read + Send>> {
    open_part(url, None)
}

/// Opens the object or prefix at `url` as [`open`] does; with `shard` (index, count), only the
/// shard's objects of a prefix (after the first object's header).
pub fn open_part(url: &str, shard: Option<(u64, u64)>) -> Result<Box<dyn Read + Send>> {
    if crate::store::ObjectUrl::parse(url)?.is_prefix() {
        let (prefix, objects) = crate::store::list::objects_under(url)?;
        let reader = crate::store::prefix::PrefixReader::open(&prefix, objects, shard)?;
        return Ok(Box::new(reader));
    }
    let object = Object::open(url)?;
    Ok(Box::new(ObjectReader::open(&object)?))
}

/// The object at `url` as a reader that seeks with ranged GETs of at most [`SEEK_WINDOW`]
/// bytes each (a shard reads only its own range), and its size.
pub fn seekable(url: &str) -> Result<(ObjectReader, u64)> {
    let object = Object::open(url)?;
    let reader = ObjectReader::open(&object)?.windowed(SEEK_WINDOW);
    let len = reader.len();
    Ok((reader, len))
}

/// The most one GET of a [`seekable`] reader asks for.
pub const SEEK_WINDOW: u64 = 16 * 1024 * 1024;

/// The size of the object at `url`, for progress and shard ranges; `None` for a prefix.
pub fn size_of(url: &str) -> Result<Option<u64>> {
    if crate::store::ObjectUrl::parse(url)?.is_prefix() {
        return Ok(None);
    }
    Object::open(url)?.size()
}
