//! Deterministic generator of Boston-like CSV rows for the benchmarks (benches/run.py).
//!
//! Writes the header of data/test.csv and then N rows of 13 features and MEDV, each column in
//! the range and rough shape of the real 506-row data set. CRIM keeps at most four significant
//! digits and DIS, B and LSTAT one decimal fewer than the real file, so that a row is about 65
//! bytes (the real file's are 68), near the 64 that issue 4 sizes the benchmark for:
//!
//! ```text
//! cargo run --release --example gen_data -- --rows 10000000 --seed 1 > file.csv
//! cargo run --release --example gen_data -- --rows 1e6 --seed 1 --output file.csv
//! ```
//!
//! Same arguments give the same bytes on any platform: the generator is splitmix64 plus
//! integer and IEEE `+ - * /` arithmetic only (no libm calls whose last bit may differ), and
//! every value is drawn as an integer count of its column's smallest unit (0.01 for INDUS,
//! 0.001 for NOX, ...) and printed exactly, trailing zeros trimmed as in the real file.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

const HEADER: &str = "CRIM,ZN,INDUS,CHAS,NOX,RM,AGE,DIS,RAD,TAX,PTRATIO,B,LSTAT,MEDV\n";

const USAGE: &str = "usage: gen_data --rows N [--seed S] [--output PATH]
  --rows N       rows to write after the header; an integer or 1eK (1e7)
  --seed S       PRNG seed, default 1; same rows and seed give the same bytes
  --output PATH  file to write, default standard output";

/// Rows and seed, checked; `output` is `None` for standard output.
struct Args {
    rows: u64,
    seed: u64,
    output: Option<String>,
}

fn main() -> ExitCode {
    if std::env::args().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(msg) => {
            eprintln!("gen_data: {msg}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match &args.output {
        Some(path) => File::create(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))
            .and_then(|f| write_rows(f, args.rows, args.seed)),
        None => write_rows(io::stdout().lock(), args.rows, args.seed),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen_data: {e}");
            ExitCode::from(5)
        }
    }
}

fn parse_args(mut raw: impl Iterator<Item = String>) -> Result<Args, String> {
    let (mut rows, mut seed, mut output) = (None, 1, None);
    while let Some(flag) = raw.next() {
        let mut value = || raw.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--rows" => rows = Some(parse_count(&value()?).ok_or("--rows: expected 123 or 1e6")?),
            "--seed" => {
                seed = value()?
                    .parse()
                    .map_err(|_| "--seed: expected an integer")?;
            }
            "--output" => output = Some(value()?),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let rows = rows.ok_or("--rows is required")?;
    Ok(Args { rows, seed, output })
}

/// Reads `10000000` or `1e7`.
fn parse_count(text: &str) -> Option<u64> {
    match text.split_once(['e', 'E']) {
        None => text.parse().ok(),
        Some((mantissa, exp)) => mantissa
            .parse::<u64>()
            .ok()?
            .checked_mul(10u64.checked_pow(exp.parse().ok()?)?),
    }
}

/// Writes the header and `rows` rows; one reused line buffer, flushed through a `BufWriter`.
fn write_rows(out: impl Write, rows: u64, seed: u64) -> io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, out);
    out.write_all(HEADER.as_bytes())?;
    let mut rng = SplitMix64(seed);
    let mut line = Vec::with_capacity(128);
    for _ in 0..rows {
        line.clear();
        push_row(&mut line, &mut rng);
        out.write_all(&line)?;
    }
    out.flush()
}

/// Radial-highway index values of the real data with their counts out of 506 rows.
const RAD: [(u64, u64); 9] = [
    (1, 20),
    (2, 24),
    (3, 38),
    (4, 110),
    (5, 115),
    (6, 26),
    (7, 17),
    (8, 24),
    (24, 132),
];

/// Non-zero ZN values (in tenths) seen in the real data; 73% of its rows have ZN = 0.
const ZN_TENTHS: [u64; 25] = [
    125, 175, 180, 200, 210, 220, 250, 280, 300, 330, 340, 350, 400, 450, 525, 550, 600, 700, 750,
    800, 825, 850, 900, 950, 1000,
];

/// Appends one row. The real data's strongest structure is kept: the 26% of tracts with
/// RAD = 24 all have ZN 0, INDUS 18.10, TAX 666 and PTRATIO 20.2. MEDV is a rough linear
/// function of RM, LSTAT and PTRATIO plus noise, clipped to the real 5..50, so the file also
/// makes sense to train on.
fn push_row(line: &mut Vec<u8>, rng: &mut SplitMix64) {
    let rad = rng.weighted(&RAD);
    let urban = rad == 24;

    // CRIM spans five decades (0.006 to 89): pick a decade, then up to four significant digits.
    let crim = match rng.weighted(&[(0, 5), (1, 25), (2, 25), (3, 25), (4, 20)]) {
        0 => Fixed(rng.between(600, 999), 5),     // 0.006..0.00999
        1 => Fixed(rng.between(1_000, 9_999), 5), // 0.01..0.09999
        2 => Fixed(rng.between(1_000, 9_999), 4), // 0.1..0.9999
        3 => Fixed(rng.between(1_000, 9_999), 3), // 1..9.999
        _ => Fixed(rng.between(1_000, 8_898), 2), // 10..88.98
    };
    let zn = if urban || rng.chance(73) {
        0
    } else {
        ZN_TENTHS[rng.below(ZN_TENTHS.len() as u64) as usize]
    };
    let indus = if urban { 1810 } else { rng.between(46, 2774) };
    let chas = u64::from(rng.chance(7));
    let nox = 385.0 + (rng.unit() + rng.unit()) * 0.5 * 486.0; // triangular on 0.385..0.871
    let rm = (6.285 + rng.normal() * 0.70).clamp(3.561, 8.780);
    let age = 1000 - (971.0 * rng.unit() * rng.unit()) as u64; // skewed towards 100.0
    let dis = 1_130 + (11_000.0 * rng.unit() * rng.unit()) as u64; // skewed towards 1.130
    let tax = if urban { 666 } else { rng.between(187, 470) };
    let ptratio = if urban {
        202
    } else {
        126 + ((rng.unit() + rng.unit()) * 0.5 * 94.0) as u64
    };
    let b = match rng.weighted(&[(0, 25), (1, 65), (2, 10)]) {
        0 => 3_969,
        1 => rng.between(3_700, 3_969),
        _ => rng.between(3, 3_700),
    };
    let lstat = 17 + (362.0 * rng.unit().min(rng.unit())) as u64; // skewed towards 1.7
    let medv = 23.5 + 3.8 * rm - 0.6 * (lstat as f64 / 10.0) - 0.9 * (ptratio as f64 / 10.0)
        + 4.5 * rng.normal();

    let row = [
        crim,
        Fixed(zn, 1),
        Fixed(indus, 2),
        Fixed(chas, 0),
        Fixed(nox as u64, 3),
        Fixed((rm * 1000.0) as u64, 3),
        Fixed(age, 1),
        Fixed(dis, 3),
        Fixed(rad, 0),
        Fixed(tax, 0),
        Fixed(ptratio, 1),
        Fixed(b, 1),
        Fixed(lstat, 1),
        Fixed((medv.clamp(5.0, 50.0) * 10.0) as u64, 1),
    ];
    for (i, value) in row.iter().enumerate() {
        if i > 0 {
            line.push(b',');
        }
        value.push_to(line);
    }
    line.push(b'\n');
}

/// A decimal `units / 10^scale`, printed exactly.
#[derive(Clone, Copy)]
struct Fixed(u64, u32);

impl Fixed {
    /// Appends e.g. `Fixed(1810, 2)` as `18.1` and `Fixed(2100, 2)` as `21`, like the real file.
    /// Digits come out by constant division by 10 only, which the compiler turns into a
    /// multiply: a division by a run-time power of ten per field would halve the speed.
    fn push_to(self, line: &mut Vec<u8>) {
        let Fixed(mut units, scale) = self;
        let scale = scale as usize;
        let mut digits = [b'0'; 24];
        let mut start = digits.len();
        while units > 0 {
            start -= 1;
            digits[start] = b'0' + (units % 10) as u8;
            units /= 10;
        }
        // At least one digit before the point: 5 in units of 0.001 is 0.005.
        let start = start.min(digits.len() - scale - 1);
        let point = digits.len() - scale;
        let mut end = digits.len();
        while end > point && digits[end - 1] == b'0' {
            end -= 1;
        }
        line.extend_from_slice(&digits[start..point]);
        if end > point {
            line.push(b'.');
            line.extend_from_slice(&digits[point..end]);
        }
    }
}

/// splitmix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough for test data.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), from the top 53 bits.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in 0..n (Lemire's multiply-shift; the bias is far below what test data needs).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in low..=high.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// A value from `(value, weight)` pairs, in proportion to the weights.
    fn weighted(&mut self, table: &[(u64, u64)]) -> u64 {
        let mut pick = self.below(table.iter().map(|&(_, w)| w).sum());
        for &(value, weight) in table {
            if pick < weight {
                return value;
            }
            pick -= weight;
        }
        unreachable!("pick is below the sum of the weights")
    }

    /// Roughly standard normal: the Irwin-Hall sum of four uniforms, centred and scaled to
    /// variance 1 with no libm call (sqrt(3) is a constant).
    fn normal(&mut self) -> f64 {
        let sum = self.unit() + self.unit() + self.unit() + self.unit();
        (sum - 2.0) * 1.732_050_807_568_877_2
    }
}
