//! A whole line of plain numbers read with AVX2, for CPUs without the AVX-512 of
//! [`crate::read::vector`] (whose `Lines` this reader shares). Like that reader it accepts a
//! subset of the lines (every field `[-]digits[.digits]` with 1 to 8 digits, the header's field
//! count, a line break within 128 bytes) and never reports an error: anything else goes to the
//! scalar readers, which decide it.
//!
//! AVX2 has no byte compress or two-register byte permutation, so the work is split in three,
//! none of it a loop over the fields:
//! - classification, 32 bytes at a time: four registers give 128-bit masks of the line's
//!   digits, dots, commas and minus signs (one compare and one movemask a class and register),
//!   checked with the same bit arithmetic as the AVX-512 reader;
//! - the positions of each field's end and mark (its dot, or its end without one), taken from
//!   the masks 8 bits at a time through a 256-entry table of the positions of each byte's set
//!   bits, written 8 at a time at the running count (simdjson's way of flattening a mask
//!   without AVX-512): a table load, a store and a bit count for each 8 bytes of the line;
//! - everything else four fields to a register: the 16 bytes from each field's start (one
//!   16-byte load a field and two unpacks, as gathers measured slower on an AMD EPYC), the
//!   sign, the counts of digits and decimals, the dot dropped (the bytes before it from one
//!   word, those after from the word one byte further on), the digits right-aligned by a
//!   variable shift, the fast_float / simdjson "eight digits" trick (`maddubs` pairs, `madd`
//!   fours, one multiply for the eight), an exact conversion to `f64` (below 2^27, so by the
//!   2^52 bias), one division by the field's power of ten (from a register of powers, not a
//!   gather) and the sign.
//!
//! The scalar reader works a digit at a time and divides field by field. The values are exactly
//! [`crate::read::number::parse_decimal`]'s: an integer below 10^8, exact in an `f64`, divided
//! by an exact power of ten, correctly rounded.

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::read_line;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use crate::read::vector::Lines;

    /// For each byte, the positions (0 to 7) of its set bits, lowest first, one a byte of the word
    /// (lowest byte first); the bytes past the last position are zero.
    const POSITIONS: [u64; 256] = {
        let mut table = [0u64; 256];
        let mut byte = 0;
        while byte < 256 {
            let (mut entry, mut count, mut bit) = (0u64, 0, 0);
            while bit < 8 {
                if byte >> bit & 1 == 1 {
                    entry |= (bit as u64) << (8 * count);
                    count += 1;
                }
                bit += 1;
            }
            table[byte] = entry;
            byte += 1;
        }
        table
    };

    /// Room for positions: a byte before them, 16, and the 8 bytes a step writes past them,
    /// rounded up so that a count masked to five bits always leaves 8 bytes to write.
    pub(super) const ROOM: usize = 41;

    /// Writes the positions of the set bits of each of `masks` in their first `bytes` bytes (at
    /// most 16 bits set in each, else the positions are wrong, never out of bounds), lowest
    /// first, to its `out` from index 1, and returns how many each has; byte 0 and the bytes
    /// past the positions are left as they were or any. One step per byte, for all the masks
    /// at once (bytes past the line's end hold no bits, so the caller stops at it): each stores
    /// the byte's 8 table positions (plus the byte's offset) where the running count has
    /// reached, so the next byte's overwrite the ones past its set bits.
    #[inline(always)]
    pub(super) fn flatten<const N: usize>(
        masks: [u128; N],
        bytes: usize,
        out: &mut [[u8; ROOM]; N],
    ) -> [usize; N] {
        let masks = masks.map(u128::to_le_bytes);
        let mut count = [0usize; N];
        // The byte's offset in each of the 8 bytes of a table entry (positions are below 8).
        let mut offset = 0u64;
        // Byte `i` of every mask in one step: the index runs across the masks, not along one.
        #[allow(clippy::needless_range_loop)]
        for i in 0..bytes.min(16) {
            for m in 0..N {
                let byte = masks[m][i];
                let entry = POSITIONS[usize::from(byte)] + offset;
                // At most 32, so within `out` with the 8 bytes written; the caller's at most 16
                // set bits keep it at most 17, where the mask changes nothing.
                let at = 1 + (count[m] & 31);
                out[m][at..at + 8].copy_from_slice(&entry.to_le_bytes());
                count[m] += byte.count_ones() as usize;
            }
            offset += 0x0808_0808_0808_0808;
        }
        count
    }

    /// Bytes of the line in registers (the longest line taken), and bytes readable after them:
    /// 16 from any field's start (at most byte 128, after a line break at byte 127).
    const LINE: usize = 128;
    const READABLE: usize = LINE + 16;

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
        let copy: [u8; READABLE];
        let src: &[u8; READABLE] = match rest.first_chunk::<READABLE>() {
            Some(src) => src,
            None => {
                let mut padded = [0u8; READABLE];
                padded[..rest.len()].copy_from_slice(rest);
                copy = padded;
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
        let fields = lines.fields();
        if (digit | dot | comma | minus) & line != line || comma.count_ones() + 1 != fields {
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

        // Each field's end and mark, one byte each (`fields` of them: at most 16 bits in each
        // mask, all in the line's first `end / 8 + 1` bytes), from byte 1, after a -1 that
        // stands for the end before the first field: the bytes from `k` are the ends before
        // fields `k`, `k + 1`, ..., and from `k + 1` their ends and marks.
        let mut at = [[0u8; ROOM]; 2];
        at[0][0] = u8::MAX;
        flatten([ends, marks], end / 8 + 1, &mut at);
        let [end_at, mark_at] = &at;

        let powers_of_ten =
            _mm256_setr_epi32(1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000);
        let mut values = [0.0f64; 16];
        let mut bad = _mm256_setzero_si256();
        let base = src.as_ptr();
        for group in 0..(fields as usize).div_ceil(4) {
            let i = group * 4;
            // Four positions from `a[i..]`, sign-extended (they are -1 to 127).
            let widen = |a: &[u8]| {
                let four = i32::from_le_bytes(a[i..i + 4].try_into().expect("4 bytes"));
                _mm256_cvtepi8_epi64(_mm_cvtsi32_si128(four))
            };
            let sub = _mm256_sub_epi64;
            let one = _mm256_set1_epi64x(1);
            let eight = _mm256_set1_epi64x(8);
            let all = _mm256_set1_epi64x(-1);
            let start = _mm256_add_epi64(widen(end_at), one);
            let (e, m) = (widen(&end_at[1..]), widen(&mark_at[1..]));
            // The 16 bytes from each field's start, the first 8 of the four fields in one
            // register and the next 8 in another (loads and unpacks: quicker than gathers).
            let bytes = |k: usize| {
                let from = usize::from(end_at[i + k].wrapping_add(1));
                // SAFETY: a start is at most 128 (one past an end), so the last byte read is at
                // most 143, within `src`.
                unsafe { _mm_loadu_si128(base.add(from).cast()) }
            };
            let (b0, b1, b2, b3) = (bytes(0), bytes(1), bytes(2), bytes(3));
            let low = _mm256_set_m128i(_mm_unpacklo_epi64(b2, b3), _mm_unpacklo_epi64(b0, b1));
            let high = _mm256_set_m128i(_mm_unpackhi_epi64(b2, b3), _mm_unpackhi_epi64(b0, b1));
            // All ones where the field starts with a minus (which the masks allow nowhere else).
            let negative = _mm256_cmpeq_epi64(
                _mm256_and_si256(low, _mm256_set1_epi64x(0xff)),
                _mm256_set1_epi64x(i64::from(b'-')),
            );
            // The first digit (or the dot, if that comes first).
            let s = sub(start, negative);
            // The 8 bytes from `s` and the 8 from `s + 1`, out of the 16 from the start. A
            // shift of 64 bits or more gives zero.
            let skip = _mm256_and_si256(negative, one);
            let shifted = |by: __m256i| {
                let bits = _mm256_slli_epi64::<3>(by);
                _mm256_or_si256(
                    _mm256_srlv_epi64(low, bits),
                    _mm256_sllv_epi64(high, sub(_mm256_set1_epi64x(64), bits)),
                )
            };
            let (word, next_word) = (shifted(skip), shifted(_mm256_add_epi64(skip, one)));
            // All ones where the field has no dot (its mark is its end), else zero.
            let no_dot = _mm256_cmpeq_epi64(m, e);
            let decimals = sub(sub(sub(e, m), one), no_dot);
            let count = sub(sub(sub(e, s), one), no_dot);
            // Any count outside 1 to 8 sets a bit above the low three of `count - 1`; lanes
            // past the last field count for nothing.
            let lane =
                _mm256_add_epi64(_mm256_set_epi64x(3, 2, 1, 0), _mm256_set1_epi64x(i as i64));
            let real = _mm256_cmpgt_epi64(_mm256_set1_epi64x(i64::from(fields)), lane);
            bad = _mm256_or_si256(
                bad,
                _mm256_and_si256(
                    real,
                    _mm256_andnot_si256(_mm256_set1_epi64x(7), sub(count, one)),
                ),
            );
            // The bytes before the dot from the first word, the ones after it from the second
            // (one byte further on): the dot drops out.
            let before_dot = _mm256_andnot_si256(
                _mm256_sllv_epi64(all, _mm256_slli_epi64::<3>(sub(m, s))),
                all,
            );
            let joined = _mm256_or_si256(
                _mm256_and_si256(word, before_dot),
                _mm256_andnot_si256(before_dot, next_word),
            );
            // The digits to the top of the word, the last in the top byte; '0' to '9' are 0x30
            // to 0x39, so the low four bits of each byte are its digit.
            let align = _mm256_slli_epi64::<3>(sub(eight, count));
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
            // 10^decimals: 10^0 to 10^7 from a register by the low three bits of `decimals`
            // (the high half of each lane cleared), 10^8 put in, then exact in an `f64` by the
            // same bias. A refused line's decimals may be anything, its value too.
            let powers = _mm256_and_si256(
                _mm256_permutevar8x32_epi32(powers_of_ten, decimals),
                _mm256_set1_epi64x(0xffff_ffff),
            );
            let powers = _mm256_blendv_epi8(
                powers,
                _mm256_set1_epi64x(100_000_000),
                _mm256_cmpeq_epi64(decimals, eight),
            );
            let scale = _mm256_sub_pd(
                _mm256_castsi256_pd(_mm256_or_si256(powers, bias)),
                _mm256_castsi256_pd(bias),
            );
            let quotient = _mm256_div_pd(whole, scale);
            let sign = _mm256_slli_epi64::<63>(negative);
            let value = _mm256_xor_pd(quotient, _mm256_castsi256_pd(sign));
            // SAFETY: four of the 16 entries of `values`, from `i` (at most 12).
            unsafe { _mm256_storeu_pd(values.as_mut_ptr().add(i), value) };
        }
        if _mm256_testz_si256(bad, bad) == 0 {
            return None;
        }
        if lines.in_order() {
            row.copy_from_slice(&values[..row.len()]);
        } else {
            for (slot, value) in row.iter_mut().enumerate() {
                *value = values[lines.field_of(slot)];
            }
        }
        Some(taken)
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::x86::{flatten, ROOM};

    #[test]
    fn flatten_gives_the_position_of_every_set_bit_lowest_first() {
        // Up to 16 bits anywhere in the 128, whole bytes of them, bits 0, 63, 64 and 127.
        let mut rng = crate::testing::Rng(16);
        let mut masks = vec![0u128, 1, 1 << 63, 1 << 64, 1 << 127, 0xff, 0xff << 120];
        masks.push((1 << 127) | (1 << 64) | (1 << 63) | 1);
        masks.push(0xffff << 56);
        for _ in 0..10_000 {
            let bits = rng.below(17);
            masks.push((0..bits).fold(0u128, |m, _| m | 1 << rng.below(128)));
        }
        for mask in masks {
            let want: Vec<u8> = (0..128u8).filter(|&b| mask >> b & 1 == 1).collect();
            // All 16 bytes, and only as many as reach the highest set bit (the reader's way);
            // alone, and beside another mask (whose positions must not leak into its own).
            let reach = want.last().map_or(0, |&b| usize::from(b) / 8 + 1);
            // Another mask with as many bits or fewer, within the bytes this one reaches.
            let other = mask >> 3;
            for bytes in [16, reach] {
                let mut out = [[0xaa; ROOM]; 1];
                let [count] = flatten([mask], bytes, &mut out);
                assert_eq!(count, want.len(), "{mask:#x} in {bytes} bytes");
                assert_eq!(out[0][1..=count], want[..], "{mask:#x} in {bytes} bytes");
                let mut out = [[0xaa; ROOM]; 2];
                let [count, count_other] = flatten([mask, other], bytes, &mut out);
                assert_eq!(count, want.len(), "{mask:#x} beside {other:#x}");
                assert_eq!(out[0][1..=count], want[..], "{mask:#x} beside {other:#x}");
                let want_other: Vec<u8> = (0..128u8).filter(|&b| other >> b & 1 == 1).collect();
                assert_eq!(count_other, want_other.len());
                assert_eq!(out[1][1..=count_other], want_other[..]);
            }
        }
    }
}
