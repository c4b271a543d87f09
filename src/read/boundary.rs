//! Where records start, from any byte of a file: csv-core's reader reduced to the states that
//! decide record boundaries, so that a shard can begin at a record of its own without reading
//! the file from the start.
//!
//! The states follow csv-core's (comma, double quote, a doubled quote inside quotes for a quote,
//! and `\r`, `\n` or `\r\n` ending a record; empty lines are no records). A quote opens a quoted
//! field only at the start of a field; elsewhere it is text, as in `5" pipe`.
//!
//! At an arbitrary byte the state is unknown, so [`state_at`] reads a window before it from
//! every state at once: each hypothesis steps through the same bytes, hypotheses that reach the
//! same state merge, and one whose record would be longer than any record the reader accepts
//! ([`LONGEST_RECORD`]) is dropped. When one hypothesis is left, its state at the byte is the
//! state the reader would have there on a file it accepts: the true state is never dropped,
//! and all that are left agree. Otherwise (a window full of long quoted fields) the file is read
//! from the start, which is exact too. Both ways depend on nothing but the file and the byte, so
//! the shard that ends at a byte and the shard that starts there find the same record boundary.

use std::io::{self, Read, Seek, SeekFrom};

use crate::read::block::{BLOCK_SIZE, MAX_RECORD};

/// Longer than any record the block reader accepts: it refuses a record once it has read more
/// than `MAX_RECORD` bytes of it without finding its end, which it checks every `BLOCK_SIZE`.
pub const LONGEST_RECORD: u64 = (MAX_RECORD + BLOCK_SIZE) as u64;

/// How far before a byte [`state_at`] starts reading: room for a hypothesis that is wrong to
/// outlive [`LONGEST_RECORD`] and be dropped.
const WINDOW: u64 = 2 * LONGEST_RECORD + 64 * 1024;

/// Where a CSV parse stands before a byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Between records (after a record's end, or in empty lines).
    Record,
    /// At the start of a field after a comma.
    Field,
    /// Inside an unquoted field (or after a quoted field's closing quote).
    Unquoted,
    /// Inside a quoted field.
    Quoted,
    /// After a quote inside a quoted field: an escaped quote if another follows, else the end.
    QuoteInQuoted,
}

const STATES: [State; 5] = [
    State::Record,
    State::Field,
    State::Unquoted,
    State::Quoted,
    State::QuoteInQuoted,
];

impl State {
    /// The state after byte `b`.
    #[inline]
    pub fn step(self, b: u8) -> State {
        use State::*;
        match (self, b) {
            (Quoted, b'"') => QuoteInQuoted,
            (Quoted, _) => Quoted,
            (QuoteInQuoted, b'"') => Quoted,
            (Record | Field, b'"') => Quoted,
            (Unquoted, b'"') => Unquoted,
            (_, b',') => Field,
            (_, b'\n' | b'\r') => Record,
            _ => Unquoted,
        }
    }

    /// The state after `bytes`, jumping from quote to quote: between quotes, the state outside a
    /// quoted field depends only on the last byte.
    pub fn after(mut self, bytes: &[u8]) -> State {
        let mut i = 0;
        while i < bytes.len() {
            match self {
                State::QuoteInQuoted => {
                    self = self.step(bytes[i]);
                    i += 1;
                }
                State::Quoted => match memchr::memchr(b'"', &bytes[i..]) {
                    Some(j) => {
                        self = State::QuoteInQuoted;
                        i += j + 1;
                    }
                    None => return State::Quoted,
                },
                _ => {
                    let j = memchr::memchr(b'"', &bytes[i..]).unwrap_or(bytes.len() - i);
                    if j > 0 {
                        self = State::Unquoted.step(bytes[i + j - 1]);
                    }
                    if i + j < bytes.len() {
                        self = self.step(b'"');
                    }
                    i += j + 1;
                }
            }
        }
        self
    }

    /// Where the first record that starts in `bytes` starts, when the parse stands at `self`
    /// before them; or the state after them when none does.
    pub fn first_record_start(mut self, bytes: &[u8]) -> Result<usize, State> {
        let mut i = 0;
        while i < bytes.len() {
            match self {
                State::Record if matches!(bytes[i], b'\n' | b'\r') => i += 1,
                State::Record => return Ok(i),
                State::Quoted => match memchr::memchr(b'"', &bytes[i..]) {
                    Some(j) => {
                        self = State::QuoteInQuoted;
                        i += j + 1;
                    }
                    None => return Err(State::Quoted),
                },
                State::QuoteInQuoted => {
                    self = self.step(bytes[i]);
                    i += 1;
                }
                State::Field | State::Unquoted => {
                    let rest = &bytes[i..];
                    let Some(j) = memchr::memchr3(b'"', b'\n', b'\r', rest) else {
                        return Err(State::Unquoted.step(rest[rest.len() - 1]));
                    };
                    // Between here and the byte found, the state follows the last byte.
                    let before = if j > 0 {
                        State::Unquoted.step(rest[j - 1])
                    } else {
                        self
                    };
                    self = before.step(rest[j]);
                    i += j + 1;
                }
            }
        }
        Err(self)
    }
}

/// The parse state before byte `pos` of `file`, whose records start at `data_start` (after the
/// header). See the module's comment for why it is exact for files the reader accepts.
pub fn state_at(file: &mut (impl Read + Seek), data_start: u64, pos: u64) -> io::Result<State> {
    state_within(file, data_start, pos, WINDOW, LONGEST_RECORD)
}

/// [`state_at`], reading `window` bytes before `pos` and dropping hypotheses whose record would
/// be longer than `longest` (the tests use small ones).
fn state_within(
    file: &mut (impl Read + Seek),
    data_start: u64,
    pos: u64,
    window: u64,
    longest: u64,
) -> io::Result<State> {
    if pos <= data_start.saturating_add(window) {
        return state_from_start(file, data_start, pos);
    }
    file.seek(SeekFrom::Start(pos - window))?;
    let mut hypotheses = Hypotheses::new(longest);
    let mut decided = None;
    let mut left = window;
    let mut buf = vec![0; 64 * 1024];
    while left > 0 {
        let want = buf.len().min(left as usize);
        file.read_exact(&mut buf[..want])?;
        decided = match decided {
            Some(state) => Some(State::after(state, &buf[..want])),
            None => hypotheses.feed(&buf[..want]),
        };
        left -= want as u64;
    }
    match decided {
        Some(state) => Ok(state),
        None => state_from_start(file, data_start, pos),
    }
}

/// Every state the parse may be in, for a file whose records are at most `longest` bytes, with
/// the bytes since each one's record ended (at least).
struct Hypotheses {
    alive: Vec<(State, u64)>,
    longest: u64,
}

impl Hypotheses {
    /// Nothing read yet: every state is possible.
    fn new(longest: u64) -> Hypotheses {
        Hypotheses {
            alive: STATES.iter().map(|&s| (s, 0)).collect(),
            longest,
        }
    }

    /// Reads `bytes`; the state after them once only one is possible.
    fn feed(&mut self, bytes: &[u8]) -> Option<State> {
        for (read, &b) in bytes.iter().enumerate() {
            for (state, age) in self.alive.iter_mut() {
                *state = state.step(b);
                *age = if *state == State::Record { 0 } else { *age + 1 };
            }
            self.alive.retain(|&(_, age)| age <= self.longest);
            self.alive.sort_by_key(|&(state, age)| (state as u8, age));
            self.alive.dedup_by_key(|(state, _)| *state);
            if let [(state, _)] = self.alive[..] {
                // One left: from here on the parse is determined.
                return Some(state.after(&bytes[read + 1..]));
            }
        }
        None
    }
}

/// The state before `pos`, read from the start of the records.
fn state_from_start(file: &mut (impl Read + Seek), data_start: u64, pos: u64) -> io::Result<State> {
    file.seek(SeekFrom::Start(data_start))?;
    let mut state = State::Record;
    let mut left = pos.saturating_sub(data_start);
    let mut buf = vec![0; 256 * 1024];
    while left > 0 {
        let want = buf.len().min(left as usize);
        let n = file.read(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        state = state.after(&buf[..n]);
        left -= n as u64;
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{quoted_csv, scratch_file, Rng};
    use std::fs::File;

    #[test]
    fn jumping_from_quote_to_quote_gives_the_state_of_stepping_byte_by_byte() {
        let mut rng = Rng(41);
        for case in 0..3000 {
            let bytes: Vec<u8> = (0..rng.below(40))
                .map(|_| b"ab,\"\n\r"[rng.below(6) as usize])
                .collect();
            for start in STATES {
                let stepped = bytes.iter().fold(start, |s, &b| s.step(b));
                assert_eq!(start.after(&bytes), stepped, "case {case} from {start:?}");
                // The first record start is the first byte read in the Record state that ends
                // no line.
                let mut state = start;
                let mut first = Err(stepped);
                for (i, &b) in bytes.iter().enumerate() {
                    if state == State::Record && !matches!(b, b'\n' | b'\r') {
                        first = Ok(i);
                        break;
                    }
                    state = state.step(b);
                }
                assert_eq!(
                    start.first_record_start(&bytes),
                    first,
                    "case {case} from {start:?}"
                );
            }
        }
    }

    /// Where the header of `text` ends, its line break included.
    fn header_end(text: &str) -> u64 {
        let Some(end) = text.find(['\n', '\r']) else {
            return text.len() as u64;
        };
        (end + if text[end..].starts_with("\r\n") {
            2
        } else {
            1
        }) as u64
    }

    #[test]
    fn the_state_read_from_a_window_is_the_state_read_from_the_start() {
        let mut rng = Rng(7);
        let mut decided = 0;
        let mut windows = 0;
        for case in 0..60 {
            let text = quoted_csv(&mut rng, 40);
            let path = scratch_file("boundary", &format!("case{case}.csv"), text.as_bytes());
            let mut file = File::open(&path).unwrap();
            let data_start = header_end(&text);
            // Every record of these files is shorter than 64 bytes.
            for pos in data_start..text.len() as u64 {
                let exact = state_from_start(&mut file, data_start, pos).unwrap();
                let windowed = state_within(&mut file, data_start, pos, 150, 64).unwrap();
                assert_eq!(windowed, exact, "case {case}, byte {pos}: {text:?}");
                if pos >= data_start + 150 {
                    windows += 1;
                    let window = &text.as_bytes()[pos as usize - 150..pos as usize];
                    decided += u32::from(Hypotheses::new(64).feed(window).is_some());
                }
            }
        }
        // The window decides the state nearly everywhere, so the file is seldom read from the
        // start.
        assert!(decided * 100 >= windows * 99, "{decided} of {windows}");
    }

    #[test]
    fn a_window_without_quotes_decides_the_state_once_it_is_longer_than_a_record() {
        let line = b"1,22,333,4444\n";
        let text: Vec<u8> = line.iter().copied().cycle().take(400).collect();
        for end in 40..text.len() {
            assert_eq!(
                Hypotheses::new(20).feed(&text[end - 40..end]),
                Some(State::Record.after(&text[..end])),
                "{end}"
            );
        }
    }
}
