//! Which line reader reads lines of plain numbers: the AVX-512 one where the CPU runs it, else
//! the AVX2 one where the CPU runs that (measured faster than the scalar readers on an AMD EPYC:
//! benches/RESULTS.md), the scalar readers elsewhere, or the one the environment variable
//! `BATCH_INFERENCE_CPU` names. The variable exists to measure and test a slower reader on a
//! faster CPU (an AVX-512 machine standing in for an AVX2 one); it is read once per process,
//! and a reader the CPU cannot run is refused as a usage error rather than quietly replaced.
//! Every reader gives the same values and errors, so the choice changes speed, never output.

use std::sync::OnceLock;

use crate::error::{Error, Result};

/// The environment variable that forces a line reader.
pub const CPU_VARIABLE: &str = "BATCH_INFERENCE_CPU";

/// A reader of lines of plain numbers, by the instructions it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineReader {
    /// The one-pass and field-by-field readers of [`crate::read::plain`], on any CPU.
    Scalar,
    /// [`crate::read::avx2`]: AVX2 masks, BMI bit walks and eight digits per multiply.
    Avx2,
    /// [`crate::read::vector`]: whole lines in two AVX-512 registers.
    Avx512,
}

impl LineReader {
    /// Every reader, slowest first.
    pub const ALL: [LineReader; 3] = [LineReader::Scalar, LineReader::Avx2, LineReader::Avx512];

    /// The reader's name, as `BATCH_INFERENCE_CPU` takes it.
    pub fn name(self) -> &'static str {
        match self {
            LineReader::Scalar => "scalar",
            LineReader::Avx2 => "avx2",
            LineReader::Avx512 => "avx512",
        }
    }

    /// The CPU features the reader needs (each `#[target_feature]` list of its file repeats
    /// them, as the attribute takes only a literal).
    pub fn features(self) -> &'static [&'static str] {
        match self {
            LineReader::Scalar => &[],
            LineReader::Avx2 => &["avx2", "bmi1", "bmi2", "popcnt"],
            LineReader::Avx512 => &[
                "avx512f",
                "avx512bw",
                "avx512dq",
                "avx512vl",
                "avx512vbmi",
                "avx512vbmi2",
                "popcnt",
                "bmi1",
            ],
        }
    }

    /// Whether this CPU has every feature the reader needs.
    pub fn runs_here(self) -> bool {
        self.features().iter().all(|&feature| has_feature(feature))
    }
}

#[cfg(target_arch = "x86_64")]
fn has_feature(feature: &str) -> bool {
    use std::arch::is_x86_feature_detected as has;
    match feature {
        "avx2" => has!("avx2"),
        "bmi1" => has!("bmi1"),
        "bmi2" => has!("bmi2"),
        "popcnt" => has!("popcnt"),
        "avx512f" => has!("avx512f"),
        "avx512bw" => has!("avx512bw"),
        "avx512dq" => has!("avx512dq"),
        "avx512vl" => has!("avx512vl"),
        "avx512vbmi" => has!("avx512vbmi"),
        "avx512vbmi2" => has!("avx512vbmi2"),
        _ => false,
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn has_feature(_feature: &str) -> bool {
    false
}

/// The readers this CPU can run, slowest first (the scalar one always).
pub fn runnable() -> Vec<LineReader> {
    LineReader::ALL
        .into_iter()
        .filter(|reader| reader.runs_here())
        .collect()
}

/// The reader `value` (the variable's value, if set) asks for among `runnable`, or when it is
/// unset or empty the default: the fastest runnable one (AVX-512, then AVX2, then scalar); a
/// message for a name that is no reader or a reader not in `runnable`.
pub fn choose(
    value: Option<&str>,
    runnable: &[LineReader],
) -> std::result::Result<LineReader, String> {
    // `ALL` is slowest first.
    let default = LineReader::ALL
        .into_iter()
        .rev()
        .find(|r| runnable.contains(r))
        .unwrap_or(LineReader::Scalar);
    let value = match value.map(str::trim) {
        None | Some("") => return Ok(default),
        Some(value) => value,
    };
    let names = || {
        let names: Vec<&str> = runnable.iter().map(|r| r.name()).collect();
        names.join(", ")
    };
    let Some(reader) = LineReader::ALL
        .into_iter()
        .find(|r| r.name().eq_ignore_ascii_case(value))
    else {
        return Err(format!(
            "{CPU_VARIABLE}={value:?} names no line reader: use one of {}, or unset it to let \
             the CPU choose",
            names()
        ));
    };
    if !runnable.contains(&reader) {
        return Err(format!(
            "{CPU_VARIABLE}={value}: this CPU cannot run the {} line reader (it needs {}): use \
             one of {}, or unset it to let the CPU choose",
            reader.name(),
            reader.features().join(", "),
            names()
        ));
    }
    Ok(reader)
}

/// The reader for this process: [`choose`] over `BATCH_INFERENCE_CPU` and [`runnable`], decided
/// once.
pub fn chosen() -> Result<LineReader> {
    static CHOSEN: OnceLock<std::result::Result<LineReader, String>> = OnceLock::new();
    let value = CHOSEN.get_or_init(|| {
        let value = std::env::var_os(CPU_VARIABLE);
        let value = value.as_ref().map(|v| v.to_string_lossy());
        choose(value.as_deref(), &runnable())
    });
    value.clone().map_err(Error::Usage)
}

#[cfg(test)]
mod tests {
    use super::*;
    use LineReader::{Avx2, Avx512, Scalar};

    #[test]
    fn the_fastest_runnable_reader_is_chosen_when_the_variable_is_unset_or_empty() {
        assert_eq!(choose(None, &[Scalar, Avx2, Avx512]), Ok(Avx512));
        assert_eq!(choose(None, &[Scalar, Avx2]), Ok(Avx2));
        assert_eq!(choose(Some(" "), &[Scalar, Avx2]), Ok(Avx2));
        assert_eq!(choose(Some(""), &[Scalar]), Ok(Scalar));
    }

    #[test]
    fn a_named_reader_the_cpu_runs_is_chosen_even_if_slower() {
        assert_eq!(choose(Some("avx2"), &[Scalar, Avx2, Avx512]), Ok(Avx2));
        assert_eq!(
            choose(Some(" SCALAR "), &[Scalar, Avx2, Avx512]),
            Ok(Scalar)
        );
    }

    #[test]
    fn a_reader_the_cpu_cannot_run_is_refused_with_the_features_it_lacks() {
        assert_eq!(
            choose(Some("avx512"), &[Scalar, Avx2]),
            Err(
                "BATCH_INFERENCE_CPU=avx512: this CPU cannot run the avx512 line reader (it \
                 needs avx512f, avx512bw, avx512dq, avx512vl, avx512vbmi, avx512vbmi2, popcnt, \
                 bmi1): use one of scalar, avx2, or unset it to let the CPU choose"
                    .into()
            )
        );
    }

    #[test]
    fn an_unknown_name_is_refused() {
        assert_eq!(
            choose(Some("sse4"), &[Scalar]),
            Err(
                "BATCH_INFERENCE_CPU=\"sse4\" names no line reader: use one of scalar, or unset \
                 it to let the CPU choose"
                    .into()
            )
        );
    }

    #[test]
    fn the_scalar_reader_runs_everywhere_and_the_list_is_ordered() {
        let readers = runnable();
        assert_eq!(readers[0], Scalar);
        let order = |r: &LineReader| LineReader::ALL.iter().position(|a| a == r);
        assert!(readers.windows(2).all(|w| order(&w[0]) < order(&w[1])));
    }
}
