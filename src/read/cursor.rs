//! Where reading stands within one block: the byte position, the line breaks passed, where the
//! last row started, and the scratch space of the csv-core reader for blocks with quotes.

/// Where parsing stands within one block, plus the scratch space of the quoted path.
pub struct Cursor {
    /// Byte position in the block.
    pub pos: usize,
    /// Line breaks consumed so far in the block.
    pub newlines: u64,
    /// Where the last row read starts: its byte position, and the line breaks before it.
    pub row_start: (usize, u64),
    /// Made on first use: most blocks have no quotes, and making one costs microseconds.
    pub(crate) core: Option<csv_core::Reader>,
    pub(crate) out: Vec<u8>,
    pub(crate) ends: Vec<usize>,
}

impl Default for Cursor {
    fn default() -> Self {
        Cursor {
            pos: 0,
            newlines: 0,
            row_start: (0, 0),
            core: None,
            out: vec![0; 4096],
            ends: vec![0; 64],
        }
    }
}

impl Cursor {
    /// Starts over at the beginning of a new block.
    pub fn reset(&mut self) {
        self.pos = 0;
        self.newlines = 0;
        self.core = None;
    }

    /// The line (line breaks before it in the block) and text of the last row read from
    /// `data`, which ends where the cursor stands.
    pub fn last_row<'a>(&self, data: &'a [u8]) -> (u64, &'a [u8]) {
        let (start, line) = self.row_start;
        (line, without_terminator(&data[start..self.pos]))
    }

    /// A cursor at byte `pos` of a block, after `newlines` line breaks.
    pub fn at(pos: usize, newlines: u64) -> Cursor {
        Cursor {
            pos,
            newlines,
            ..Cursor::default()
        }
    }
}

/// A record's bytes without the `\n` or `\r\n` that ends it.
pub(crate) fn without_terminator(record: &[u8]) -> &[u8] {
    let record = record.strip_suffix(b"\n").unwrap_or(record);
    record.strip_suffix(b"\r").unwrap_or(record)
}

/// The line breaks in `data[range]`, as csv-core ends records: each `\n`, and each `\r` that
/// no `\n` follows in `data` (a CRLF is one break, an old Mac file's lone CR is one).
pub(crate) fn line_breaks(data: &[u8], range: std::ops::Range<usize>) -> u64 {
    let part = &data[range.clone()];
    let feeds = memchr::memchr_iter(b'\n', part).count();
    let returns = memchr::memchr_iter(b'\r', part)
        .filter(|&i| data.get(range.start + i + 1) != Some(&b'\n'))
        .count();
    (feeds + returns) as u64
}
