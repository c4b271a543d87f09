//! Prediction output: an [`Encoder`] turns predictions into CSV or JSON Lines bytes (on any
//! thread), a [`Sink`] puts those bytes on standard output or in a file that appears whole
//! (compressed when its name ends in `.gz` or `.zst`; standard output never is).
//!
//! Floats are written in the shortest form that reads back as the same `f64`, so the text loses
//! nothing and two runs write the same bytes. The text is ryu's (`24.5`, `1e-7`, `1e16`); zmij
//! makes it, which is faster and writes the same digits, only with `e+16` for large exponents.

use std::fs::File;
use std::io::{self, Write};

use clap::ValueEnum;

use crate::atomic::AtomicFile;
use crate::descriptor;
use crate::error::{Error, Result};
use crate::parquet_output::ParquetSink;
use crate::read::batch::Ids;
use crate::read::parquet::has_parquet_extension;
use crate::store::compression::{Compression, Compressor};
use crate::store::put::ObjectWriter;
use crate::store::Object;

/// The output format of predictions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A CSV with header `prediction`, or `<id columns>,prediction`.
    Csv,
    /// One JSON object per line: `{"prediction":24.1}`, or `{"<id column>":"…",…,"prediction":24.1}`.
    Jsonl,
    /// Parquet, chosen by an `--output` ending in `.parquet` ([`crate::parquet_output`]).
    #[value(skip)]
    Parquet,
}

/// Encodes predictions (and ids) as bytes in the chosen format.
#[derive(Debug, Clone)]
pub struct Encoder {
    format: Format,
    id_keys: Vec<Vec<u8>>,
}

impl Encoder {
    /// An encoder; `id_columns` name the id columns whose values go before each prediction, in
    /// this order.
    pub fn new(format: Format, id_columns: &[String]) -> Encoder {
        let id_keys = id_columns
            .iter()
            .map(|name| match format {
                Format::Csv | Format::Parquet => csv_field(name.as_bytes()),
                Format::Jsonl => serde_json::to_vec(name).expect("a string always serializes"),
            })
            .collect();
        Encoder { format, id_keys }
    }

    /// The bytes that start the output: the CSV header, nothing for JSON Lines.
    pub fn header(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.format == Format::Csv {
            for key in &self.id_keys {
                out.extend_from_slice(key);
                out.push(b',');
            }
            out.extend_from_slice(b"prediction\n");
        }
        out
    }

    /// Whether the output can carry any id as it is (CSV can; JSON Lines only UTF-8 ones).
    pub fn carries_any_id(&self) -> bool {
        self.format == Format::Csv
    }

    /// Whether the output can carry `id` as it is: CSV writes any bytes, JSON Lines only UTF-8
    /// (replacing the rest with U+FFFD would write an id that matches no input row).
    pub fn carries(&self, id: &[u8]) -> bool {
        self.format == Format::Csv || std::str::from_utf8(id).is_ok()
    }

    /// Appends one line per prediction to `out`, with the rows' ids when an id column was chosen.
    /// Every prediction must be finite and every id one the encoder [carries](Self::carries):
    /// the scorer sets the other rows aside first.
    pub fn encode(&self, predictions: &[f64], ids: Option<&Ids>, out: &mut Vec<u8>) {
        let mut float = zmij::Buffer::new();
        let mut large = [0u8; 32];
        if self.format == Format::Parquet {
            for (i, &p) in predictions.iter().enumerate() {
                let row = ids.into_iter().flat_map(|ids| ids.row(i));
                crate::parquet_output::encode_row(p, row, out);
            }
            return;
        }
        for (i, &p) in predictions.iter().enumerate() {
            let mut value = float.format_finite(p).as_bytes();
            if p.abs() >= 1e16 {
                value = without_plus(value, &mut large);
            }
            match self.format {
                Format::Csv => {
                    if let Some(ids) = ids {
                        for id in ids.row(i) {
                            out.extend_from_slice(&csv_field(id));
                            out.push(b',');
                        }
                    }
                    out.extend_from_slice(value);
                    out.push(b'\n');
                }
                Format::Parquet => unreachable!("Parquet rows are encoded above"),
                Format::Jsonl => {
                    out.push(b'{');
                    if let Some(ids) = ids {
                        for (key, id) in self.id_keys.iter().zip(ids.row(i)) {
                            out.extend_from_slice(key);
                            out.push(b':');
                            let id = std::str::from_utf8(id).expect(
                                "ids JSON Lines cannot carry are set aside before encoding",
                            );
                            serde_json::to_writer(&mut *out, id)
                                .expect("writing to a Vec cannot fail");
                            out.push(b',');
                        }
                    }
                    out.extend_from_slice(b"\"prediction\":");
                    out.extend_from_slice(value);
                    out.extend_from_slice(b"}\n");
                }
            }
        }
    }
}

/// `text` without the `+` of a positive exponent (`1e+16` becomes `1e16`), copied to `buf`.
#[cold]
fn without_plus<'a>(text: &[u8], buf: &'a mut [u8; 32]) -> &'a [u8] {
    let mut n = 0;
    for (i, &b) in text.iter().enumerate() {
        if !(b == b'+' && i > 0 && text[i - 1] == b'e') {
            buf[n] = b;
            n += 1;
        }
    }
    &buf[..n]
}

/// Where predictions go: standard output, a file written whole or not at all, or a device.
pub enum Sink {
    /// Standard output.
    Stdout(io::StdoutLock<'static>),
    /// A file, renamed into place by [`Sink::finish`].
    File(AtomicFile),
    /// A file named `.gz` or `.zst`, compressed; the stream is ended, then the file renamed
    /// into place, by [`Sink::finish`].
    Compressed(Box<Compressor<AtomicFile>>),
    /// An object in object storage, which appears when [`Sink::finish`] completes its upload.
    Object(ObjectWriter),
    /// An object named `.gz` or `.zst`, compressed as it is uploaded.
    CompressedObject(Box<Compressor<ObjectWriter>>),
    /// Something that cannot be replaced by a rename (`/dev/stdout`, `/dev/full`, a FIFO), so
    /// it is written through, as `>` would ([`crate::descriptor`]).
    Device {
        /// The path as the user named it.
        path: String,
        /// The open device.
        writer: io::BufWriter<File>,
        /// True when it is our standard output under another name.
        standard_output: bool,
    },
    /// Memory, for callers that want the bytes (and for tests).
    Memory(Vec<u8>),
    /// A Parquet file (a name ending in `.parquet`), written whole by [`Sink::finish`].
    Parquet(Box<ParquetSink>),
}

impl Sink {
    /// Opens the output; `None` or `-` is standard output.
    pub fn create(path: Option<&str>) -> Result<Sink> {
        let path = match path {
            None | Some("-") => {
                descriptor::check_standard_output()?;
                return Ok(Sink::Stdout(io::stdout().lock()));
            }
            Some(path) => path,
        };
        if crate::store::is_url(path) {
            return Sink::create_object(path, false);
        }
        match descriptor::open_write_through(path)? {
            None if has_parquet_extension(path) => {
                Ok(Sink::Parquet(Box::new(ParquetSink::create(path)?)))
            }
            None => {
                let file = AtomicFile::create(path)?;
                match Compression::of_path(path) {
                    None => Ok(Sink::File(file)),
                    Some(format) => Compressor::new(format, file)
                        .map(|stream| Sink::Compressed(Box::new(stream)))
                        .map_err(|e| Error::io(path, "write", e)),
                }
            }
            Some(through) => Ok(Sink::Device {
                path: path.to_string(),
                writer: io::BufWriter::with_capacity(256 * 1024, through.file),
                standard_output: through.standard_output,
            }),
        }
    }

    /// Opens the object storage output `url` (Parquet when it is named `.parquet`, compressed
    /// when `.gz` or `.zst`); with `create_only` (a shard's output), finishing
    /// fails rather than replace an object written meanwhile by another run.
    pub fn create_object(url: &str, create_only: bool) -> Result<Sink> {
        if has_parquet_extension(url) {
            let sink = ParquetSink::create_object(url, create_only)?;
            return Ok(Sink::Parquet(Box::new(sink)));
        }
        let object = ObjectWriter::create(Object::open(url)?, create_only);
        match Compression::of_path(url) {
            None => Ok(Sink::Object(object)),
            Some(format) => Compressor::new(format, object)
                .map(|stream| Sink::CompressedObject(Box::new(stream)))
                .map_err(|e| Error::io(url, "write", e)),
        }
    }

    /// Writes bytes.
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        match self {
            Sink::Stdout(out) => out
                .write_all(bytes)
                .map_err(|e| Error::io("<stdout>", "write", e)),
            Sink::File(file) => {
                let result = file.write_all(bytes);
                result.map_err(|e| Error::io(file.display(), "write", e))
            }
            Sink::Compressed(stream) => {
                let result = stream.write_all(bytes);
                result.map_err(|e| Error::io(stream.get_ref().display(), "write", e))
            }
            Sink::Object(object) => {
                let result = object.write_all(bytes);
                result.map_err(|e| Error::io(object.display(), "write", e))
            }
            Sink::CompressedObject(stream) => {
                let result = stream.write_all(bytes);
                result.map_err(|e| Error::io(stream.get_ref().display(), "write", e))
            }
            Sink::Device {
                path,
                writer,
                standard_output,
            } => writer
                .write_all(bytes)
                .map_err(|e| device_error(path, *standard_output, e)),
            Sink::Memory(buf) => {
                buf.extend_from_slice(bytes);
                Ok(())
            }
            Sink::Parquet(sink) => sink.write(bytes),
        }
    }

    /// Flushes and, for a file, renames it into place.
    pub fn finish(self) -> Result<()> {
        match self {
            Sink::Stdout(mut out) => out.flush().map_err(|e| Error::io("<stdout>", "write", e)),
            Sink::File(file) => file.commit(),
            Sink::Compressed(stream) => {
                let path = stream.get_ref().display().to_string();
                let file = stream.finish().map_err(|e| Error::io(&path, "write", e))?;
                file.commit()
            }
            Sink::Object(object) => object.commit(),
            Sink::CompressedObject(stream) => {
                let url = stream.get_ref().display().to_string();
                let object = stream.finish().map_err(|e| Error::io(&url, "write", e))?;
                object.commit()
            }
            Sink::Device {
                path,
                mut writer,
                standard_output,
            } => writer
                .flush()
                .map_err(|e| device_error(&path, standard_output, e)),
            Sink::Memory(_) => Ok(()),
            Sink::Parquet(sink) => sink.finish(),
        }
    }
}

/// The error of a write to a device: a FIFO whose reader went away leaves the output
/// incomplete, a failure; only standard output may be closed by its reader (`| head`).
fn device_error(path: &str, standard_output: bool, err: io::Error) -> Error {
    if err.kind() == io::ErrorKind::BrokenPipe && !standard_output {
        return Error::ReaderGone {
            path: path.to_string(),
        };
    }
    Error::io(path, "write", err)
}

/// A CSV field, quoted when it holds a delimiter, a quote or a line break.
pub fn csv_field(field: &[u8]) -> Vec<u8> {
    if !field
        .iter()
        .any(|&b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
    {
        return field.to_vec();
    }
    let mut quoted = Vec::with_capacity(field.len() + 2);
    quoted.push(b'"');
    for &b in field {
        if b == b'"' {
            quoted.push(b'"');
        }
        quoted.push(b);
    }
    quoted.push(b'"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_is_quoted_only_when_it_must_be() {
        assert_eq!(csv_field(b"abc"), b"abc");
        assert_eq!(csv_field(b"a,b"), b"\"a,b\"");
        assert_eq!(csv_field(b"say \"hi\""), b"\"say \"\"hi\"\"\"");
    }

    #[test]
    fn csv_and_jsonl_encode_the_same_shortest_floats() {
        let mut out = Vec::new();
        let csv = Encoder::new(Format::Csv, &[]);
        out.extend(csv.header());
        csv.encode(&[0.1 + 0.2, 24.0, -1e-7], None, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "prediction\n0.30000000000000004\n24.0\n-1e-7\n"
        );
        let mut out = Vec::new();
        Encoder::new(Format::Jsonl, &[]).encode(&[24.0], None, &mut out);
        assert_eq!(out, b"{\"prediction\":24.0}\n");
    }

    #[test]
    fn only_csv_carries_an_id_that_is_not_utf8() {
        let (csv, jsonl) = (
            Encoder::new(Format::Csv, &["id".into()]),
            Encoder::new(Format::Jsonl, &["id".into()]),
        );
        for id in [&b"r1"[..], "é".as_bytes(), b""] {
            assert!(csv.carries(id) && jsonl.carries(id), "{id:?}");
        }
        for id in [&b"\xff"[..], b"caf\xe9", b"\xc3"] {
            assert!(csv.carries(id) && !jsonl.carries(id), "{id:?}");
        }
    }

    #[test]
    fn floats_are_written_as_ryu_writes_them() {
        // The text of every earlier version (made with ryu), for values of every size.
        let mut rng = crate::testing::Rng(17);
        let mut values = vec![1e16, -1e16, 9999999999999998.0, 1.5e300, 5e-324, 1e-7, -0.0];
        while values.len() < 300_000 {
            let x = match rng.below(3) {
                0 => f64::from_bits(rng.next()),
                1 => (rng.below(1 << 40) as f64) * 2f64.powi(rng.below(120) as i32 - 60),
                _ => rng.below(100_000_000) as f64 / 1e6,
            };
            if x.is_finite() {
                values.push(x);
            }
        }
        let mut out = Vec::new();
        Encoder::new(Format::Csv, &[]).encode(&values, None, &mut out);
        let mut expected = String::new();
        let mut ryu = ryu::Buffer::new();
        for &x in &values {
            expected += ryu.format_finite(x);
            expected.push('\n');
        }
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }
}
