//! `Workdir`: a fresh folder per test, the real binary, and failure messages that show the
//! command, its status, its stdout and its stderr.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository root, where the bundled model and data live.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A scratch folder for one test, holding a copy of the bundled model and data.
pub struct Workdir {
    dir: PathBuf,
}

impl Workdir {
    /// A fresh, empty folder named after the test.
    pub fn empty(name: &str) -> Workdir {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("it").join(name);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Workdir { dir }
    }

    /// A fresh folder with `model/` and `data/` copied from the repository, so the default
    /// command finds its defaults.
    pub fn new(name: &str) -> Workdir {
        let wd = Workdir::empty(name);
        for sub in ["model", "data"] {
            fs::create_dir_all(wd.dir.join(sub)).unwrap();
            for entry in fs::read_dir(repo().join(sub)).unwrap() {
                let path = entry.unwrap().path();
                fs::copy(&path, wd.dir.join(sub).join(path.file_name().unwrap())).unwrap();
            }
        }
        wd
    }

    /// The folder's path.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// Writes a file in the folder.
    pub fn create(&self, rel: &str, contents: impl AsRef<[u8]>) {
        let path = self.dir.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(path, contents).unwrap();
    }

    /// Writes `lines` to a file of the folder, each ended by `\n`.
    pub fn create_lines(&self, rel: &str, lines: &[String]) {
        self.create(rel, lines.join("\n") + "\n");
    }

    /// Reads a file of the folder as text.
    pub fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.dir.join(rel)).unwrap()
    }

    /// Makes the folder `rel` in the workdir.
    pub fn mkdir(&self, rel: &str) {
        fs::create_dir(self.dir.join(rel)).unwrap();
    }

    /// `inspect --json` of the model at `model` (the default model when `None`), parsed.
    pub fn inspect_json(&self, model: Option<&str>) -> serde_json::Value {
        let mut args = vec!["inspect", "--json"];
        args.extend(model.map(|m| ["--model", m]).into_iter().flatten());
        serde_json::from_str(&self.ok(&args).stdout()).unwrap()
    }

    /// The file names in a folder of the workdir, sorted.
    pub fn list(&self, rel: &str) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.dir.join(rel))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// The binary, run in this folder, with none of our environment variables inherited.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_batch_inference"));
        cmd.current_dir(&self.dir).args(args).stdin(Stdio::null());
        without_our_environment(&mut cmd);
        cmd
    }

    /// The binary, run in this folder as an unprivileged user, for tests of permissions: root
    /// reads and writes everything, so when the tests run as root the binary runs as nobody
    /// (65534) through util-linux's `setpriv`. The folder is readable by all, as made.
    pub fn command_unprivileged(&self, args: &[&str]) -> Command {
        if !is_root() {
            return self.command(args);
        }
        let mut cmd = Command::new("setpriv");
        cmd.current_dir(&self.dir)
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_batch_inference"))
            .args(args)
            .stdin(Stdio::null());
        without_our_environment(&mut cmd);
        cmd
    }

    /// Runs `cmd` and returns its output, whatever the status.
    pub fn output(&self, cmd: &mut Command) -> Run {
        Run {
            description: format!("{cmd:?}"),
            output: cmd.output().unwrap(),
        }
    }

    /// Runs the binary with `args`, asserting success.
    pub fn ok(&self, args: &[&str]) -> Run {
        let run = self.output(&mut self.command(args));
        run.assert_code(0);
        run
    }

    /// Runs the binary with `args`, asserting it exits with `code`.
    pub fn fails(&self, args: &[&str], code: i32) -> Run {
        let run = self.output(&mut self.command(args));
        run.assert_code(code);
        run
    }

    /// Runs the binary with `args` and `stdin` as standard input, asserting success.
    pub fn ok_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Run {
        use std::io::Write;
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        let run = Run {
            description: format!("{cmd:?} < (stdin)"),
            output: child.wait_with_output().unwrap(),
        };
        run.assert_code(0);
        run
    }
}

/// The outcome of one run of the binary.
pub struct Run {
    description: String,
    /// The process output.
    pub output: Output,
}

impl Run {
    /// Standard output as text.
    pub fn stdout(&self) -> String {
        String::from_utf8(self.output.stdout.clone()).unwrap()
    }

    /// Standard error as text.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Panics, showing everything, unless the exit code is `code`.
    pub fn assert_code(&self, code: i32) {
        if self.output.status.code() != Some(code) {
            panic!(
                "\ncommand: {}\nexpected exit code {code}, got {:?}\n--- stdout\n{}\n--- stderr\n{}\n",
                self.description,
                self.output.status,
                String::from_utf8_lossy(&self.output.stdout),
                self.stderr()
            );
        }
        assert!(
            !self.stderr().contains("panicked"),
            "the binary panicked:\n{}",
            self.stderr()
        );
    }

    /// The single error line (`batch_inference: error: …`) without its prefix.
    pub fn error(&self) -> String {
        let stderr = self.stderr();
        let line = stderr
            .lines()
            .find(|l| l.starts_with("batch_inference: error: "))
            .unwrap_or_else(|| panic!("no error line in stderr:\n{stderr}"));
        line["batch_inference: error: ".len()..].to_string()
    }
}

/// True when the tests run as root (the effective user of this process owns `/proc/self`).
pub fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    fs::metadata("/proc/self").unwrap().uid() == 0
}

/// SHA-256 of `bytes`, in lower-case hex, as the binary reports a model's digest.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("{:x}", Sha256::digest(bytes))
}

/// The termination-log summary a run wrote to `rel` in `wd`, as JSON.
pub fn termination_summary(wd: &Workdir, rel: &str) -> serde_json::Value {
    let text = wd.read(rel);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}: {text:?}"))
}

/// Reads a `prediction` CSV (as we or the scikit-learn fixture write it) into floats.
pub fn predictions(csv: &str) -> Vec<f64> {
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("prediction"), "header of:\n{csv}");
    lines.map(|l| l.parse().unwrap()).collect()
}

/// Asserts two vectors agree elementwise within `rel` relative error.
pub fn assert_close(ours: &[f64], reference: &[f64], rel: f64) {
    assert_eq!(ours.len(), reference.len(), "lengths differ");
    for (i, (a, b)) in ours.iter().zip(reference).enumerate() {
        let err = (a - b).abs() / b.abs().max(1e-300);
        assert!(
            err <= rel,
            "row {i}: {a} vs {b}, relative error {err:e} > {rel:e}"
        );
    }
}

/// The environment variables the binary reads (the clap `env` fallbacks and the Indexed Job's
/// index): a test must not inherit them from whoever runs `cargo test`.
const OUR_ENVIRONMENT: [&str; 9] = [
    "BATCH_INFERENCE_CPU",
    "MODEL_PATH",
    "DATA_PATH",
    "OUTPUT_PATH",
    "SHARD_COUNT",
    "JOB_COMPLETION_INDEX",
    "METRICS_PUSH_URL",
    "METRICS_JOB",
    "BATCH_INFERENCE_TERMINATION_LOG",
];

/// Clears [`OUR_ENVIRONMENT`] from `cmd`, for tests that run the binary through a shell.
pub fn without_our_environment(cmd: &mut Command) {
    for name in OUR_ENVIRONMENT {
        cmd.env_remove(name);
    }
}

/// The CSV file `rel` of the repository (such as data/test.csv) with its data rows repeated,
/// in order, to `rows` rows, under its header.
pub fn repeated_rows(rel: &str, rows: usize) -> String {
    let text = fs::read_to_string(repo().join(rel)).unwrap();
    let mut lines = text.lines();
    let mut out = format!("{}\n", lines.next().unwrap());
    for line in lines.cycle().take(rows) {
        out += line;
        out.push('\n');
    }
    out
}

/// `text`'s lines with cells replaced: `(line, field, value)`, line and field from 0.
pub fn with_cells(text: &str, cells: &[(usize, usize, &str)]) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    for &(line, field, value) in cells {
        let mut fields: Vec<&str> = lines[line].split(',').collect();
        fields[field] = value;
        lines[line] = fields.join(",");
    }
    lines
}

/// A JSON array of numbers as floats.
pub fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}
