//! Numbers from CSV cells, bit for bit as `str::parse::<f64>` reads them, for every reader of
//! [`crate::read`] (the vector reader computes [`parse_decimal`]'s values with vector
//! instructions).
//!
//! Most cells in a numeric CSV are short decimals such as `394.33` or `0.00632`. For those we use
//! Clinger's fast path: when the decimal digits fit in 2^53 and the power of ten is at most 22,
//! both are exact `f64`s and one IEEE multiplication or division rounds correctly, so the result
//! is bit-identical to `str::parse::<f64>`. Everything else (long mantissas, large exponents,
//! white space, `inf`) goes to `str::parse`, the correct and slower general algorithm.

/// Why a cell is not a usable number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberError {
    /// The field is empty (or only white space).
    Empty,
    /// The text is not a number.
    Invalid,
    /// NaN or an infinity: a number, but not one a model can score.
    NonFinite,
}

/// Exact powers of ten representable in `f64`.
pub(crate) const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Parses one CSV field as a finite `f64`, ignoring surrounding ASCII white space.
#[inline]
pub fn parse_number(field: &[u8]) -> Result<f64, NumberError> {
    match parse_simple(field) {
        Some(value) => Ok(value),
        None => parse_general(field),
    }
}

#[cold]
fn parse_general(field: &[u8]) -> Result<f64, NumberError> {
    let field = field.trim_ascii();
    if field.is_empty() {
        return Err(NumberError::Empty);
    }
    let text = std::str::from_utf8(field).map_err(|_| NumberError::Invalid)?;
    let value: f64 = text.parse().map_err(|_| NumberError::Invalid)?;
    if value.is_finite() {
        Ok(value)
    } else {
        Err(NumberError::NonFinite)
    }
}

/// Appends the decimal digits of `s` from `i` to `mantissa` (wrapping past 19 digits, which the
/// caller refuses); returns where they end.
#[inline(always)]
fn read_digits(s: &[u8], mut i: usize, mantissa: &mut u64) -> usize {
    while let Some(&c) = s.get(i) {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        *mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(d));
        i += 1;
    }
    i
}

/// `[+-]digits[.digits][(e|E)[+-]digits]` with at most 19 significant digits, computed exactly;
/// `None` for anything else, which the general parser then decides.
#[inline]
fn parse_simple(s: &[u8]) -> Option<f64> {
    match parse_prefix(s) {
        Some((value, used)) if used == s.len() => Some(value),
        _ => None,
    }
}

/// Parses the simple number that starts `s` (see `parse_simple`) and says how many bytes it
/// took, so a caller scanning a line can parse a field and find its end in one pass. The
/// caller must check that the field really ends there; when it does, the value is exactly
/// what [`parse_number`] gives for the field.
#[inline(always)]
pub fn parse_prefix(s: &[u8]) -> Option<(f64, usize)> {
    let mut i = 0;
    let negative = match s.first() {
        Some(b'-') => {
            i = 1;
            true
        }
        Some(b'+') => {
            i = 1;
            false
        }
        _ => false,
    };
    let int_start = i;
    let mut mantissa = 0;
    i = read_digits(s, i, &mut mantissa);
    let mut digits = i - int_start;
    let mut exponent: i32 = 0;
    if s.get(i) == Some(&b'.') {
        let frac_start = i + 1;
        i = read_digits(s, frac_start, &mut mantissa);
        digits += i - frac_start;
        exponent = -((i - frac_start) as i32);
    }
    // 19 digits always fit in a u64; more may have wrapped, so leave them to the general parser.
    if digits == 0 || digits > 19 {
        return None;
    }
    if let Some(b'e' | b'E') = s.get(i) {
        i += 1;
        let exp_negative = match s.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let start = i;
        let mut e: i32 = 0;
        while let Some(&c) = s.get(i) {
            let d = c.wrapping_sub(b'0');
            if d > 9 || i - start == 4 {
                break;
            }
            e = e * 10 + i32::from(d);
            i += 1;
        }
        if i == start {
            return None;
        }
        exponent += if exp_negative { -e } else { e };
    }
    if mantissa > (1 << 53) {
        return None;
    }
    let m = mantissa as f64;
    let value = match exponent {
        0 => m,
        1..=22 => m * POW10[exponent as usize],
        -22..=-1 => m / POW10[(-exponent) as usize],
        _ => return None,
    };
    Some((if negative { -value } else { value }, i))
}

/// [`parse_prefix`] for what nearly every cell of a numeric CSV is: `[-]digits[.digits]` with at
/// most 15 digits, so that the digits are an exact `f64` and there is no exponent to read. It
/// stops before anything else; where it stops at a comma or a line's end, its answer is
/// `parse_prefix`'s, and elsewhere (an exponent, more digits) the caller asks `parse_prefix`.
#[inline(always)]
pub fn parse_decimal(s: &[u8]) -> Option<(f64, usize)> {
    let negative = s.first() == Some(&b'-');
    let int_start = usize::from(negative);
    let mut mantissa = 0;
    let int_end = read_digits(s, int_start, &mut mantissa);
    let (mut i, mut decimals) = (int_end, 0);
    if s.get(i) == Some(&b'.') {
        let frac_start = i + 1;
        i = read_digits(s, frac_start, &mut mantissa);
        decimals = i - frac_start;
    }
    let digits = int_end - int_start + decimals;
    if digits == 0 || digits > 15 {
        return None;
    }
    let m = mantissa as f64;
    let value = if decimals == 0 {
        m
    } else {
        m / POW10[decimals]
    };
    Some((if negative { -value } else { value }, i))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Rng;

    /// `[+-]digits[.digits]`, each part possibly missing, up to 11 digits before and after.
    fn random_decimal(rng: &mut Rng) -> String {
        let mut s = String::new();
        if rng.below(4) == 0 {
            s.push(['-', '+'][rng.below(2) as usize]);
        }
        let digits = |s: &mut String, rng: &mut Rng| {
            for _ in 0..rng.below(12) {
                s.push(char::from(b'0' + rng.below(10) as u8));
            }
        };
        digits(&mut s, rng);
        if rng.below(2) == 0 {
            s.push('.');
            digits(&mut s, rng);
        }
        s
    }

    fn std_parse(text: &str) -> Result<f64, NumberError> {
        parse_general(text.as_bytes())
    }

    #[test]
    fn numbers_parse_like_rust_floats_and_refuse_non_finite_values() {
        assert_eq!(parse_number(b"2.96e2"), Ok(296.0));
        assert_eq!(parse_number(b" -0.5 "), Ok(-0.5));
        assert_eq!(parse_number(b"+.5"), Ok(0.5));
        assert_eq!(parse_number(b"1."), Ok(1.0));
        assert_eq!(parse_number(b""), Err(NumberError::Empty));
        assert_eq!(parse_number(b"  "), Err(NumberError::Empty));
        assert_eq!(parse_number(b"abc"), Err(NumberError::Invalid));
        assert_eq!(parse_number(b"."), Err(NumberError::Invalid));
        assert_eq!(parse_number(b"1e"), Err(NumberError::Invalid));
        assert_eq!(parse_number(b"1,5"), Err(NumberError::Invalid));
        assert_eq!(parse_number(b"NaN"), Err(NumberError::NonFinite));
        assert_eq!(parse_number(b"-inf"), Err(NumberError::NonFinite));
        assert_eq!(parse_number(b"1e999"), Err(NumberError::NonFinite));
        assert_eq!(
            parse_number(b"-0").map(f64::to_bits),
            Ok((-0.0f64).to_bits())
        );
    }

    #[test]
    fn the_fast_path_gives_the_same_bits_as_std_on_random_decimals() {
        let mut rng = Rng(42);
        for _ in 0..300_000 {
            let mut s = random_decimal(&mut rng);
            if rng.below(5) == 0 {
                s.push(['e', 'E'][rng.below(2) as usize]);
                if rng.below(2) == 0 {
                    s.push('-');
                }
                s += &rng.below(40).to_string();
            }
            let ours = parse_number(s.as_bytes()).map(f64::to_bits);
            assert_eq!(ours, std_parse(&s).map(f64::to_bits), "{s:?}");
        }
    }

    #[test]
    fn the_decimal_parser_answers_as_the_prefix_parser_where_a_field_ends() {
        let mut rng = Rng(21);
        let ends: [&[u8]; 9] = [
            b",", b"\n", b"\r\n", b"", b"e5,", b"E-2\n", b".5,", b"x,", b"+",
        ];
        let mut taken = 0;
        for _ in 0..500_000 {
            let mut s = random_decimal(&mut rng).into_bytes();
            s.extend_from_slice(ends[rng.below(ends.len() as u64) as usize]);
            let at_end = |used: usize| matches!(s.get(used), None | Some(b',' | b'\n' | b'\r'));
            if let Some((value, used)) = parse_decimal(&s).filter(|&(_, used)| at_end(used)) {
                taken += 1;
                let expected = parse_prefix(&s).map(|(v, n)| (v.to_bits(), n));
                assert_eq!(
                    Some((value.to_bits(), used)),
                    expected,
                    "{:?}",
                    String::from_utf8_lossy(&s)
                );
            }
        }
        assert!(taken > 100_000, "{taken}");
    }

    #[test]
    fn shortest_round_trip_text_of_random_floats_reads_back_exactly() {
        let mut rng = Rng(7);
        let mut buf = zmij::Buffer::new();
        for _ in 0..200_000 {
            let x = f64::from_bits(rng.next());
            if !x.is_finite() {
                continue;
            }
            let text = buf.format_finite(x);
            assert_eq!(
                parse_number(text.as_bytes()).map(f64::to_bits),
                Ok(x.to_bits()),
                "{text}"
            );
        }
    }
}
