//! Prediction writers: CSV or JSON Lines, to standard output or to a file that appears whole.
//!
//! Floats are written in the shortest form that reads back as the same `f64` (ryu), so the
//! text loses nothing and two runs write the same bytes.

use std::io::{self, Write};

use clap::ValueEnum;

use crate::atomic::AtomicFile;
use crate::batch::Ids;
use crate::error::{Error, Result};

/// The output format of predictions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A CSV with header `prediction`, or `<id column>,prediction`.
    Csv,
    /// One JSON object per line: `{"prediction":24.1}`, or `{"<id column>":"…","prediction":24.1}`.
    Jsonl,
}

enum Sink {
    Stdout(io::StdoutLock<'static>),
    File(AtomicFile),
}

/// Writes predictions batch by batch.
pub struct PredictionWriter {
    sink: Sink,
    format: Format,
    id_key: Option<Vec<u8>>,
    buf: Vec<u8>,
}

impl PredictionWriter {
    /// Opens the output (`None`: standard output) and writes the CSV header.
    pub fn create(
        path: Option<&str>,
        format: Format,
        id_column: Option<&str>,
    ) -> Result<PredictionWriter> {
        let sink = match path {
            None | Some("-") => Sink::Stdout(io::stdout().lock()),
            Some(path) => Sink::File(AtomicFile::create(path)?),
        };
        let id_key = id_column.map(|name| match format {
            Format::Csv => csv_field(name.as_bytes()),
            Format::Jsonl => serde_json::to_vec(name).expect("a string always serializes"),
        });
        let mut writer = PredictionWriter {
            sink,
            format,
            id_key,
            buf: Vec::with_capacity(64 * 1024),
        };
        if format == Format::Csv {
            if let Some(key) = &writer.id_key {
                writer.buf.extend_from_slice(key);
                writer.buf.push(b',');
            }
            writer.buf.extend_from_slice(b"prediction\n");
        }
        Ok(writer)
    }

    /// Writes one batch of predictions, with the batch's ids when an id column was chosen.
    pub fn write_batch(&mut self, predictions: &[f64], ids: Option<&Ids>) -> Result<()> {
        let mut float = ryu::Buffer::new();
        for (i, &p) in predictions.iter().enumerate() {
            let value = float.format_finite(p).as_bytes();
            match self.format {
                Format::Csv => {
                    if let Some(ids) = ids {
                        self.buf.extend_from_slice(&csv_field(ids.get(i)));
                        self.buf.push(b',');
                    }
                    self.buf.extend_from_slice(value);
                    self.buf.push(b'\n');
                }
                Format::Jsonl => {
                    self.buf.push(b'{');
                    if let (Some(key), Some(ids)) = (&self.id_key, ids) {
                        self.buf.extend_from_slice(key);
                        self.buf.push(b':');
                        let id = String::from_utf8_lossy(ids.get(i));
                        serde_json::to_writer(&mut self.buf, id.as_ref())
                            .expect("writing to a Vec cannot fail");
                        self.buf.push(b',');
                    }
                    self.buf.extend_from_slice(b"\"prediction\":");
                    self.buf.extend_from_slice(value);
                    self.buf.extend_from_slice(b"}\n");
                }
            }
        }
        self.flush_buf()
    }

    /// Flushes and, for a file, renames it into place.
    pub fn finish(mut self) -> Result<()> {
        self.flush_buf()?;
        match self.sink {
            Sink::Stdout(mut out) => out.flush().map_err(|e| Error::io("<stdout>", "write", e)),
            Sink::File(file) => file.commit(),
        }
    }

    fn flush_buf(&mut self) -> Result<()> {
        let result = match &mut self.sink {
            Sink::Stdout(out) => out
                .write_all(&self.buf)
                .map_err(|e| Error::io("<stdout>", "write", e)),
            Sink::File(file) => {
                let path = file.display().to_string();
                file.write_all(&self.buf)
                    .map_err(|e| Error::io(&path, "write", e))
            }
        };
        self.buf.clear();
        result
    }
}

/// A CSV field, quoted when it holds a delimiter, a quote or a line break.
fn csv_field(field: &[u8]) -> Vec<u8> {
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
    fn shortest_round_trip_floats_read_back_exactly() {
        let mut buf = ryu::Buffer::new();
        for x in [0.1_f64 + 0.2, 24.0, -1e-7, 1.7976931348623157e308, 5e-324] {
            let text = buf.format_finite(x);
            assert_eq!(
                text.parse::<f64>().unwrap().to_bits(),
                x.to_bits(),
                "{text}"
            );
        }
    }
}
