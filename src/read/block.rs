//! Cutting an input stream into blocks that end on record boundaries, so blocks can be parsed
//! independently (by several threads) and the rows still come out in input order.
//!
//! A block with no quote character ends after its last newline. A block with quotes may hold a
//! newline inside a quoted field, so csv-core finds where its last complete record ends. A
//! record longer than [`MAX_RECORD`] is an error, not a reason to read the whole input into
//! memory.

use std::io::Read;

use crate::error::{Error, Location, Result};
use crate::read::cursor::line_breaks;
use crate::read::quoted::open_quote_field;
use crate::store::compression;

/// The largest record (line) we accept.
pub const MAX_RECORD: usize = 1024 * 1024;
/// The default block size: large enough to amortize hand-offs, small enough for tight memory.
pub const BLOCK_SIZE: usize = 512 * 1024;

/// A run of whole records from the input.
#[derive(Debug, Default)]
pub struct Block {
    /// Position of the block in the input, from 0.
    pub seq: u64,
    /// The bytes: whole records, the last one maybe without its line terminator at the end.
    pub data: Vec<u8>,
    /// Whether the block needs the full CSV parser (`needs_csv_core`): it holds a quote
    /// character or a lone carriage return.
    pub quoted: bool,
}

/// Why the input could not be cut into blocks.
#[derive(Debug)]
pub enum CutError {
    /// A record longer than [`MAX_RECORD`] starts at the beginning of block `seq`; `quoted`
    /// when those bytes hold a quote.
    RecordTooLong {
        /// Whether a quote is among the bytes.
        quoted: bool,
    },
    /// Reading failed.
    Io(Error),
}

/// Reads an input and hands out blocks of whole records.
pub struct BlockSource<R> {
    input: R,
    path: String,
    carry: Vec<u8>,
    eof: bool,
    seq: u64,
    block_size: usize,
}

/// The header of an input: its fields and how many line breaks it spans.
pub struct RawHeader {
    /// The header's fields, unquoted.
    pub fields: Vec<Vec<u8>>,
    /// Line breaks in the header (1, or 0 for a file that is only a header without newline).
    pub newlines: u64,
    /// Bytes the header takes at the start of the input, byte order mark included.
    pub bytes: u64,
}

impl<R: Read> BlockSource<R> {
    /// Starts reading `input` (named `path` in messages): strips a UTF-8 byte order mark and
    /// reads the header record.
    pub fn new(path: &str, input: R, block_size: usize) -> Result<(BlockSource<R>, RawHeader)> {
        let mut source = BlockSource::headerless(path, input, block_size);
        let header = source.read_header()?;
        Ok((source, header))
    }

    /// Reads `input` that holds only records, no header (a shard of a file).
    pub fn headerless(path: &str, input: R, block_size: usize) -> BlockSource<R> {
        BlockSource {
            input,
            path: path.to_string(),
            carry: Vec::new(),
            eof: false,
            seq: 0,
            block_size: block_size.max(1),
        }
    }

    /// The sequence number the next block will have.
    pub fn next_seq(&self) -> u64 {
        self.seq
    }

    /// Gives back the input.
    pub fn into_inner(self) -> R {
        self.input
    }

    /// The next block, written into `buf` (a recycled buffer), or `None` at the end.
    pub fn next_block(&mut self, mut buf: Vec<u8>) -> std::result::Result<Option<Block>, CutError> {
        // The recycled bytes are overwritten, not cleared: only growth past them is zeroed.
        let mut filled = self.carry.len();
        if buf.len() < filled {
            buf.resize(filled, 0);
        }
        buf[..filled].copy_from_slice(&self.carry);
        self.carry.clear();
        let mut target = self.block_size;
        let (cut, scanned) = loop {
            self.fill(&mut buf, &mut filled, target)
                .map_err(CutError::Io)?;
            let bytes = &buf[..filled];
            // A CR that ends what was read so far may be half of a CRLF: the next read says.
            let unsplit = match bytes.strip_suffix(b"\r") {
                Some(head) if !self.eof => head,
                _ => bytes,
            };
            let scanned = needs_csv_core(unsplit);
            if self.eof {
                break (filled, scanned);
            }
            let end = if scanned {
                last_record_end(bytes)
            } else {
                memchr::memrchr(b'\n', bytes).map(|i| i + 1)
            };
            match end {
                Some(end) if end > 0 => break (end, scanned),
                _ if filled > MAX_RECORD => {
                    // The record's first MAX_RECORD bytes, however much more was read.
                    let quoted = memchr::memchr(b'"', &bytes[..MAX_RECORD]).is_some();
                    return Err(CutError::RecordTooLong { quoted });
                }
                _ => target = filled + self.block_size,
            }
        };
        if cut == 0 {
            return Ok(None);
        }
        self.carry.extend_from_slice(&buf[cut..filled]);
        buf.truncate(cut);
        let block = Block {
            seq: self.seq,
            // Only a block whose bytes needed csv-core may still need it once cut.
            quoted: scanned && needs_csv_core(&buf),
            data: buf,
        };
        self.seq += 1;
        Ok(Some(block))
    }

    /// Reads until `buf[..*filled]` holds `target` bytes or the input ends, overwriting what
    /// lies past `*filled`. The room for `target` bytes is allocated at once, and zero-filled
    /// ahead of the reads in steps doubling from 8 KiB: a new buffer touches only the memory a
    /// small input needs, and a recycled one (as long as the last block) takes one step, so a
    /// file is read with one `read` per block (`read_to_end` would start at 8 KiB and double:
    /// seven calls).
    fn fill(&mut self, buf: &mut Vec<u8>, filled: &mut usize, target: usize) -> Result<()> {
        buf.reserve(target.saturating_sub(buf.len()));
        while !self.eof && *filled < target {
            if buf.len() < target && (buf.len() <= *filled || 2 * buf.len() >= target) {
                let grown = (2 * buf.len()).max(8 * 1024).min(target);
                buf.resize(grown.max(*filled + 1), 0);
            }
            let end = buf.len().min(target);
            match self.input.read(&mut buf[*filled..end]) {
                Ok(0) => self.eof = true,
                Ok(n) => *filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(compression::read_error(&self.path, e)),
            }
        }
        Ok(())
    }

    fn read_header(&mut self) -> Result<RawHeader> {
        let mut buf = Vec::new();
        let mut filled = 0;
        self.fill(&mut buf, &mut filled, 3)?;
        buf.truncate(filled);
        let bom = if buf.starts_with(b"\xef\xbb\xbf") {
            buf.drain(..3);
            3
        } else {
            0
        };
        loop {
            // A header that ends in a CR at the end of what was read may yet be CRLF.
            let cr_at_end = buf.last() == Some(&b'\r') && !self.eof;
            if let Some((fields, end)) = first_record(&buf, self.eof).filter(|_| !cr_at_end) {
                // A quote never closed takes the rest of the file into the header; its column
                // names would then be one long one, and "missing columns" would hide the cause.
                let open = if end == buf.len() {
                    open_quote_field(&buf)
                } else {
                    None
                };
                if let Some(field) = open {
                    return Err(Error::data(
                        Location::cell(&self.path, 1, field + 1),
                        "a quote in this header field is never closed, so the rest of the \
                         file was read into it",
                    ));
                }
                let newlines = line_breaks(&buf, 0..end);
                self.carry = buf[end..].to_vec();
                return Ok(RawHeader {
                    fields,
                    newlines,
                    bytes: (bom + end) as u64,
                });
            }
            if self.eof {
                // Nothing but line breaks, or nothing at all.
                return Ok(RawHeader {
                    fields: Vec::new(),
                    newlines: 0,
                    bytes: (bom + buf.len()) as u64,
                });
            }
            if buf.len() > MAX_RECORD {
                let too_long = format!("the header is longer than {MAX_RECORD} bytes");
                return Err(match open_quote_field(&buf) {
                    Some(field) => Error::data(
                        Location::cell(&self.path, 1, field + 1),
                        format!("{too_long}; is the quote in this field never closed?"),
                    ),
                    None => Error::data(
                        Location::line(&self.path, 1),
                        format!("{too_long}; is this a CSV file?"),
                    ),
                });
            }
            self.read_some(&mut buf)?;
        }
    }

    /// One read of whatever the input has ready, up to 64 KiB. The header needs no more: a
    /// pipe that has sent the header but not yet a block of rows must not hold the run back.
    fn read_some(&mut self, buf: &mut Vec<u8>) -> Result<()> {
        let old = buf.len();
        buf.resize(old + 64 * 1024, 0);
        let read = loop {
            match self.input.read(&mut buf[old..]) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        let n = read.map_err(|e| compression::read_error(&self.path, e));
        buf.truncate(old + *n.as_ref().unwrap_or(&0));
        if n? == 0 {
            self.eof = true;
        }
        Ok(())
    }
}

/// Whether `buf` needs csv-core rather than the line splitter: it holds a quote (a quoted
/// field may hold a line break) or a carriage return that is not part of a CRLF (csv-core, as
/// every CSV reader, ends a record there, old Mac style; the line splitter would not). A CR
/// that ends `buf` counts as one: a block cut just after a lone CR must not go to the line
/// splitter, which would read the CR into the row's last field. Either way every block parses
/// the same, however the input was cut.
fn needs_csv_core(buf: &[u8]) -> bool {
    memchr::memchr(b'"', buf).is_some()
        || memchr::memchr_iter(b'\r', buf).any(|i| buf.get(i + 1) != Some(&b'\n'))
}

/// A csv-core reader for what follows the byte order mark we strip at the start of the file.
/// Left to itself, csv-core strips one from the start of whatever it reads first, which for a
/// reader made per block (or per header) would be the start of a block: the same bytes would
/// then be data in one place and nothing in another, depending on where the input was cut.
pub fn record_reader() -> csv_core::Reader {
    let mut reader = csv_core::Reader::new();
    // A lone line break is no record; reading it only marks the reader as having read.
    let (result, nin, _, _) = reader.read_record(b"\n", &mut [0; 1], &mut [0; 1]);
    debug_assert!(
        matches!(result, csv_core::ReadRecordResult::InputEmpty) && nin == 1,
        "{result:?} {nin}"
    );
    reader
}

/// The end of the last complete record in `buf`, which starts at a record boundary.
fn last_record_end(buf: &[u8]) -> Option<usize> {
    let mut reader = record_reader();
    let mut out = [0u8; 4096];
    let mut ends = [0usize; 256];
    let mut pos = 0;
    let mut last = None;
    loop {
        let (result, nin, _, _) = reader.read_record(&buf[pos..], &mut out, &mut ends);
        pos += nin;
        match result {
            csv_core::ReadRecordResult::Record => {
                // csv-core ends a CRLF record at the CR; keep the LF with its record. A CR that
                // ends the buffer may be the first half of a CRLF: that record is not whole yet.
                if buf[pos - 1] == b'\r' && buf.get(pos) == Some(&b'\n') {
                    pos += 1;
                } else if buf[pos - 1] == b'\r' && pos == buf.len() {
                    return last;
                }
                last = Some(pos);
            }
            // We only want positions: output that does not fit is dropped, and parsing goes on.
            csv_core::ReadRecordResult::OutputFull | csv_core::ReadRecordResult::OutputEndsFull => {
            }
            csv_core::ReadRecordResult::InputEmpty | csv_core::ReadRecordResult::End => {
                return last
            }
        }
    }
}

/// The fields of the first record of `buf` and where it ends; `None` when `buf` holds no
/// complete record (unless `eof`, when the rest is the record).
fn first_record(buf: &[u8], eof: bool) -> Option<(Vec<Vec<u8>>, usize)> {
    let mut reader = record_reader();
    let mut out = vec![0u8; buf.len() + 1];
    let mut ends = vec![0usize; buf.len() + 1];
    let (result, nin, nout, nend) = reader.read_record(buf, &mut out, &mut ends);
    let (nin, nend) = match result {
        csv_core::ReadRecordResult::Record => (nin, nend),
        csv_core::ReadRecordResult::InputEmpty if eof => {
            let (result, _, _, more) = reader.read_record(&[], &mut out[nout..], &mut ends[nend..]);
            match result {
                csv_core::ReadRecordResult::Record => (nin, nend + more),
                _ => return None,
            }
        }
        _ => return None,
    };
    let nin = if nin > 0 && buf[nin - 1] == b'\r' && buf.get(nin) == Some(&b'\n') {
        nin + 1
    } else {
        nin
    };
    let mut fields = Vec::with_capacity(nend);
    let mut start = 0;
    for &end in &ends[..nend] {
        fields.push(out[start..end].to_vec());
        start = end;
    }
    Some((fields, nin))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most 3 bytes per read, as a slow pipe might.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(3).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    /// The header fields and blocks of `input`, read whole into new buffers. Reading it 3 bytes
    /// at a time into recycled buffers (holding a stale, longer block) may cut it elsewhere
    /// (the header's read takes what is ready), but the test fails unless either way the header
    /// is the same and header and blocks are the input, byte for byte.
    fn blocks(input: &str, block_size: usize) -> (Vec<Vec<u8>>, Vec<String>) {
        let (mut source, header) =
            BlockSource::new("in.csv", input.as_bytes(), block_size).unwrap();
        let mut out = Vec::new();
        while let Some(block) = source.next_block(Vec::new()).unwrap() {
            out.push(String::from_utf8(block.data).unwrap());
        }
        assert_eq!(
            &input.as_bytes()[header.bytes as usize..],
            out.concat().as_bytes()
        );
        let (mut source, trickled) =
            BlockSource::new("in.csv", Trickle(input.as_bytes()), block_size).unwrap();
        assert_eq!(trickled.fields, header.fields);
        let mut rest = Vec::new();
        let mut buf = vec![b'x'; 3 * block_size];
        while let Some(block) = source.next_block(buf).unwrap() {
            rest.extend_from_slice(&block.data);
            buf = block.data;
        }
        assert_eq!(
            &input.as_bytes()[trickled.bytes as usize..],
            rest,
            "block size {block_size}"
        );
        (header.fields, out)
    }

    #[test]
    fn blocks_end_on_line_boundaries_and_cover_the_input() {
        let input = "a,b\n1,2\n3,4\n5,6";
        for size in 1..20 {
            let (header, parts) = blocks(input, size);
            assert_eq!(header, vec![b"a".to_vec(), b"b".to_vec()]);
            assert_eq!(parts.concat(), "1,2\n3,4\n5,6", "block size {size}");
            for part in &parts[..parts.len() - 1] {
                assert!(part.ends_with('\n'), "{part:?} at block size {size}");
            }
        }
    }

    #[test]
    fn a_quoted_newline_never_splits_a_record() {
        let input = "id,x\n\"a\nb\",1\n\"c\",2\n";
        for size in 1..20 {
            let (_, parts) = blocks(input, size);
            assert_eq!(parts.concat(), "\"a\nb\",1\n\"c\",2\n");
            assert!(
                parts.iter().all(|p| p == "\"a\nb\",1\n"
                    || p == "\"c\",2\n"
                    || p == "\"a\nb\",1\n\"c\",2\n"),
                "{parts:?}"
            );
        }
    }

    #[test]
    fn a_byte_order_mark_and_a_quoted_header_are_understood() {
        let (header, parts) = blocks("\u{feff}\"CRIM\",\"ZN\"\r\n1,2\r\n", 4);
        assert_eq!(header, vec![b"CRIM".to_vec(), b"ZN".to_vec()]);
        assert_eq!(parts.concat(), "1,2\r\n");
    }

    #[test]
    fn a_header_without_a_newline_is_a_header() {
        let (header, parts) = blocks("a,b", 1024);
        assert_eq!(header.len(), 2);
        assert!(parts.is_empty());
    }

    /// The error `BlockSource::new` gives for `input`, read whole and 3 bytes at a time.
    fn header_error(input: &[u8]) -> String {
        let whole = BlockSource::new("in.csv", input, 1024)
            .err()
            .expect("an error");
        let trickled = BlockSource::new("in.csv", Trickle(input), 1024)
            .err()
            .expect("an error");
        assert_eq!(whole.to_string(), trickled.to_string());
        whole.to_string()
    }

    #[test]
    fn a_quote_never_closed_in_the_header_is_named_with_its_field() {
        for (input, field) in [
            ("\"a,b\n1,2\n", 1),
            ("\u{feff}a,\"b\n1,2\n", 2),
            ("a,b,\"c\"\"d", 3),
        ] {
            assert_eq!(
                header_error(input.as_bytes()),
                format!(
                    "in.csv:1:{field}: a quote in this header field is never closed, so the \
                     rest of the file was read into it"
                ),
                "{input:?}"
            );
        }
    }

    #[test]
    fn a_header_with_closed_or_unquoting_quotes_is_read_as_before() {
        for input in [
            "\"a\nb\",c\n1,2\n",
            "a\",b\n1,2\n",
            "a,\"b\"\"\"",
            "a,b\r",
            "a,\"b\"\r",
        ] {
            let (_, header) = BlockSource::new("in.csv", input.as_bytes(), 1024).unwrap();
            assert_eq!(header.fields.len(), 2, "{input:?}");
        }
    }

    #[test]
    fn a_header_past_the_limit_with_an_open_quote_asks_about_the_quote() {
        // Read whole: 3 bytes at a time, each read parses the header's bytes so far again.
        let error = |input: String| {
            let err = BlockSource::new("in.csv", input.as_bytes(), 1024).err();
            err.expect("an error").to_string()
        };
        let rows = "1,2\n".repeat(MAX_RECORD / 4 + 1);
        assert_eq!(
            error(format!("a,\"b\n{rows}")),
            "in.csv:1:2: the header is longer than 1048576 bytes; is the quote in this field \
             never closed?"
        );
        assert_eq!(
            error("9".repeat(MAX_RECORD + 1)),
            "in.csv:1: the header is longer than 1048576 bytes; is this a CSV file?"
        );
    }

    #[test]
    fn a_record_longer_than_the_limit_is_an_error() {
        let input = format!("a\n1\n{}\n", "9".repeat(2 * MAX_RECORD));
        let (mut source, _) = BlockSource::new("in.csv", input.as_bytes(), 1024).unwrap();
        let mut seen = 0;
        loop {
            match source.next_block(Vec::new()) {
                Ok(Some(_)) => seen += 1,
                Ok(None) => panic!("no error"),
                Err(CutError::RecordTooLong { .. }) => break,
                Err(CutError::Io(e)) => panic!("{e}"),
            }
        }
        assert_eq!(seen, 1);
    }
}
