//! Blocks without quote characters, line by line: each line is offered to the AVX-512 reader
//! ([`vector`], where the CPU has it), then to a one-pass reader that parses each field where it
//! stands up to the comma or line break that ends it; a line neither takes whole is split on
//! commas and read field by field by `Selection::fill_row`, which decides what is wrong with
//! it. All three accept the same lines and give the same values (the tests in
//! [`crate::read`] compare them with csv-core).

use crate::read::batch::{Batch, Ids};
use crate::read::cursor::Cursor;
use crate::read::number::{parse_decimal, parse_prefix};
use crate::read::problem::{settle, Reject, RowError};
use crate::read::selection::Selection;
#[cfg(target_arch = "x86_64")]
use crate::read::{avx2, cpu::LineReader, vector};

/// Reads rows of a block without quotes into `batch`, with the vector reader where there is one.
pub(crate) fn fill_plain(
    selection: &Selection,
    data: &[u8],
    cur: &mut Cursor,
    batch: &mut Batch,
    rejects: Option<&mut Vec<Reject>>,
) -> Result<(), RowError> {
    #[cfg(target_arch = "x86_64")]
    if let Some(lines) = &selection.lines {
        // SAFETY: a `Lines` is only made on a CPU with the features its reader needs.
        match lines.reader() {
            LineReader::Avx512 => {
                return unsafe { fill_plain_avx512(lines, selection, data, cur, batch, rejects) }
            }
            LineReader::Avx2 => {
                return unsafe { fill_plain_avx2(lines, selection, data, cur, batch, rejects) }
            }
            LineReader::Scalar => {}
        }
    }
    fill_plain_with(selection, data, cur, batch, rejects, |_, _| None)
}

/// [`fill_plain`] with every line offered to the vector reader first.
///
/// Why a function of its own: the compiler uses the AVX-512 instructions only inside a function
/// compiled with `#[target_feature]`, and inlines [`vector::read_line`] (itself compiled with
/// them) only into such a function. So the whole row loop is instantiated here, once more, with
/// the features enabled, and the vector reader runs inlined in it, not as a call per line. The
/// list is the one [`vector::available`] checks (the attribute takes only a literal).
///
/// # Safety
/// The CPU must have the features [`Lines::new`](vector::Lines::new) checks (a `Lines` exists
/// only if it has).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vbmi,avx512vbmi2,popcnt,bmi1")]
unsafe fn fill_plain_avx512(
    lines: &vector::Lines,
    selection: &Selection,
    data: &[u8],
    cur: &mut Cursor,
    batch: &mut Batch,
    rejects: Option<&mut Vec<Reject>>,
) -> Result<(), RowError> {
    fill_plain_with(selection, data, cur, batch, rejects, |rest, row| {
        // SAFETY: this closure runs inside a function that requires the same features.
        unsafe { vector::read_line(lines, rest, row) }
    })
}

/// [`fill_plain`] with every line offered to the AVX2 reader first; a function of its own for
/// the reason [`fill_plain_avx512`] is (the list is [`LineReader::Avx2`]'s features).
///
/// # Safety
/// The CPU must have the features [`LineReader::Avx2`] needs (a `Lines` for it exists only if
/// it has).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,bmi1,bmi2,popcnt")]
unsafe fn fill_plain_avx2(
    lines: &vector::Lines,
    selection: &Selection,
    data: &[u8],
    cur: &mut Cursor,
    batch: &mut Batch,
    rejects: Option<&mut Vec<Reject>>,
) -> Result<(), RowError> {
    fill_plain_with(selection, data, cur, batch, rejects, |rest, row| {
        // SAFETY: this closure runs inside a function that requires the same features.
        unsafe { avx2::read_line(lines, rest, row) }
    })
}

/// Reads plain rows, offering each line to `vector` first (see [`vector`]), then to the
/// scalar one-pass reader, and failing those splits the line on commas for
/// [`Selection::fill_row`], which decides errors.
#[inline(always)]
fn fill_plain_with(
    selection: &Selection,
    data: &[u8],
    cur: &mut Cursor,
    batch: &mut Batch,
    mut rejects: Option<&mut Vec<Reject>>,
    vector: impl Fn(&[u8], &mut [f64]) -> Option<usize>,
) -> Result<(), RowError> {
    // Lines the vector reader refuses cost a little each; when it has refused this many in a
    // row (a column of long numbers, say), the rest of the batch goes straight to the others.
    const GIVE_UP_AFTER: u32 = 32;
    let mut misses = 0;
    let width = selection.width();
    let capacity = batch.x.nrows();
    while batch.rows < capacity && cur.pos < data.len() {
        cur.row_start = (cur.pos, cur.newlines);
        let rest = &data[cur.pos..];
        let x = batch
            .x
            .as_slice_mut()
            .expect("a batch is in standard layout");
        let row = &mut x[batch.rows * width..(batch.rows + 1) * width];
        if misses < GIVE_UP_AFTER {
            if let Some(used) = vector(rest, row) {
                cur.pos += used;
                cur.newlines += 1;
                batch.rows += 1;
                misses = 0;
                continue;
            }
            misses += 1;
        }
        if let Some(used) = fill_simple_line(selection, rest, row, &mut batch.ids) {
            cur.pos += used;
            cur.newlines += u64::from(rest[used - 1] == b'\n');
            batch.rows += 1;
            continue;
        }
        batch.ids.truncate(batch.rows);
        let line_in_block = cur.newlines;
        let line = match memchr::memchr(b'\n', rest) {
            Some(i) => {
                cur.pos += i + 1;
                cur.newlines += 1;
                &rest[..i]
            }
            None => {
                cur.pos = data.len();
                rest
            }
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let x = batch
            .x
            .as_slice_mut()
            .expect("a batch is in standard layout");
        let row = &mut x[batch.rows * width..(batch.rows + 1) * width];
        let fields = line.split(|&b| b == b',');
        let outcome = selection.fill_row(fields, row, &mut batch.ids);
        settle(outcome, line_in_block, line, batch, rejects.as_deref_mut())?;
    }
    Ok(())
}

/// The common case of a line without quotes, in one pass and without looking for the
/// line's end first: every selected field a simple number ([`parse_prefix`]), ended by a
/// comma, and the line by `\n`, `\r\n` or the end of `rest`, after exactly as many fields
/// as the header has. Returns the bytes taken, line break included. `None` means the line is
/// not that simple, and [`Selection::fill_row`] must decide it (it may have written part of
/// `row` and `ids`, which that overwrites); when this takes a line, it fills it as `fill_row`
/// would.
#[inline]
fn fill_simple_line(
    selection: &Selection,
    rest: &[u8],
    row: &mut [f64],
    ids: &mut Ids,
) -> Option<usize> {
    if matches!(rest.first(), Some(b'\n' | b'\r')) {
        return None;
    }
    let (&last, others) = selection.slot_of_field.split_last()?;
    let mut start = 0;
    for (k, &slot) in others.iter().enumerate() {
        let end = simple_field(selection, rest, start, k, slot, row, ids)?;
        if rest.get(end) != Some(&b',') {
            return None;
        }
        start = end + 1;
    }
    let end = simple_field(selection, rest, start, others.len(), last, row, ids)?;
    match rest.get(end) {
        Some(b'\n') => Some(end + 1),
        Some(b'\r') if rest.get(end + 1) == Some(&b'\n') => Some(end + 2),
        None => Some(end),
        _ => None,
    }
}

/// Reads field `k` of a simple line, which starts at `start`, and says where it ends; the
/// caller checks what ends it.
#[inline(always)]
fn simple_field(
    selection: &Selection,
    rest: &[u8],
    start: usize,
    k: usize,
    slot: Option<usize>,
    row: &mut [f64],
    ids: &mut Ids,
) -> Option<usize> {
    let field = &rest[start..];
    let used = match slot {
        Some(slot) => {
            // Stopped at an exponent: the general reader of simple numbers goes on.
            let (value, used) = match parse_decimal(field) {
                Some((_, used)) if matches!(field.get(used), Some(b'e' | b'E')) => {
                    parse_prefix(field)?
                }
                Some(parsed) => parsed,
                None => parse_prefix(field)?,
            };
            row[slot] = value;
            used
        }
        None => skip_field(field),
    };
    if selection.is_id[k] {
        ids.push(&field[..used]);
    }
    Some(start + used)
}

/// The length of the field that starts `field` and is not read: up to a comma or the line's
/// end (a `\r` before `\n` is the line's end, as a plain block holds no other `\r`).
#[inline]
fn skip_field(field: &[u8]) -> usize {
    // Most such fields are numbers too, and reading one is quicker than a search.
    if let Some((_, used)) = parse_prefix(field) {
        if matches!(field.get(used), None | Some(b',' | b'\n' | b'\r')) {
            return used;
        }
    }
    match memchr::memchr2(b',', b'\n', field) {
        Some(i) if field[i] == b'\n' && i > 0 && field[i - 1] == b'\r' => i - 1,
        Some(i) => i,
        None => field.len(),
    }
}
