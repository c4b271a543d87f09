//! A whole line of plain numbers read at once with AVX-512, where the CPU has it, and the
//! [`Lines`] that every vector line reader (this one, and [`crate::read::avx2`] on CPUs without
//! AVX-512) needs to know; [`crate::read::cpu`] says which runs. Elsewhere there is none, and the
//! scalar readers of [`crate::read::plain`] read every line. This file imports nothing from the
//! readers: they call `read_line`.
//!
//! The scalar reader spends some 90 instructions on each field, one or two bytes at a time. Here
//! a line of up to 127 bytes is two 64-byte registers, and every field of it is read together:
//! bit masks of the digits, dots, commas and minus signs give each field's end, dot and first
//! digit; a byte permutation right-aligns each field's digits (dot dropped) in an 8-byte lane;
//! multiply-adds turn the lanes into integers, and one division by the field's power of ten
//! gives the value, exactly as [`crate::read::number::parse_decimal`] computes it (an integer below
//! 10^8 divided by an exact power of ten, correctly rounded). A line this reader does not take
//! whole (a quote, an exponent, a field of more than 8 digits, a wrong field count, a text
//! column, a line longer than the registers) goes to the scalar reader, which decides it as
//! before: this reader accepts a subset of the lines and never reports an error. Rows of more
//! than 16 fields or columns, and selections with an id column, are left to the scalar reader
//! altogether.

use crate::read::cpu::LineReader;

/// What a vector line reader needs to know about a selection, made only for a reader the CPU
/// can run.
#[derive(Debug, Clone)]
pub struct Lines {
    /// The vector reader that reads the lines (never [`LineReader::Scalar`]).
    reader: LineReader,
    /// Fields per line (at most 16).
    fields: u32,
    /// For each batch column, the field that fills it; 16 entries, two registers' worth.
    field_of_slot: [u64; 16],
    /// How many batch columns a row has (at most 16).
    width: usize,
    /// Whether batch column `k` is field `k` for every column (the model's columns are the
    /// file's first ones, in order).
    in_order: bool,
}

impl Lines {
    /// `reader`'s view of rows of `field_count` fields that fill the `width` batch columns
    /// `slot_of_field` gives, or `None` if `reader` is the scalar one, the CPU cannot run it, or
    /// the shape does not fit: more than 16 fields or columns, or an id column to carry (left to
    /// the scalar reader).
    pub fn new(
        reader: LineReader,
        slot_of_field: &[Option<usize>],
        field_count: usize,
        width: usize,
        has_id: bool,
    ) -> Option<Lines> {
        if reader == LineReader::Scalar
            || has_id
            || field_count > 16
            || slot_of_field.len() > field_count
            || !reader.runs_here()
        {
            return None;
        }
        let mut field_of_slot = [0; 16];
        let mut filled = 0;
        for (field, slot) in slot_of_field.iter().enumerate() {
            if let Some(slot) = *slot {
                *field_of_slot.get_mut(slot)? = field as u64;
                filled += 1;
            }
        }
        if filled != width {
            return None;
        }
        let in_order = (0..width).all(|slot| field_of_slot[slot] == slot as u64);
        Some(Lines {
            reader,
            fields: field_count as u32,
            field_of_slot,
            width,
            in_order,
        })
    }

    /// The vector reader these lines are for.
    pub fn reader(&self) -> LineReader {
        self.reader
    }

    /// Fields per line.
    pub(crate) fn fields(&self) -> u32 {
        self.fields
    }

    /// Batch columns per row.
    pub(crate) fn width(&self) -> usize {
        self.width
    }

    /// Whether batch column `k` is field `k` for every column.
    #[inline(always)]
    pub(crate) fn in_order(&self) -> bool {
        self.in_order
    }

    /// The field that fills batch column `slot`.
    #[inline(always)]
    pub(crate) fn field_of(&self, slot: usize) -> usize {
        self.field_of_slot[slot] as usize
    }
}

/// Whether this CPU has the instructions the AVX-512 reader uses.
pub fn available() -> bool {
    LineReader::Avx512.runs_here()
}

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::read_line;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::Lines;
    use crate::read::number::POW10;

    const IOTA: [u8; 64] = {
        let mut a = [0; 64];
        let mut i = 0;
        while i < 64 {
            a[i] = i as u8;
            i += 1;
        }
        a
    };

    /// Byte `b` of a field's 8-byte lane holds the field's digit `8 - b` from the end.
    const FROM_END: [u8; 64] = {
        let mut a = [0; 64];
        let mut i = 0;
        while i < 64 {
            a[i] = 8 - (i % 8) as u8;
            i += 1;
        }
        a
    };

    /// Which field's numbers each byte of the first (fields 0-7) and second (8-15) register of
    /// lanes takes.
    const LANE_FIELD: [[u8; 64]; 2] = {
        let mut a = [[0; 64]; 2];
        let mut i = 0;
        while i < 64 {
            a[0][i] = (i / 8) as u8;
            a[1][i] = 8 + (i / 8) as u8;
            i += 1;
        }
        a
    };

    #[inline]
    #[target_feature(
        enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vbmi,avx512vbmi2,popcnt,bmi1"
    )]
    unsafe fn load(bytes: &[u8; 64]) -> __m512i {
        // SAFETY: 64 readable bytes.
        unsafe { _mm512_loadu_si512(bytes.as_ptr().cast()) }
    }

    /// The positions of the set bits of `mask` (bits 0-127), lowest first, in the first 16
    /// bytes; bytes past the last set bit are zero or later positions.
    #[inline]
    #[target_feature(
        enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vbmi,avx512vbmi2,popcnt,bmi1"
    )]
    unsafe fn positions(mask: u128) -> __m128i {
        let iota = load(&IOTA);
        let (low, high) = (mask as u64, (mask >> 64) as u64);
        let first = _mm512_castsi512_si128(_mm512_maskz_compress_epi8(low, iota));
        let second = _mm512_castsi512_si128(_mm512_maskz_compress_epi8(
            high,
            _mm512_add_epi8(iota, _mm512_set1_epi8(64)),
        ));
        // Bytes from `count` on come from the second half: index 16 + (i - count).
        let count = low.count_ones() as i8;
        let iota16 = _mm512_castsi512_si128(iota);
        let later = _mm_cmpge_epu8_mask(iota16, _mm_set1_epi8(count));
        let index = _mm_mask_add_epi8(
            iota16,
            later,
            iota16,
            _mm_set1_epi8(16i8.wrapping_sub(count)),
        );
        _mm_permutex2var_epi8(first, index, second)
    }

    /// Reads the line that starts `rest` into `row` if every field is `[-]digits[.digits]`
    /// with 1 to 8 digits, the field count is right, and the line ends with `\n` or `\r\n`
    /// within 128 bytes; returns the bytes taken, line break included. `None` leaves the line
    /// (and `row`, written only at the end) to the scalar reader.
    ///
    /// # Safety
    /// The CPU must have the features [`Lines::new`] checks.
    #[inline]
    #[target_feature(
        enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vbmi,avx512vbmi2,popcnt,bmi1"
    )]
    pub(crate) unsafe fn read_line(lines: &Lines, rest: &[u8], row: &mut [f64]) -> Option<usize> {
        debug_assert_eq!(row.len(), lines.width);
        // Two registers of the line's bytes; masked loads touch no byte past `rest`.
        let len = rest.len().min(128);
        let low_bits = |n: usize| if n >= 64 { u64::MAX } else { (1u64 << n) - 1 };
        let ptr = rest.as_ptr().cast::<i8>();
        // SAFETY: the masks select bytes of `rest` only, and masked-off bytes are not read.
        let (a, b) = unsafe {
            (
                _mm512_maskz_loadu_epi8(low_bits(len), ptr),
                _mm512_maskz_loadu_epi8(low_bits(len.saturating_sub(64)), ptr.wrapping_add(64)),
            )
        };
        let both = |f: &dyn Fn(__m512i) -> u64| u128::from(f(a)) | (u128::from(f(b)) << 64);
        let equal = |c: u8| both(&|x| _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8(c as i8)));

        let newline = equal(b'\n');
        if newline == 0 {
            return None;
        }
        let mut end = newline.trailing_zeros();
        let taken = end as usize + 1;
        if end > 0 && equal(b'\r') >> (end - 1) & 1 == 1 {
            end -= 1;
        }
        if end == 0 {
            return None;
        }
        let line = (1u128 << end) - 1;
        let digit = both(&|x| {
            _mm512_cmplt_epu8_mask(
                _mm512_sub_epi8(x, _mm512_set1_epi8(b'0' as i8)),
                _mm512_set1_epi8(10),
            )
        });
        let (dot, comma, minus) = (equal(b'.') & line, equal(b',') & line, equal(b'-') & line);
        if (digit | dot | comma | minus) & line != line || comma.count_ones() + 1 != lines.fields {
            return None;
        }
        // Field starts and ends (the end is the comma or the line's end after the field).
        let starts = (comma << 1) | 1;
        let ends = comma | (1 << end);
        if minus & !starts != 0 {
            return None;
        }
        // Subtracting the bit after each dot from `ends` borrows from the field's end: a field
        // with a dot loses its end bit and gains the bits between its dot and end. A second
        // dot in a field falls inside those bits (or the borrow runs on past the field).
        let borrowed = ends.wrapping_sub(dot << 1);
        if borrowed & !ends & dot != 0 {
            return None;
        }
        // One mark per field: its dot, or its end if it has none.
        let marks = dot | (borrowed & ends);
        let digit_starts = (starts ^ minus) | (minus << 1);

        let end_at = positions(ends);
        let mark_at = positions(marks);
        let digits_at = positions(digit_starts);
        let start_at = _mm_bslli_si128::<1>(_mm_add_epi8(end_at, _mm_set1_epi8(1)));
        let one = _mm_set1_epi8(1);
        let has_dot = _mm_cmpneq_epu8_mask(mark_at, end_at);
        let after_mark = _mm_sub_epi8(end_at, mark_at);
        let decimals = _mm_mask_sub_epi8(after_mark, has_dot, after_mark, one);
        let span = _mm_sub_epi8(end_at, digits_at);
        let count = _mm_mask_sub_epi8(span, has_dot, span, one);
        let fields = ((1u32 << lines.fields) - 1) as u16;
        // 1 to 8 digits in every field.
        if _mm_cmple_epu8_mask(_mm_sub_epi8(count, one), _mm_set1_epi8(7)) & fields != fields {
            return None;
        }
        let negative = _mm_cmpneq_epu8_mask(digits_at, start_at);
        // How many digits follow the dot (255 without a dot: none to step over).
        let before_dot = _mm_mask_mov_epi8(_mm_set1_epi8(-1), has_dot, decimals);

        let from_end = load(&FROM_END);
        let pow10 = |i: usize| {
            // SAFETY: 8 readable f64 from `i` (0 or 8 of 23).
            unsafe { _mm512_loadu_pd(POW10.as_ptr().add(i)) }
        };
        let mut values = [_mm512_setzero_pd(); 2];
        for (half, value) in values.iter_mut().enumerate() {
            let lane_field = load(&LANE_FIELD[half]);
            let spread =
                |v: __m128i| _mm512_permutexvar_epi8(lane_field, _mm512_zextsi128_si512(v));
            let (end_of, before_dot_of, count_of) =
                (spread(end_at), spread(before_dot), spread(count));
            // The k-th digit from the end is k bytes before the end, one more once past the dot.
            let at = _mm512_sub_epi8(end_of, from_end);
            let at = _mm512_mask_sub_epi8(
                at,
                _mm512_cmpgt_epu8_mask(from_end, before_dot_of),
                at,
                _mm512_set1_epi8(1),
            );
            let present = _mm512_cmple_epu8_mask(from_end, count_of);
            let bytes = _mm512_permutex2var_epi8(a, at, b);
            let digits = _mm512_maskz_sub_epi8(present, bytes, _mm512_set1_epi8(b'0' as i8));
            // Pairs, then fours, then the lane's 8 digits as one integer (below 10^8).
            let pairs = _mm512_maddubs_epi16(digits, _mm512_set1_epi16(0x010a));
            let fours = _mm512_madd_epi16(pairs, _mm512_set1_epi32(0x0001_0064));
            let whole = _mm512_add_epi64(
                _mm512_mul_epu32(fours, _mm512_set1_epi64(10_000)),
                _mm512_srli_epi64::<32>(fours),
            );
            let shift = half * 8;
            let decimals_q = _mm512_cvtepu8_epi64(if half == 0 {
                decimals
            } else {
                _mm_srli_si128::<8>(decimals)
            });
            let scale = _mm512_permutex2var_pd(pow10(0), decimals_q, pow10(8));
            let quotient = _mm512_div_pd(_mm512_cvtepi64_pd(whole), scale);
            let sign = (negative >> shift) as u8;
            *value = _mm512_castsi512_pd(_mm512_mask_xor_epi64(
                _mm512_castpd_si512(quotient),
                sign,
                _mm512_castpd_si512(quotient),
                _mm512_set1_epi64(i64::MIN),
            ));
        }
        // Into the row, in batch column order.
        let out = row.as_mut_ptr();
        for half in 0..2 {
            // SAFETY: 8 readable u64.
            let index =
                unsafe { _mm512_loadu_si512(lines.field_of_slot.as_ptr().add(half * 8).cast()) };
            let columns = _mm512_permutex2var_pd(values[0], index, values[1]);
            let mask = low_bits(lines.width.saturating_sub(half * 8).min(8)) as u8;
            // SAFETY: the mask selects columns below `row.len()` only; masked-off ones are not
            // touched.
            unsafe { _mm512_mask_storeu_pd(out.wrapping_add(half * 8), mask, columns) };
        }
        Some(taken)
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::{x86, Lines};
    use crate::read::avx2;
    use crate::read::cpu::{runnable, LineReader};
    use crate::read::number::parse_number;

    /// The vector readers this CPU runs (each test below holds every one of them), with a note
    /// where there is none and the tests have nothing to test.
    fn vector_readers() -> Vec<LineReader> {
        let readers: Vec<LineReader> = runnable()
            .into_iter()
            .filter(|&r| r != LineReader::Scalar)
            .collect();
        if readers.is_empty() {
            eprintln!("skipped: this CPU has neither AVX2 nor AVX-512, and no vector reader runs");
        }
        readers
    }

    /// Reads `line` (fields a, b, c and `fields - 3` more) into columns [c, a] with `reader`.
    fn read(reader: LineReader, line: &str, fields: usize) -> Option<(Vec<f64>, usize)> {
        let mut slot_of_field = vec![None; fields];
        slot_of_field[0] = Some(1);
        slot_of_field[2] = Some(0);
        let lines = Lines::new(reader, &slot_of_field, fields, 2, false)?;
        let mut row = [f64::NAN; 2];
        // SAFETY: `lines` exists, so the CPU has the features of its reader.
        let taken = unsafe {
            match reader {
                LineReader::Avx512 => x86::read_line(&lines, line.as_bytes(), &mut row),
                _ => avx2::read_line(&lines, line.as_bytes(), &mut row),
            }
        }?;
        Some((row.to_vec(), taken))
    }

    #[test]
    fn lines_of_plain_numbers_read_as_the_number_parser_reads_each_field() {
        for reader in vector_readers() {
            lines_read_as_the_number_parser_reads_each_field(reader);
        }
    }

    fn lines_read_as_the_number_parser_reads_each_field(reader: LineReader) {
        let long = format!("{},9\n", ["-1234.567"; 12].join(","));
        let cases = [
            ("1,2,3\n", "1", "3"),
            ("-0.5,.5,5.\n", "-0.5", "5."),
            ("12345678,-0,0.0000001\n", "12345678", "0.0000001"),
            ("-.25,7,.12345678\r\n", "-.25", ".12345678"),
            ("00000000,1,-99999999\n", "00000000", "-99999999"),
            // Eight digits and a dot: nine bytes, past one 8-byte word from the first digit.
            (
                "1234567.8,-9.9999999,-1234567.8\n",
                "1234567.8",
                "-1234567.8",
            ),
            ("0.1,0.2,0.3\nrest", "0.1", "0.3"),
            (long.as_str(), "-1234.567", "-1234.567"),
        ];
        for (line, a, c) in cases {
            let fields = line.split('\n').next().unwrap().split(',').count();
            let Some((row, taken)) = read(reader, line, fields) else {
                panic!("{reader:?}: {line:?} was refused");
            };
            let want = [parse_number(c.as_bytes()), parse_number(a.as_bytes())];
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&row),
                bits(&want.map(Result::unwrap)),
                "{reader:?}: {line:?}"
            );
            assert_eq!(taken, line.find('\n').unwrap() + 1, "{reader:?}: {line:?}");
        }
        assert!(long.len() > 64 && long.len() < 128);
    }

    /// Reads every field of `line` into a row, in field order, with `reader`.
    fn read_every_field(reader: LineReader, line: &[u8], fields: usize) -> Option<Vec<f64>> {
        let all: Vec<Option<usize>> = (0..fields).map(Some).collect();
        let lines = Lines::new(reader, &all, fields, fields, false)?;
        let mut row = vec![f64::NAN; fields];
        // SAFETY: `lines` exists, so the CPU has the features of its reader.
        let taken = unsafe {
            match reader {
                LineReader::Avx512 => x86::read_line(&lines, line, &mut row),
                _ => avx2::read_line(&lines, line, &mut row),
            }
        }?;
        let text = std::str::from_utf8(line).unwrap();
        assert_eq!(taken, text.find('\n').unwrap() + 1, "{reader:?}: {text:?}");
        Some(row)
    }

    /// A line of `fields` fields (each `[-]digits[.digits]`, 1 to 8 digits) that is `length`
    /// bytes long before its line break, the fields grown a byte at a time at random (a digit,
    /// a minus or a dot) from one digit each.
    fn line_of_length(rng: &mut crate::testing::Rng, fields: usize, length: usize) -> String {
        // Per field: minus, digits, where the dot goes (None: no dot).
        let mut shape: Vec<(bool, usize, Option<usize>)> = vec![(false, 1, None); fields];
        let mut len = 2 * fields - 1;
        while len < length {
            let k = rng.below(fields as u64) as usize;
            let (minus, digits, dot) = &mut shape[k];
            match rng.below(3) {
                0 if *digits < 8 => *digits += 1,
                1 if !*minus => *minus = true,
                2 if dot.is_none() => *dot = Some(rng.below(*digits as u64 + 1) as usize),
                _ => continue,
            }
            len += 1;
        }
        let cells: Vec<String> = shape
            .iter()
            .map(|&(minus, digits, dot)| {
                let mut cell = String::from(if minus { "-" } else { "" });
                for i in 0..digits {
                    if dot == Some(i) {
                        cell.push('.');
                    }
                    cell.push(char::from(b'0' + rng.below(10) as u8));
                }
                if dot.is_some_and(|d| d >= digits) {
                    cell.push('.');
                }
                cell
            })
            .collect();
        let line = cells.join(",");
        assert_eq!(line.len(), length);
        line
    }

    #[test]
    fn lines_of_every_length_to_130_bytes_are_taken_up_to_a_line_break_at_byte_127() {
        // Fields of 1 to 8 digits, minus signs and dots anywhere, crossing bytes 32, 64 and 96
        // at every offset; the lines of 125 to 130 bytes, both line breaks, both from the block
        // itself and from the end of one (a line the reader copies).
        let mut rng = crate::testing::Rng(127);
        for reader in vector_readers() {
            let mut taken = 0;
            for length in 1..=130usize {
                let tries = if (62..=66).contains(&length) || length >= 125 {
                    200
                } else {
                    20
                };
                for _ in 0..tries {
                    // A field count that can make `length` bytes: a field of 1 to 10 bytes and
                    // a comma between two.
                    let least = (length + 1).div_ceil(11);
                    let most = length.div_ceil(2).min(16);
                    let fields = least + rng.below((most - least + 1) as u64) as usize;
                    let line = line_of_length(&mut rng, fields, length);
                    let want: Vec<u64> = line
                        .split(',')
                        .map(|f| parse_number(f.as_bytes()).unwrap().to_bits())
                        .collect();
                    for eol in ["\n", "\r\n"] {
                        let alone = format!("{line}{eol}");
                        let in_block = format!("{alone}{}\n", "9,".repeat(100));
                        let fits = alone.len() <= 128;
                        for text in [&alone, &in_block] {
                            let got = read_every_field(reader, text.as_bytes(), fields);
                            let got = got.map(|row| row.iter().map(|v| v.to_bits()).collect());
                            assert_eq!(got, fits.then(|| want.clone()), "{reader:?}: {text:?}");
                            taken += usize::from(fits);
                        }
                    }
                }
            }
            assert!(taken > 10_000, "{reader:?}: {taken}");
        }
    }

    #[test]
    fn anything_else_is_left_to_the_scalar_reader() {
        for reader in vector_readers() {
            anything_else_is_refused_by(reader);
        }
    }

    fn anything_else_is_refused_by(reader: LineReader) {
        let too_long = format!("{},1\n", ["1234567.8"; 13].join(","));
        for line in [
            "1,2,3",
            "1,2,3\r",
            "\n1,2,3\n",
            "\r\n",
            "123456789,1,1\n",
            "1,1,0.123456789\n",
            "1e3,1,1\n",
            "+1,1,1\n",
            "1.2.3,1,1\n",
            "1..,1,1\n",
            "..1,1,1\n",
            "-,1,1\n",
            ".,1,1\n",
            "-.,1,1\n",
            ",1,1\n",
            "1,1,\n",
            "1-1,1,1\n",
            "--1,1,1\n",
            "\"1\",1,1\n",
            "1, 1,1\n",
            "1,x,1\n",
            "1,1,1\r\r\n",
            "1,1\r,1\n",
            "nan,1,1\n",
        ] {
            assert_eq!(read(reader, line, 3), None, "{reader:?}: {line:?}");
        }
        // Too long, even with the right field count.
        assert!(too_long.len() > 128);
        assert_eq!(read(reader, &too_long, 14), None);
        // A wrong field count.
        assert_eq!(read(reader, "1,2,3\n", 4), None);
        assert_eq!(read(reader, "1,2,3,4\n", 3), None);
    }

    #[test]
    fn only_rows_of_up_to_16_fields_and_columns_without_an_id_are_taken() {
        let all = |n: usize| (0..n).map(Some).collect::<Vec<_>>();
        for reader in vector_readers() {
            assert!(Lines::new(reader, &all(16), 16, 16, false).is_some());
            assert!(Lines::new(reader, &all(17), 17, 17, false).is_none());
            assert!(Lines::new(reader, &all(3), 3, 3, true).is_none());
            // Every column must be filled by some field.
            assert!(Lines::new(reader, &[Some(0), None, Some(2)], 3, 3, false).is_none());
        }
        // The scalar reader has no `Lines`.
        assert!(Lines::new(LineReader::Scalar, &all(3), 3, 3, false).is_none());
    }

    #[test]
    fn every_row_of_the_bundled_test_file_is_taken_with_the_number_parser_values() {
        let text = include_str!("../../data/test.csv");
        let fields = text.lines().next().unwrap().split(',').count();
        let all: Vec<Option<usize>> = (0..fields).map(Some).collect();
        for reader in vector_readers() {
            let lines = Lines::new(reader, &all, fields, fields, false).unwrap();
            let mut rest = &text.as_bytes()[text.find('\n').unwrap() + 1..];
            while !rest.is_empty() {
                let mut row = vec![f64::NAN; fields];
                // SAFETY: `lines` exists, so the CPU has the features of its reader.
                let taken = unsafe {
                    match reader {
                        LineReader::Avx512 => x86::read_line(&lines, rest, &mut row),
                        _ => avx2::read_line(&lines, rest, &mut row),
                    }
                };
                let line = std::str::from_utf8(rest).unwrap().lines().next().unwrap();
                let want: Vec<u64> = line
                    .split(',')
                    .map(|f| parse_number(f.as_bytes()).unwrap().to_bits())
                    .collect();
                let got: Vec<u64> = row.iter().map(|v| v.to_bits()).collect();
                assert_eq!(taken, Some(line.len() + 1), "{reader:?}: {line:?}");
                assert_eq!(got, want, "{reader:?}: {line:?}");
                rest = &rest[line.len() + 1..];
            }
        }
    }
}
