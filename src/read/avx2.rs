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
//!   rather than branches, as where a line crosses 64 bytes changes from line to line): each
//!   field's digits, before and after the dot, are joined into one 64-bit word of digit values
//!   (two loads, a shift and masks), with no arithmetic on them yet;
//! - the arithmetic, four fields to a register: the fast_float / simdjson "eight digits" trick
//!   (`maddubs` pairs, `madd` fours, one multiply for the eight), an exact conversion to `f64`
//!   (below 2^27, so by the 2^52 bias), one division by the field's power of ten and the sign.
//!
//! Per line the scalar reader works a digit at a time and divides field by field; this one
//! spends a few instructions per field in the walk and does the rest in 16 lanes. The values are
//! exactly [`crate::read::number::parse_decimal`]'s: an integer below 10^8, exact in an `f64`,
//! divided by an exact power of ten, correctly rounded.

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::read_line;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use crate::read::number::POW10;
    use crate::read::vector::Lines;

    /// `HIGH_BYTES[n]`: a word with its top `n` bytes set, which hold the last `n` bytes before
    /// the end a word was loaded up to.
    const HIGH_BYTES: [u64; 9] = {
        let mut a = [0u64; 9];
        let mut n = 1;
        while n <= 8 {
            a[n] = u64::MAX << (64 - 8 * n);
            n += 1;
        }
        a
    };

    /// The 8 bytes of the line that end at its byte `end` (exclusive), as a little-endian word;
    /// where `end` is below 8 the bytes before the line come in as zeros, and where it is 0 the
    /// word is meaningless (only an empty field, which the caller refuses, or a dot that starts
    /// a field, whose digits before it are none, ask for it).
    #[inline(always)]
    fn word_ending(src: &[u8; 128], end: usize) -> u64 {
        let start = end.saturating_sub(8).min(120);
        let bytes: [u8; 8] = src[start..start + 8].try_into().expect("8 bytes");
        u64::from_le_bytes(bytes).wrapping_shl((8 * (start + 8).saturating_sub(end)) as u32)
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
            // All ones when the low half is used up, so the high half is the one to take.
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
        // The line's first 128 bytes: straight from `rest` (nearly every line), or from a
        // zero-padded copy near the end of a block.
        let mut copy = [0u8; 128];
        let src: &[u8; 128] = match rest.first_chunk::<128>() {
            Some(src) => src,
            None => {
                copy[..rest.len()].copy_from_slice(rest);
                &copy
            }
        };
        let at = src.as_ptr().cast::<__m256i>();
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

        // Per field: its digit values in the top bytes of a word (the most significant in the
        // lowest byte of them), the power of ten to divide by, and the sign bit.
        let mut digits = [0u64; 16];
        let mut scale = [1.0f64; 16];
        let mut sign = [0u64; 16];
        let mut start = 0;
        let mut too_long = false;
        for k in 0..lines.fields() as usize {
            let field = k & 15;
            let (e, m) = (ends.next(), marks.next());
            let negative = src[start & 127] == b'-';
            let s = start + usize::from(negative);
            start = e + 1;
            // Without a dot the mark is the end: no decimals, and the head is the tail.
            let decimals = (e - m).saturating_sub(1);
            let count = (e - s).wrapping_sub(usize::from(m != e));
            too_long |= count.wrapping_sub(1) > 7;
            // Kept in range for the tables below; a field past them is refused after the loop.
            let (decimals, count) = (decimals.min(8), count.min(8));
            // The digits after the dot are the top bytes of the word before the end; the ones
            // before it, the word before the dot, shifted down past them.
            let (tail, head) = (word_ending(src, e), word_ending(src, m));
            let after_dot = HIGH_BYTES[decimals];
            let word = (tail & after_dot) | (head.wrapping_shr(8 * decimals as u32) & !after_dot);
            // '0' to '9' are 0x30 to 0x39: the low four bits are the digit.
            digits[field] = word & HIGH_BYTES[count] & 0x0f0f_0f0f_0f0f_0f0f;
            scale[field] = POW10[decimals];
            sign[field] = u64::from(negative) << 63;
        }
        if too_long {
            return None;
        }
        let mut values = [0.0f64; 16];
        for group in 0..4 {
            let i = group * 4;
            // SAFETY: four of the 16 entries of each array, from `i` (at most 12).
            unsafe {
                let d = _mm256_loadu_si256(digits.as_ptr().add(i).cast());
                // Pairs, then fours, then each lane's 8 digits as one integer (below 10^8).
                let pairs = _mm256_maddubs_epi16(d, _mm256_set1_epi16(0x010a));
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
                let quotient = _mm256_div_pd(whole, _mm256_loadu_pd(scale.as_ptr().add(i)));
                let sign = _mm256_loadu_si256(sign.as_ptr().add(i).cast());
                let value = _mm256_xor_pd(quotient, _mm256_castsi256_pd(sign));
                _mm256_storeu_pd(values.as_mut_ptr().add(i), value);
            }
        }
        for (slot, value) in row.iter_mut().enumerate() {
            *value = values[lines.field_of(slot)];
        }
        Some(taken)
    }
}
