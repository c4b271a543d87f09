//! Compressed files: which format a file is in (by its name or its first bytes), reading one
//! as a stream of its decompressed text, and writing one.
//!
//! Inputs are recognised by extension (`.gz`, `.zst`) or by magic bytes (gzip `1f 8b`, zstd
//! `28 b5 2f fd`), so a misnamed file or standard input is read too; outputs only by
//! extension. A stream that does not decode is a data error naming the file, not an I/O error:
//! reading it again cannot help. A compressed input is decompressed on a thread of its own,
//! a few chunks ahead of its reader ([`crate::store::read_ahead`]).

use std::fmt;
use std::io::{self, Read, Write};

use crate::error::{Error, Location, Result};
use crate::store::read_ahead::ReadAhead;

/// The compression formats read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// gzip (RFC 1952), any number of members one after another.
    Gzip,
    /// Zstandard, any number of frames one after another.
    Zstd,
}

/// The most magic bytes any format needs.
pub const MAGIC_LEN: usize = 4;

impl Compression {
    /// The format a path's extension names: `.gz` or `.zst`.
    pub fn of_path(path: &str) -> Option<Compression> {
        if path.ends_with(".gz") {
            Some(Compression::Gzip)
        } else if path.ends_with(".zst") {
            Some(Compression::Zstd)
        } else {
            None
        }
    }

    /// The format whose magic bytes `start` begins with.
    pub fn of_magic(start: &[u8]) -> Option<Compression> {
        if start.starts_with(&[0x1f, 0x8b]) {
            Some(Compression::Gzip)
        } else if start.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Compression::Zstd)
        } else {
            None
        }
    }

    /// The format of a file: by its first bytes, else by its extension; `None` when it is
    /// neither or cannot be read (opening it later reports why). Only a regular file's bytes
    /// are looked at: reading a FIFO's would take them from the reader that comes after.
    pub fn of_file(path: &str) -> Option<Compression> {
        let mut start = Vec::with_capacity(MAGIC_LEN);
        if std::fs::metadata(path).is_ok_and(|meta| meta.is_file()) {
            let read = std::fs::File::open(path)
                .and_then(|file| file.take(MAGIC_LEN as u64).read_to_end(&mut start));
            if read.is_err() {
                start.clear();
            }
        }
        Compression::of_magic(&start).or_else(|| Compression::of_path(path))
    }

    /// The format's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// Reads `input` (whose first bytes are `start`, already taken from it) decompressed when it is
/// compressed: by magic bytes, else by the extension of `path`.
pub fn decompressed(
    path: &str,
    start: Vec<u8>,
    input: Box<dyn Read + Send>,
) -> Result<(Box<dyn Read + Send>, Option<Compression>)> {
    let format = Compression::of_magic(&start).or_else(|| Compression::of_path(path));
    let Some(format) = format else {
        return Ok((Box::new(io::Cursor::new(start).chain(input)), None));
    };
    let whole = io::Cursor::new(start).chain(Underneath(input));
    let decoder: Box<dyn Read + Send> = match format {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(whole)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::new(whole).map_err(|e| Error::io(path, "read", e))?,
        ),
    };
    // Decompressing is the slowest stage of reading such a file: on a thread of its own it
    // runs while the workers parse, as `zcat` would in a pipe (see read_ahead).
    let ahead = ReadAhead::spawn("decompress", Box::new(Decoded { format, decoder }))
        .map_err(|e| Error::io(path, "start a thread to decompress", e))?;
    Ok((Box::new(ahead), Some(format)))
}

/// Reads up to [`MAGIC_LEN`] bytes from the start of `input`, fewer only at its end.
pub fn read_start(path: &str, input: &mut dyn Read) -> Result<Vec<u8>> {
    let mut start = vec![0; MAGIC_LEN];
    let mut filled = 0;
    while filled < MAGIC_LEN {
        match input.read(&mut start[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(path, "read", e)),
        }
    }
    start.truncate(filled);
    Ok(start)
}

/// A decoder whose own errors (as opposed to those of the file under it) say that the stream
/// is not valid in its format, so that [`read_error`] can tell them apart.
struct Decoded {
    format: Compression,
    decoder: Box<dyn Read + Send>,
}

impl Read for Decoded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.decoder.read(buf).map_err(|e| {
            // The input's own errors (a disk's, a network's) come through the decoder marked
            // by [`Underneath`] and keep their kind; the decoder makes up the others (corrupt
            // stream, unexpected end).
            if e.kind() == io::ErrorKind::Interrupted {
                return e;
            }
            if e.get_ref().is_some_and(|inner| inner.is::<FromInput>()) {
                let inner = e.into_inner().expect("checked to hold an error");
                let from = inner.downcast::<FromInput>().expect("checked to be one");
                return from.0;
            }
            io::Error::new(
                io::ErrorKind::InvalidData,
                Invalid {
                    format: self.format,
                    detail: e.to_string(),
                },
            )
        })
    }
}

/// The compressed input under a decoder, whose errors are marked as its own ([`FromInput`])
/// on their way through the decoder: an object storage client's errors carry no system error
/// number, and without the mark a dropped connection would read as a corrupt stream.
struct Underneath(Box<dyn Read + Send>);

impl Read for Underneath {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| match e.kind() {
            io::ErrorKind::Interrupted => e,
            kind => io::Error::new(kind, FromInput(e)),
        })
    }
}

/// An error of the input under a decoder, as it was.
#[derive(Debug)]
struct FromInput(io::Error);

impl fmt::Display for FromInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for FromInput {}

/// A compressed stream that does not decode.
#[derive(Debug)]
struct Invalid {
    format: Compression,
    detail: String,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not valid {} data ({}); the file is truncated or corrupt: copy or compress it again",
            self.format.name(),
            self.detail.to_lowercase()
        )
    }
}

impl std::error::Error for Invalid {}

/// The error for a failed read of the input named `path`: a data error when a decoder found
/// the stream invalid, an I/O error otherwise.
pub fn read_error(path: &str, err: io::Error) -> Error {
    match err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<Invalid>())
    {
        Some(invalid) => Error::data(Location::file(path), invalid.to_string()),
        None => Error::io(path, "read", err),
    }
}

/// A writer that compresses into `W`; [`Compressor::finish`] ends the stream and gives `W` back.
pub enum Compressor<W: Write> {
    /// gzip at the default level (6).
    Gzip(flate2::write::GzEncoder<W>),
    /// Zstandard at level 3, the `zstd` tool's default.
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Compressor<W> {
    /// Starts a stream in `format` into `inner`.
    pub fn new(format: Compression, inner: W) -> io::Result<Compressor<W>> {
        Ok(match format {
            Compression::Gzip => Compressor::Gzip(flate2::write::GzEncoder::new(
                inner,
                flate2::Compression::default(),
            )),
            Compression::Zstd => Compressor::Zstd(zstd::stream::write::Encoder::new(inner, 3)?),
        })
    }

    /// Writes the end of the stream and returns the writer under it.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Compressor::Gzip(encoder) => encoder.finish(),
            Compressor::Zstd(encoder) => encoder.finish(),
        }
    }

    /// The writer under the stream.
    pub fn get_ref(&self) -> &W {
        match self {
            Compressor::Gzip(encoder) => encoder.get_ref(),
            Compressor::Zstd(encoder) => encoder.get_ref(),
        }
    }
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Compressor::Gzip(encoder) => encoder.write(buf),
            Compressor::Zstd(encoder) => encoder.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Compressor::Gzip(encoder) => encoder.flush(),
            Compressor::Zstd(encoder) => encoder.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compress(format: Compression, text: &[u8]) -> Vec<u8> {
        let mut out = Compressor::new(format, Vec::new()).unwrap();
        out.write_all(text).unwrap();
        out.finish().unwrap()
    }

    fn read_all(path: &str, bytes: Vec<u8>) -> std::result::Result<Vec<u8>, String> {
        let mut input: Box<dyn Read + Send> = Box::new(io::Cursor::new(bytes));
        let start = read_start(path, &mut input).unwrap();
        let (mut reader, _) = decompressed(path, start, input).unwrap();
        let mut out = Vec::new();
        reader
            .read_to_end(&mut out)
            .map_err(|e| read_error(path, e).to_string())?;
        Ok(out)
    }

    #[test]
    fn formats_are_known_by_extension_and_by_magic_bytes() {
        assert_eq!(Compression::of_path("a.csv.gz"), Some(Compression::Gzip));
        assert_eq!(Compression::of_path("a.csv.zst"), Some(Compression::Zstd));
        assert_eq!(Compression::of_path("a.csv"), None);
        assert_eq!(
            Compression::of_magic(&[0x1f, 0x8b, 8, 0]),
            Some(Compression::Gzip)
        );
        assert_eq!(
            Compression::of_magic(&[0x28, 0xb5, 0x2f, 0xfd]),
            Some(Compression::Zstd)
        );
        assert_eq!(Compression::of_magic(b"a,b\n"), None);
        assert_eq!(Compression::of_magic(&[0x1f]), None);
    }

    #[test]
    fn both_formats_read_back_what_was_written_and_plain_text_passes_through() {
        for format in [Compression::Gzip, Compression::Zstd] {
            let bytes = compress(format, b"a,b\n1,2\n");
            assert_eq!(read_all("x", bytes).unwrap(), b"a,b\n1,2\n");
        }
        assert_eq!(read_all("x", b"a,b\n".to_vec()).unwrap(), b"a,b\n");
        assert_eq!(read_all("x", b"a".to_vec()).unwrap(), b"a");
    }

    #[test]
    fn concatenated_gzip_members_and_zstd_frames_are_read_to_the_end() {
        for format in [Compression::Gzip, Compression::Zstd] {
            let mut bytes = compress(format, b"a,b\n");
            bytes.extend(compress(format, b"1,2\n"));
            assert_eq!(read_all("x", bytes).unwrap(), b"a,b\n1,2\n");
        }
    }

    /// The first `good` bytes of `bytes`, then the error a dropped connection gives.
    struct Dropped {
        bytes: io::Cursor<Vec<u8>>,
        good: u64,
    }

    impl Read for Dropped {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.bytes.position() >= self.good {
                return Err(io::Error::other("error decoding response body"));
            }
            let left = (self.good - self.bytes.position()) as usize;
            let n = buf.len().min(left);
            self.bytes.read(&mut buf[..n])
        }
    }

    #[test]
    fn an_error_of_the_input_under_a_decoder_keeps_its_kind_and_is_not_corrupt_data() {
        let text: Vec<u8> = (0..20_000)
            .flat_map(|i| format!("{i},{}\n", i * 7).into_bytes())
            .collect();
        for format in [Compression::Gzip, Compression::Zstd] {
            let bytes = compress(format, &text);
            for good in [6, bytes.len() as u64 / 2] {
                let mut input: Box<dyn Read + Send> = Box::new(Dropped {
                    bytes: io::Cursor::new(bytes.clone()),
                    good,
                });
                let path = "s3://bkt/in.csv.gz";
                let start = read_start(path, &mut input).unwrap();
                let (mut reader, _) = decompressed(path, start, input).unwrap();
                let err = reader.read_to_end(&mut Vec::new()).unwrap_err();
                let err = read_error(path, err);
                assert_eq!(err.exit_code(), 5, "{format:?} after {good} bytes: {err}");
                assert_eq!(
                    err.to_string(),
                    "s3://bkt/in.csv.gz: cannot read: error decoding response body"
                );
            }
        }
    }

    #[test]
    fn a_truncated_stream_is_a_data_error_naming_the_file_and_format() {
        let mut bytes = compress(Compression::Gzip, b"a,b\n1,2\n");
        bytes.truncate(bytes.len() - 4);
        let message = read_all("in.csv.gz", bytes).unwrap_err();
        assert!(
            message.starts_with("in.csv.gz: not valid gzip data ("),
            "{message}"
        );
        assert!(
            message.ends_with("); the file is truncated or corrupt: copy or compress it again"),
            "{message}"
        );
    }
}
