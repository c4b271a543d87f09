//! A whole line of plain numbers read with AVX2 and BMI, for CPUs without the AVX-512 of
//! [`crate::read::vector`] (whose [`Lines`] this reader shares). Like that reader it accepts a
//! subset of the lines (every field `[-]digits[.digits]` with 1 to 8 digits, the header's field
//! count, a line break within 128 bytes) and never reports an error: anything else goes to the
//! scalar readers, which decide it.
//!
//! AVX2 has no byte compress or two-register byte permutation, so the work is split in three:
//! - classification, 32 bytes at a time: four registers give 128-bit masks of the line's
//!   digits, dots, commas and minus signs (one compare and one movemask a class and register),
//!   checked with the same bit arithmetic as the AVX-512 reader;
//! - a walk over the fields with BMI (trailing zero count, clear lowest bit, with selects
//!   rather than branches, as where a line crosses 64 bytes changes from line to line) that only
//!   notes each field's first digit, dot (or end) and end, and loads the 8 bytes from its first
//!   digit and the 8 from the byte after;
//! - everything else four fields to a register: the counts of digits and decimals, the dot
//!   dropped (the bytes before it from the first word, those after from the second), the digits
//!   right-aligned by a variable shift, the fast_float / simdjson "eight digits" trick (`maddubs`
//!   pairs, `madd` fours, one multiply for the eight), an exact conversion to `f64` (below 2^27,
//!   so by the 2^52 bias), one division by the field's power of ten and the sign.
//!
//! The scalar reader works a digit at a time and divides field by field. The values are exactly
//! [`crate::read::number::parse_decimal`]'s: an integer below 10^8, exact in an `f64`, divided
//! by an exact power of ten, correctly rounded.

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::read_line;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use crate::read::number::POW10;
    use crate::read::vector::Lines;

    /// Bytes of the line in registers (the longest line taken), and bytes readable after them:
    /// 8 from the byte after any field's first digit.
    const LINE: usize = 128;
    const READABLE: usize = LINE + 16;

    /// The 8 bytes of `src` from `start`, as a little-endian word.
    #[inline(always)]
    fn word_from(src: &[u8; READABLE], start: usize) -> u64 {
        let start = start.min(READABLE - 8);
        u64::from_le_bytes(src[start..start + 8].try_into().expect("8 bytes"))
    }

    /// The set bits of a 128-bit mask, lowest first, taken one at a time with arithmetic rather
    /// than branches.
    struct Bits {
        low: u64,
        high: u64,
    }

    impl Bits {
        #[inline(always)]
        fn new(mask: u128) -> Bits {
            Bits {
                low: mask as u64,
                high: (mask >> 64) as u64,
            }
        }

        /// The position of the lowest set bit, which is then cleared (128 when none is left).
        #[inline(always)]
        fn next(&mut self) -> usize {
            // 1 when the low half is used up, so the high half is the one to take.
            let in_high = u64::from(self.low == 0);
            let word = self.low | (self.high & in_high.wrapping_neg());
            let at = word.trailing_zeros() as usize + 64 * in_high as usize;
            self.low &= self.low.wrapping_sub(1);
            self.high &= self.high.wrapping_sub(in_high);
            at
        }
    }

    /// Reads the line that starts `rest` into `row`, as [`crate::read::vector`]'s reader does
    /// (the same lines, the same values); returns the bytes taken, line break included. `None`
    /// leaves the line (and `row`, written only at the end) to the scalar reader.
    ///
    /// # Safety
    /// The CPU must have the features [`LineReader::Avx2`](crate::read::cpu::LineReader) needs.
    #[inline]
    #[target_feature(enable = "avx2,bmi1,bmi2,popcnt")]
    pub(crate) unsafe fn read_line(lines: &Lines, rest: &[u8], row: &mut [f64]) -> Option<usize> {
        debug_assert_eq!(row.len(), lines.width());
        // The line's first bytes: straight from `rest` (nearly every line), or from a
        // zero-padded copy near the end of a block.
        let mut copy = [0u8; READABLE];
        let src: &[u8; READABLE] = match rest.first_chunk::<READABLE>() {
            Some(src) => src,
            None => {
                copy[..rest.len()].copy_from_slice(rest);
                &copy
            }
        };
        let at = src.as_ptr().cast::<__m256i>();
        // SAFETY: four 32-byte loads within the first 128 bytes.
        let regs: [__m256i; LINE / 32] =
            std::array::from_fn(|i| unsafe { _mm256_loadu_si256(at.wrapping_add(i)) });
        let mask = |f: &dyn Fn(__m256i) -> __m256i| {
            regs.iter().enumerate().fold(0u128, |acc, (i, &r)| {
                acc | u128::from(_mm256_movemask_epi8(f(r)) as u32) << (32 * i)
            })
        };
        let equal = |c: u8| mask(&|x| _mm256_cmpeq_epi8(x, _mm256_set1_epi8(c as i8)));

        let newline = equal(b'\n');
        if newline == 0 {
            return None;
        }
        let mut end = newline.trailing_zeros() as usize;
        let taken = end + 1;
        if end > 0 && src[end - 1] == b'\r' {
            end -= 1;
        }
        if end == 0 {
            return None;
        }
        let line = (1u128 << end) - 1;
        let digit = mask(&|x| {
            let d = _mm256_sub_epi8(x, _mm256_set1_epi8(b'0' as i8));
            _mm256_cmpeq_epi8(_mm256_min_epu8(d, _mm256_set1_epi8(9)), d)
        });
        let (dot, comma, minus) = (equal(b'.') & line, equal(b',') & line, equal(b'-') & line);
        if (digit | dot | comma | minus) & line != line || comma.count_ones() + 1 != lines.fields()
        {
            return None;
        }
        // The same marks as the AVX-512 reader's: field starts, ends (the comma or the line's
        // end after each field), one dot at most per field, a minus only at a field's start.
        let starts = (comma << 1) | 1;
        let ends = comma | (1 << end);
        if minus & !starts != 0 {
            return None;
        }
        let borrowed = ends.wrapping_sub(dot << 1);
        if borrowed & !ends & dot != 0 {
            return None;
        }
        let marks = dot | (borrowed & ends);
        // Each field's end and mark (its dot, or its end without one): one bit per field in
        // each mask, at most 16.
        let (mut ends, mut marks) = (Bits::new(ends), Bits::new(marks));

        // Per field: the 8 bytes from its first digit (or its dot, if that comes first) and the
        // 8 from the byte after; where those bytes start, where its mark and end are; its sign
        // bit. Lanes past the last field hold a one-digit field, so their arithmetic is sound.
        let mut word = [0u64; 16];
        let mut next_word = [0u64; 16];
        let mut first = [0u64; 16];
        let mut mark = [1u64; 16];
        let mut last = [1u64; 16];
        let mut sign = [0u64; 16];
        let mut start = 0;
        for k in 0..lines.fields() as usize {
            let field = k & 15;
            let (e, m) = (ends.next(), marks.next());
            let negative = src[start % LINE] == b'-';
            let s = start + usize::from(negative);
            start = e + 1;
            word[field] = word_from(src, s);
            next_word[field] = word_from(src, s + 1);
            first[field] = s as u64;
            mark[field] = m as u64;
            last[field] = e as u64;
            sign[field] = u64::from(negative) << 63;
        }
        let mut values = [0.0f64; 16];
        let mut bad_count = _mm256_setzero_si256();
        for group in 0..4 {
            let i = group * 4;
            // SAFETY: four of the 16 entries of an array, from `i` (at most 12).
            let load = |a: &[u64; 16]| unsafe { _mm256_loadu_si256(a.as_ptr().add(i).cast()) };
            let (s, m, e) = (load(&first), load(&mark), load(&last));
            let one = _mm256_set1_epi64x(1);
            let all = _mm256_set1_epi64x(-1);
            // All ones where the field has no dot (its mark is its end), else zero.
            let no_dot = _mm256_cmpeq_epi64(m, e);
            let sub = _mm256_sub_epi64;
            let decimals = sub(sub(sub(e, m), one), no_dot);
            let count = sub(sub(sub(e, s), one), no_dot);
            // Any count outside 1 to 8 sets a bit above the low three of `count - 1`.
            bad_count = _mm256_or_si256(
                bad_count,
                _mm256_andnot_si256(_mm256_set1_epi64x(7), sub(count, one)),
            );
            // The bytes before the dot from the first word, the ones after it from the second
            // (one byte further on): the dot drops out. A shift of 64 bits or more gives zero.
            let before_dot = _mm256_andnot_si256(
                _mm256_sllv_epi64(all, _mm256_slli_epi64::<3>(sub(m, s))),
                all,
            );
            let joined = _mm256_or_si256(
                _mm256_and_si256(load(&word), before_dot),
                _mm256_andnot_si256(before_dot, load(&next_word)),
            );
            // The digits to the top of the word, the last in the top byte; '0' to '9' are 0x30
            // to 0x39, so the low four bits of each byte are its digit.
            let align = _mm256_slli_epi64::<3>(sub(_mm256_set1_epi64x(8), count));
            let digits = _mm256_and_si256(_mm256_sllv_epi64(joined, align), _mm256_set1_epi8(0x0f));
            // Pairs, then fours, then each lane's 8 digits as one integer (below 10^8).
            let pairs = _mm256_maddubs_epi16(digits, _mm256_set1_epi16(0x010a));
            let fours = _mm256_madd_epi16(pairs, _mm256_set1_epi32(0x0001_0064));
            let whole = _mm256_add_epi64(
                _mm256_mul_epu32(fours, _mm256_set1_epi64x(10_000)),
                _mm256_srli_epi64::<32>(fours),
            );
            // An integer below 2^52 in the mantissa of 2^52, minus 2^52: exactly its value.
            let bias = _mm256_set1_epi64x(0x4330_0000_0000_0000);
            let whole = _mm256_sub_pd(
                _mm256_castsi256_pd(_mm256_or_si256(whole, bias)),
                _mm256_castsi256_pd(bias),
            );
            // A refused line's decimals may be anything: kept within the table all the same.
            let index = _mm256_and_si256(decimals, _mm256_set1_epi64x(15));
            // SAFETY: indices 0 to 15 of the 23 entries of `POW10`.
            let scale = unsafe { _mm256_i64gather_pd::<8>(POW10.as_ptr(), index) };
            let quotient = _mm256_div_pd(whole, scale);
            let value = _mm256_xor_pd(quotient, _mm256_castsi256_pd(load(&sign)));
            // SAFETY: four of the 16 entries of `values`, from `i`.
            unsafe { _mm256_storeu_pd(values.as_mut_ptr().add(i), value) };
        }
        if _mm256_testz_si256(bad_count, bad_count) == 0 {
            return None;
        }
        for (slot, value) in row.iter_mut().enumerate() {
            *value = values[lines.field_of(slot)];
        }
        Some(taken)
    }
}
