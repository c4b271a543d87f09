//! `score`'s plan: the command line checked as a whole, before anything is opened. Every usage
//! error of the command is decided here (exit 2), and a [`ScorePlan`] holds only values that
//! make sense together: the shard, the output paths with the shard's `{index}` filled in, and
//! how to treat bad rows.

use crate::cli::{OnError, ScoreArgs};
use crate::error::{Error, Result};
use crate::output::Format;
use crate::paths::Paths;
use crate::read::parquet::has_parquet_extension;
use crate::read::shard::Shard;
use crate::score::push::PushTarget;
use crate::store::compression::Compression;

/// How to score, apart from what and where.
#[derive(Debug, Clone)]
pub struct ScoreOptions {
    /// Output format.
    pub format: Format,
    /// Columns copied next to each prediction, in this order.
    pub id_columns: Vec<String>,
    /// Rows per matrix-vector product.
    pub batch_rows: usize,
    /// Worker threads; 1 scores on the calling thread.
    pub threads: usize,
    /// Bytes per block handed to a worker.
    pub block_size: usize,
}

/// A scoring run, checked.
#[derive(Debug, Clone)]
pub struct ScorePlan {
    /// The termination-log file the run's summary goes to, when there is one (checked
    /// against every input and output like them).
    pub termination_log: Option<String>,
    /// The input, as given (`-` for standard input).
    pub data: String,
    /// The model file.
    pub model: String,
    /// This process's shard, when sharding.
    pub shard: Option<Shard>,
    /// The predictions file, `{index}` filled in; `None` for standard output.
    pub output: Option<String>,
    /// Where rejected rows go under `--on-error skip`, `{index}` filled in; `None` for warnings.
    pub rejects: Option<String>,
    /// Whether bad rows are set aside (`--on-error skip`) rather than fail the run.
    pub skip: bool,
    /// Fail past this many rejected rows.
    pub max_errors: Option<u64>,
    /// Redo a shard whose output exists.
    pub overwrite: bool,
    /// How to score.
    pub options: ScoreOptions,
    /// Where to push the run's metrics (`--metrics-push`), with the group's job and shard.
    pub push: Option<PushTarget>,
}

/// The name of the output column of predictions, which an id column may not take.
const PREDICTION: &str = "prediction";

impl ScorePlan {
    /// Checks `args` (with the environment of an Indexed Job) and makes the plan.
    pub fn new(args: &ScoreArgs, block_size: usize) -> Result<ScorePlan> {
        let shard = shard_of(args)?;
        let push = args
            .metrics_push
            .as_deref()
            .map(|url| PushTarget::new(url, &args.metrics_job, shard.map(|s| s.index)))
            .transpose()?;
        if args.on_error == OnError::Fail && (args.rejects.is_some() || args.max_errors.is_some()) {
            return Err(Error::Usage(
                "--rejects and --max-errors apply only with --on-error skip".into(),
            ));
        }
        check_id_columns(&args.id_column)?;
        let to_stdout = matches!(args.output.as_deref(), None | Some("-"));
        if to_stdout && args.rejects.as_deref() == Some("-") {
            return Err(Error::Usage(
                "--rejects - would mix rejected rows into the predictions on standard output; \
                 give --rejects a file, or --output a file"
                    .into(),
            ));
        }
        // A shard writes its own files: `{index}` in their paths becomes its index.
        let for_shard = |flag: &str, path: &Option<String>| match (path, shard) {
            (Some(template), Some(shard)) => expand_output(flag, template, shard.index).map(Some),
            (Some(path), None) if path.contains("{index") => Err(Error::Usage(format!(
                "{flag} {path} has {{index}} but the run is not sharded: \
                 set --shard-count (or SHARD_COUNT) as the Indexed Job's completions"
            ))),
            (path, _) => Ok(path.clone()),
        };
        let output = for_shard("--output", &args.output)?;
        let rejects = for_shard("--rejects", &args.rejects)?;
        if let Some(path) = rejects.as_deref().filter(|p| has_parquet_extension(p)) {
            return Err(Error::Usage(format!(
                "--rejects {path}: rejected rows are written as CSV (line,reason,record); \
                 name the file .csv"
            )));
        }
        // An output named .parquet is Parquet, whatever --format says.
        let format = match output.as_deref() {
            Some(path) if has_parquet_extension(path) => Format::Parquet,
            _ => args.format,
        };
        // The termination log is written too (truncated) when it exists, so it is checked too.
        let termination_log = crate::score::report::termination_log();
        // Before anything is opened: no output may be an input or another output.
        Paths::new()
            .standard_output(to_stdout || rejects.as_deref() == Some("-"))
            .input("--data", args.data.as_str())
            .input("--model", args.model.as_str())
            .output(
                "--output",
                output.as_deref(),
                "write the predictions elsewhere",
            )
            .output(
                "--rejects",
                rejects.as_deref(),
                "write the rejected rows elsewhere",
            )
            .output(
                "the termination log",
                termination_log.as_deref(),
                "name another file for the run's summary",
            )
            .check()?;
        Ok(ScorePlan {
            termination_log,
            data: args.data.clone(),
            model: args.model.clone(),
            shard,
            output,
            rejects,
            skip: args.on_error == OnError::Skip,
            max_errors: args.max_errors,
            overwrite: args.overwrite,
            options: ScoreOptions {
                format,
                id_columns: args.id_column.clone(),
                batch_rows: args.batch_rows as usize,
                threads: args.threads.map_or_else(default_threads, |n| n as usize),
                block_size,
            },
            push,
        })
    }
}

/// Checks the id columns: none is `prediction`, and none is named twice (the output would
/// have two columns of one name).
fn check_id_columns(ids: &[String]) -> Result<()> {
    for (i, id) in ids.iter().enumerate() {
        if id == PREDICTION {
            return Err(Error::Usage(format!(
                "--id-column {PREDICTION} would give the output two columns named {PREDICTION}; \
                 rename the input column"
            )));
        }
        if id.is_empty() {
            return Err(Error::Usage(
                "--id-column has an empty name; give column names separated by commas".into(),
            ));
        }
        if ids[..i].contains(id) {
            return Err(Error::Usage(format!(
                "--id-column {id} is given twice; name each id column once"
            )));
        }
    }
    Ok(())
}

/// The threads to use when `--threads` is not given: the CPUs this process may use, which
/// honours a cgroup CPU quota such as a Pod's `limits.cpu`.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The sharding options, checked: `None` when not sharding.
fn shard_of(args: &ScoreArgs) -> Result<Option<Shard>> {
    let Some(count) = args.shard_count else {
        if args.shard_index.is_some() {
            return Err(Error::Usage(
                "--shard-index needs --shard-count (or SHARD_COUNT) to say how many shards there are".into(),
            ));
        }
        if let Ok(index) = std::env::var("JOB_COMPLETION_INDEX") {
            return Err(Error::Usage(format!(
                "JOB_COMPLETION_INDEX is {index:?} but SHARD_COUNT is not set: an Indexed Job's \
                 pods must be told how many shards there are (set SHARD_COUNT or --shard-count \
                 to the Job's completions)"
            )));
        }
        return Ok(None);
    };
    let index = match args.shard_index {
        Some(index) => index,
        None => match std::env::var("JOB_COMPLETION_INDEX") {
            Ok(text) => text.trim().parse().map_err(|_| {
                Error::Usage(format!("JOB_COMPLETION_INDEX must be a whole number, got {text:?}"))
            })?,
            Err(_) => {
                return Err(Error::Usage(format!(
                    "--shard-count {count} needs --shard-index (or JOB_COMPLETION_INDEX, as an Indexed Job sets it)"
                )))
            }
        },
    };
    let shard = Shard::new(index, count)?;
    if args.data == "-" {
        return Err(Error::Usage(
            "sharding cuts a file by byte ranges: --data must be a file, not standard input".into(),
        ));
    }
    if crate::store::is_url(&args.data) && !crate::store::is_prefix(&args.data) {
        if let Some(format) = Compression::of_path(&args.data) {
            return Err(Error::Usage(format!(
                "--shard-count cuts --data by byte ranges, but {data} is {format} compressed and \
                 cannot be cut: put the compressed objects under a prefix and give it, ending in \
                 / (the shards then split it by object), or decompress it first",
                data = args.data,
                format = format.name()
            )));
        }
    }
    if let Some(format) = Compression::of_file(&args.data) {
        return Err(Error::Usage(format!(
            "--shard-count cuts --data by byte ranges, but {data} is {format} compressed and \
             cannot be cut: shard by file instead (one compressed file per shard, each scored \
             without --shard-count), or decompress it first",
            data = args.data,
            format = format.name()
        )));
    }
    let paths = [
        ("--output", &args.output, "out/part-{index:05}.csv"),
        ("--rejects", &args.rejects, "out/rejects-{index:05}.csv"),
    ];
    for (flag, path, example) in paths {
        if let Some(path) = path.as_ref().filter(|p| count > 1 && !p.contains("{index")) {
            return Err(Error::Usage(format!(
                "{flag} {path} would be written by every shard: put {{index}} in it, such as {example}"
            )));
        }
    }
    Ok(Some(shard))
}

/// Fills `{index}` or `{index:0W}` (zero-padded to W digits) in the path given to `flag`.
fn expand_output(flag: &str, template: &str, index: u64) -> Result<String> {
    let Some(open) = template.find("{index") else {
        return Ok(template.to_string());
    };
    let close = template[open..]
        .find('}')
        .map(|i| open + i)
        .ok_or_else(|| Error::Usage(format!("{flag} {template}: unclosed {{index")))?;
    let spec = &template[open + "{index".len()..close];
    let text = match spec {
        "" => index.to_string(),
        _ => {
            let width = spec
                .strip_prefix(":0")
                .and_then(|w| w.parse::<usize>().ok())
                .filter(|&w| w <= 20)
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "{flag} {template}: write {{index}} or {{index:0W}}, such as {{index:05}}"
                    ))
                })?;
            format!("{index:0width$}")
        }
    };
    Ok(format!(
        "{}{text}{}",
        &template[..open],
        &template[close + 1..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_paths_take_the_index_plain_or_padded() {
        assert_eq!(
            expand_output("--output", "out/part-{index}.csv", 7).unwrap(),
            "out/part-7.csv"
        );
        assert_eq!(
            expand_output("--output", "out/part-{index:05}.csv", 7).unwrap(),
            "out/part-00007.csv"
        );
        assert_eq!(expand_output("--output", "p.csv", 7).unwrap(), "p.csv");
        assert_eq!(
            expand_output("--rejects", "r-{index:x}.csv", 7)
                .unwrap_err()
                .to_string(),
            "--rejects r-{index:x}.csv: write {index} or {index:0W}, such as {index:05}"
        );
    }
}
