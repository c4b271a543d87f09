//! A whole line of plain numbers read with AVX2 and BMI, for CPUs without the AVX-512 of
//! [`crate::read::vector`] (whose [`Lines`] this reader shares). Like that reader it accepts a
//! subset of the lines (every field `[-]digits[.digits]` with 1 to 8 digits, the header's field
//! count, a line break within 128 bytes) and never reports an error: anything else goes to the
//! scalar readers, which decide it.
//!
//! AVX2 has no byte compress or two-register byte permutation, so only the classification is
//! done 32 bytes at a time: four registers give 128-bit masks of the line's digits, dots, commas
//! and minus signs, checked with the same bit arithmetic as the AVX-512 reader. The fields are
//! then walked with BMI (trailing zero count, clear lowest bit) and each one's digits become an
//! integer in one 64-bit word (its digits before and after the dot joined by two loads and a
//! shift, then three multiplies for eight digits); the divisions by powers of ten, which the
//! scalar reader does one at a time, go four to a register. The values are exactly
//! [`crate::read::number::parse_decimal`]'s: an integer below 10^8 divided by an exact power of
//! ten, correctly rounded.

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::read_line;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use crate::read::number::POW10;
    use crate::read::vector::Lines;

    /// Bytes of the copy of a short line before the line, so the 8 bytes before any field can be
    /// loaded from it.
    const PAD: usize = 8;

    /// The 8 bytes of the line that end at its byte `end` (exclusive), as a little-endian word;
    /// the line is `src` from `pad`. Bytes before the line come in as zeros (`src` holds at least
    /// 8 bytes from `pad + end - 8`, or from 0 if that is less, as `end` is below 128).
    #[inline(always)]
    fn word_ending(src: &[u8], pad: usize, end: usize) -> u64 {
        let end = pad + end;
        let start = end.saturating_sub(8);
        let bytes: [u8; 8] = src[start..start + 8].try_into().expect("8 bytes");
        // Shifted up past the bytes before the line (all 8 of them where `end` is 0).
        let shift = 8 * (start + 8 - end);
        (u64::from_le_bytes(bytes) << (shift / 2)) << (shift - shift / 2)
    }

    /// The set bits of a 128-bit mask, lowest first, taken one at a time with selects rather
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
            let in_high = self.low == 0;
            let word = if in_high { self.high } else { self.low };
            let at = word.trailing_zeros() as usize + 64 * usize::from(in_high);
            let cleared = word & word.wrapping_sub(1);
            if in_high {
                self.high = cleared;
            } else {
                self.low = cleared;
            }
            at
        }
    }

    /// `x >> bits` for `bits` up to 64 (a plain shift by 64 overflows).
    #[inline(always)]
    fn shr(x: u64, bits: usize) -> u64 {
        (x >> (bits / 2)) >> (bits - bits / 2)
    }

    /// Eight digit values (0-9), the most significant in the lowest byte, as one integer
    /// (Lemire's three multiplies).
    #[inline(always)]
    fn eight_digits(v: u64) -> u64 {
        // Each step adds a byte (pair, four) times its place to the next; the products' high
        // parts are meant to wrap away.
        let v = v.wrapping_mul(10 << 8 | 1) >> 8;
        let v = (v & 0x00ff_00ff_00ff_00ff).wrapping_mul(100 << 16 | 1) >> 16;
        (v & 0x0000_ffff_0000_ffff).wrapping_mul(10_000 << 32 | 1) >> 32
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
        // The line's first 128 bytes in registers: straight from `rest` (nearly every line), or
        // from a zero-padded copy near the end of a block.
        let copy;
        let (src, pad) = if rest.len() >= 128 {
            (rest, 0)
        } else {
            let mut buf = [0u8; PAD + 128];
            buf[PAD..PAD + rest.len()].copy_from_slice(rest);
            copy = buf;
            (&copy[..], PAD)
        };
        let at = src[pad..pad + 128].as_ptr().cast::<__m256i>();
        // SAFETY: four 32-byte loads within those 128 bytes.
        let regs: [__m256i; 4] =
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
        let mut end = newline.trailing_zeros();
        let taken = end as usize + 1;
        if end > 0 && equal(b'\r') >> (end - 1) & 1 == 1 {
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
        // Each field's end and mark (both masks hold one bit per field, at most 16), walked
        // without branches, whose outcome would change from line to line; a field starts after
        // the previous one's end, its digits one byte later after a minus.
        let (mut ends, mut marks) = (Bits::new(ends), Bits::new(marks));

        let mut whole = [0.0f64; 16];
        let mut scale = [1.0f64; 16];
        let mut sign = [0u64; 16];
        let mut start = 0;
        let mut too_long = false;
        for field in 0..lines.fields() as usize {
            let (e, m) = (ends.next(), marks.next());
            let negative = src[pad + start] == b'-';
            let s = start + usize::from(negative);
            start = e + 1;
            // Without a dot the mark is the end: no decimals, and the head is the tail.
            let decimals = (e - m).saturating_sub(1);
            let count = e - s - usize::from(m != e);
            too_long |= count.wrapping_sub(1) > 7;
            // Kept in range for the shifts below; a field past them is refused after the loop.
            let (decimals, count) = (decimals.min(8), count.min(8));
            // The digits after the dot are the top bytes of the word before the end; the ones
            // before it, the word before the dot, shifted down past them.
            let (tail, head) = (word_ending(src, pad, e), word_ending(src, pad, m));
            let word = (tail & !shr(u64::MAX, 8 * decimals)) | shr(head, 8 * decimals);
            let keep = !shr(u64::MAX, 8 * count);
            let digits = (word & keep) - (0x3030_3030_3030_3030 & keep);
            whole[field] = eight_digits(digits) as f64;
            scale[field] = POW10[decimals];
            sign[field] = u64::from(negative) << 63;
        }
        if too_long {
            return None;
        }
        // Four divisions to a register (a division by 1 leaves a whole number as it is).
        let mut values = [0.0f64; 16];
        for i in 0..16 {
            values[i] = f64::from_bits((whole[i] / scale[i]).to_bits() ^ sign[i]);
        }
        for (slot, value) in row.iter_mut().enumerate() {
            *value = values[lines.field_of(slot)];
        }
        Some(taken)
    }
}
