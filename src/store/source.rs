//! Where a Parquet input's bytes come from, as one `parquet` crate [`ChunkReader`]: a local file
//! read by position, an object read by ranges, or an object read once front to back (`train`,
//! which takes its digest).

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::sync::Arc;

use bytes::Bytes;
use parquet::errors::Result as ParquetResult;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::reader::{ChunkReader, Length};

use crate::error::{Error, Result};
use crate::store::chunks::{ChunkRead, ObjectChunks};
use crate::store::positioned::{PositionedFile, ReaderAt};
use crate::store::whole::{WholeObject, WholeRead};

/// Where a Parquet input's bytes come from: a local file, or an object read by ranges.
pub enum Chunks {
    /// A local file, read by position so the decoding workers never share a cursor.
    File(PositionedFile),
    /// An object in object storage.
    Object(ObjectChunks),
    /// An object read once, front to back, for its digest ([`WholeObject`]).
    Whole(WholeObject),
}

impl Chunks {
    /// Opens `path`: an object when it is an `s3://`, `gs://` or `az://` URL, else a file.
    pub fn open(path: &str) -> Result<Chunks> {
        if crate::store::is_url(path) {
            return Ok(Chunks::Object(ObjectChunks::open(path)?));
        }
        let file = File::open(path)
            .and_then(PositionedFile::new)
            .map_err(|e| Error::io(path, "open", e))?;
        Ok(Chunks::File(file))
    }

    /// The footer, when it has been decoded already (an object's): the Parquet reader need
    /// not decode it again.
    pub fn metadata(&self) -> Option<Arc<ParquetMetaData>> {
        match self {
            // A local file's footer is decoded by the reader only; a whole object's (train)
            // once more there, as before.
            Chunks::File(_) | Chunks::Whole(_) => None,
            Chunks::Object(object) => object.metadata(),
        }
    }
}

impl Length for Chunks {
    fn len(&self) -> u64 {
        match self {
            Chunks::File(file) => file.len(),
            Chunks::Object(object) => object.len(),
            Chunks::Whole(object) => object.len(),
        }
    }
}

/// A reader of [`Chunks`] from a position on.
pub enum ChunksRead {
    /// Of a file.
    File(BufReader<ReaderAt>),
    /// Of an object.
    Object(ChunkRead),
    /// Of an object read once.
    Whole(WholeRead),
}

impl Read for ChunksRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            ChunksRead::File(file) => file.read(buf),
            ChunksRead::Object(object) => object.read(buf),
            ChunksRead::Whole(object) => object.read(buf),
        }
    }
}

impl ChunkReader for Chunks {
    type T = ChunksRead;

    fn get_read(&self, start: u64) -> ParquetResult<ChunksRead> {
        Ok(match self {
            Chunks::File(file) => ChunksRead::File(file.get_read(start)?),
            Chunks::Object(object) => ChunksRead::Object(object.get_read(start)?),
            Chunks::Whole(object) => ChunksRead::Whole(object.get_read(start)?),
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> ParquetResult<Bytes> {
        match self {
            Chunks::File(file) => file.get_bytes(start, length),
            Chunks::Object(object) => object.get_bytes(start, length),
            Chunks::Whole(object) => object.get_bytes(start, length),
        }
    }
}
