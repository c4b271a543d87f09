//! A prefix read as one input: the objects under it in key order, each decompressed on its
//! own (a prefix may hold `.csv.gz` parts), joined into one CSV text with one header.
//!
//! Every object starts with a header; the first object's is the input's, and each other's must
//! be the same bytes (a part written with other columns, or in another order, would otherwise
//! be scored by position). All headers are checked when the prefix is opened, before anything
//! is scored, by reading only their first line.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read};

use crate::error::{Error, Location, Result};
use crate::store::compression;
use crate::store::get::ObjectReader;
use crate::store::list::Listed;
use crate::store::Object;

/// An object's decompressed text, buffered to find its header's end.
type Text = BufReader<Box<dyn Read + Send>>;

/// How much of an object one GET asks for when only its header is wanted.
const HEADER_WINDOW: u64 = 256 * 1024;

/// The objects under a prefix as one text.
pub struct PrefixReader {
    prefix: Object,
    /// The objects not yet started.
    pending: VecDeque<Listed>,
    /// The object being read, after its header (the first object's header included).
    current: Option<Text>,
    /// Whether the last byte given out was a line break (or nothing was given yet).
    at_line_start: bool,
    /// A line break owed between an object without a final one and the next object.
    owe_newline: bool,
}

impl PrefixReader {
    /// Checks every object's header against the first's, then reads from the first; with
    /// `shard` (index, count), reads the first's header and then only the shard's objects, a
    /// contiguous run of about 1/count of them, so the shards' outputs concatenated in index
    /// order are the unsharded output.
    pub fn open(
        prefix: &Object,
        objects: Vec<Listed>,
        shard: Option<(u64, u64)>,
    ) -> Result<PrefixReader> {
        let mut objects: VecDeque<Listed> = objects.into_iter().filter(|o| o.size > 0).collect();
        let mut first: Option<(String, Vec<u8>)> = None;
        for listed in &objects {
            let (_, header) = open_object(prefix, listed, Some(HEADER_WINDOW))?;
            match &first {
                None => first = Some((listed.url.clone(), header)),
                Some((first_url, first_header)) if *first_header != header => {
                    return Err(Error::data(
                        Location::line(&listed.url, 1),
                        format!(
                            "its header is not the header of {first_url}, the first object under the prefix: every object under a prefix must have the same columns in the same order"
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        let mut reader = PrefixReader {
            prefix: prefix.clone(),
            pending: VecDeque::new(),
            current: None,
            at_line_start: true,
            owe_newline: false,
        };
        if let (Some((index, count)), Some((_, header))) = (shard, first) {
            let at = |i: u64| (objects.len() as u128 * u128::from(i) / u128::from(count)) as usize;
            reader.pending = objects.drain(at(index)..at(index + 1)).collect();
            let lead: Box<dyn Read + Send> =
                Box::new(io::Cursor::new([header, vec![b'\n']].concat()));
            reader.current = Some(BufReader::new(lead));
            return Ok(reader);
        }
        if let Some(listed) = objects.pop_front() {
            // The first object is read from its start, header and all.
            let object = prefix.sibling(key_of(&listed), listed.url.clone());
            let raw = ObjectReader::with_size(&object, listed.size);
            reader.current = Some(BufReader::new(decompressed(&listed.url, raw)?));
        }
        reader.pending = objects;
        Ok(reader)
    }

    /// Starts the next object, past its header; false when there is none.
    fn next_object(&mut self) -> io::Result<bool> {
        let Some(listed) = self.pending.pop_front() else {
            return Ok(false);
        };
        let (reader, _) = open_object(&self.prefix, &listed, None).map_err(io::Error::other)?;
        self.owe_newline = !self.at_line_start;
        self.current = Some(reader);
        Ok(true)
    }
}

impl Read for PrefixReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.owe_newline {
                self.owe_newline = false;
                buf[0] = b'\n';
                self.at_line_start = true;
                return Ok(1);
            }
            let Some(current) = self.current.as_mut() else {
                return Ok(0);
            };
            let n = current.read(buf)?;
            if n > 0 {
                self.at_line_start = matches!(buf[n - 1], b'\n' | b'\r');
                return Ok(n);
            }
            self.current = None;
            if !self.next_object()? {
                return Ok(0);
            }
        }
    }
}

fn key_of(listed: &Listed) -> object_store::path::Path {
    let parsed = crate::store::ObjectUrl::parse(&listed.url).expect("a listed URL parses");
    parsed.key()
}

/// `raw`, the bytes of the object at `url`, decompressed when it is compressed.
fn decompressed(url: &str, mut raw: ObjectReader) -> Result<Box<dyn Read + Send>> {
    let start = compression::read_start(url, &mut raw)?;
    let (reader, _) = compression::decompressed(url, start, Box::new(raw))?;
    Ok(reader)
}

/// Opens a listed object decompressed and reads its header line: the reader after the header,
/// and the header without its line break.
fn open_object(prefix: &Object, listed: &Listed, window: Option<u64>) -> Result<(Text, Vec<u8>)> {
    let object = prefix.sibling(key_of(listed), listed.url.clone());
    let mut raw = ObjectReader::with_size(&object, listed.size);
    if let Some(window) = window {
        raw = raw.windowed(window);
    }
    let mut reader = BufReader::new(decompressed(&listed.url, raw)?);
    let mut header = Vec::new();
    reader
        .read_until(b'\n', &mut header)
        .map_err(|e| compression::read_error(&listed.url, e))?;
    while matches!(header.last(), Some(b'\n' | b'\r')) {
        header.pop();
    }
    Ok((reader, header))
}
