//! Logs on standard error, as plain lines or JSON objects, so standard output carries nothing
//! but predictions. Long runs get a progress line every few seconds (a bar on a terminal).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::ValueEnum;
use serde_json::{json, Value};

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Plain lines for people.
    Text,
    /// One JSON object per line for log collectors: `{"ts":…,"level":"info","msg":…}`.
    Json,
}

/// Writes log lines to standard error, unless quiet.
#[derive(Debug, Clone, Copy)]
pub struct Logger {
    quiet: bool,
    format: LogFormat,
}

impl Logger {
    /// A logger; `quiet` silences everything but errors.
    pub fn new(quiet: bool, format: LogFormat) -> Logger {
        Logger { quiet, format }
    }

    /// Logs an informational line.
    pub fn info(&self, msg: &str) {
        self.event("info", msg, Value::Null);
    }

    /// Logs a warning: the run goes on, but its result deserves a look.
    pub fn warn(&self, msg: &str) {
        if self.quiet {
            return;
        }
        match self.format {
            LogFormat::Text => eprintln!("batch_inference: warning: {msg}"),
            LogFormat::Json => eprintln!("{}", record("warn", msg, Value::Null)),
        }
    }

    /// Logs an error line; errors are shown even when quiet.
    pub fn error(&self, msg: &str) {
        match self.format {
            LogFormat::Text => eprintln!("batch_inference: error: {msg}"),
            LogFormat::Json => eprintln!("{}", record("error", msg, Value::Null)),
        }
    }

    /// Logs the closing line of a scoring run.
    pub fn summary(&self, rows: u64, elapsed: Duration, input: &str, output: Option<&str>) {
        let secs = elapsed.as_secs_f64();
        let rate = if secs > 0.0 { rows as f64 / secs } else { 0.0 };
        let output = output.unwrap_or("<stdout>");
        let msg = format!(
            "Scored {rows} rows in {secs:.3} s ({rate:.0} rows/s) from {input} to {output}"
        );
        let fields = json!({"rows": rows, "seconds": secs, "rows_per_second": rate.round(), "input": input, "output": output});
        self.event("info", &msg, fields);
    }

    /// A progress reporter for a run over `total_bytes` of input (unknown for standard input).
    pub fn progress(&self, total_bytes: Option<u64>) -> Progress {
        Progress {
            logger: *self,
            total_bytes,
            started: Instant::now(),
            last: Instant::now(),
            bar: !self.quiet && self.format == LogFormat::Text && std::io::stderr().is_terminal(),
            drawn: false,
        }
    }

    fn event(&self, level: &str, msg: &str, fields: Value) {
        if self.quiet {
            return;
        }
        match self.format {
            LogFormat::Text => eprintln!("{msg}"),
            LogFormat::Json => eprintln!("{}", record(level, msg, fields)),
        }
    }
}

fn record(level: &str, msg: &str, fields: Value) -> Value {
    let mut line = json!({"ts": utc_timestamp(SystemTime::now()), "level": level, "msg": msg});
    if let (Value::Object(line), Value::Object(fields)) = (&mut line, fields) {
        line.extend(fields);
    }
    line
}

/// Reports progress at most every few seconds; a bar redrawn in place on a terminal.
pub struct Progress {
    logger: Logger,
    total_bytes: Option<u64>,
    started: Instant,
    last: Instant,
    bar: bool,
    drawn: bool,
}

impl Progress {
    const EVERY: Duration = Duration::from_secs(5);
    const BAR_EVERY: Duration = Duration::from_millis(200);

    /// Called after each batch with the rows done and the input bytes consumed.
    pub fn update(&mut self, rows: u64, bytes: u64) {
        let every = if self.bar {
            Self::BAR_EVERY
        } else {
            Self::EVERY
        };
        if self.logger.quiet || self.last.elapsed() < every {
            return;
        }
        self.last = Instant::now();
        let secs = self.started.elapsed().as_secs_f64();
        let rate = rows as f64 / secs;
        let fraction = self
            .total_bytes
            .filter(|&t| t > 0)
            .map(|t| (bytes as f64 / t as f64).min(1.0));
        if self.bar {
            let width = 30;
            let filled = fraction.map_or(0, |f| (f * width as f64) as usize);
            let percent = fraction.map_or(String::new(), |f| format!(" {:3.0}%", f * 100.0));
            eprint!(
                "\r[{}{}]{percent} {rows} rows, {rate:.0} rows/s ",
                "#".repeat(filled),
                " ".repeat(width - filled)
            );
            let _ = std::io::stderr().flush();
            self.drawn = true;
        } else {
            let percent = fraction.map_or(String::new(), |f| format!(" ({:.0}%)", f * 100.0));
            let msg = format!("Scored {rows} rows{percent} in {secs:.1} s ({rate:.0} rows/s)");
            let fields = json!({"rows": rows, "seconds": secs, "fraction": fraction});
            self.logger.event("info", &msg, fields);
        }
    }

    /// Ends the bar's line, if one was drawn.
    pub fn finish(&mut self) {
        if self.drawn {
            eprintln!();
            self.drawn = false;
        }
    }
}

/// `SystemTime` as an RFC 3339 UTC timestamp with whole seconds: `2026-11-29T02:10:00Z`.
pub fn utc_timestamp(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm), exact for the proleptic Gregorian calendar.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(utc_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let leap_day = UNIX_EPOCH + Duration::from_secs(951_782_400 + 3_661);
        assert_eq!(utc_timestamp(leap_day), "2000-02-29T01:01:01Z");
        let later = UNIX_EPOCH + Duration::from_secs(1_795_830_000);
        assert_eq!(utc_timestamp(later), "2026-11-28T01:40:00Z");
    }
}
