//! Helpers for the unit tests: a small deterministic random generator and a model.

use crate::model::{Algorithm, FitMetrics, ModelFile, Solver};

/// splitmix64: a small, fast, deterministic generator for property tests.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability 1/`n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

/// An OLS model over `features` with these coefficients and intercept.
pub fn model(features: &[&str], coefficients: &[f64], intercept: f64) -> ModelFile {
    ModelFile {
        algorithm: Algorithm::Ols,
        standardize: false,
        solver: Solver::Qr,
        target: "y".into(),
        features: features.iter().map(|f| f.to_string()).collect(),
        coefficients: coefficients.to_vec(),
        intercept,
        train: FitMetrics {
            rows: 3,
            mse: 0.0,
            r2: 1.0,
        },
        holdout: None,
        cv: None,
        training_sha256: "00".into(),
        source: None,
        trees: None,
    }
}

/// A CSV file with columns `id,a,b,note` and up to `rows` rows, whose `note` cells are plain,
/// quoted (holding commas, escaped quotes and line breaks), or text with a quote inside
/// (`5" pipe`), with LF, CRLF or CR line ends and empty lines; every record is shorter than 64
/// bytes.
pub fn quoted_csv(rng: &mut Rng, rows: u64) -> String {
    let eol = ["\n", "\r\n", "\r"][rng.below(3) as usize];
    let mut text = format!("id,a,b,note{eol}");
    for r in 0..rng.below(rows + 1) {
        if rng.one_in(8) {
            text += eol;
        }
        let note = match rng.below(6) {
            0 => "plain",
            1 => "\"a, \"\"quoted\"\"\nnote\"",
            2 => "5\" pipe",
            3 => "\"two\r\nlines, \"\"x\"\"\"",
            4 => "\"\"",
            _ => "",
        };
        text += &format!("r{r},{},{}.5,{note}{eol}", rng.below(100), rng.below(10));
    }
    if rng.one_in(3) {
        text.truncate(text.len() - eol.len());
    }
    text
}

/// Writes `bytes` to a fresh file named `name` in a scratch folder of `group`, and returns its
/// path.
pub fn scratch_file(group: &str, name: &str, bytes: &[u8]) -> String {
    let dir = std::env::temp_dir().join(format!("bi-{group}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_string_lossy().into_owned()
}
