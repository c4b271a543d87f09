//! A model given as a pipe: a FIFO, or a process substitution (`--model <(cat model.bin)`,
//! which names `/dev/fd/63`). Pipes have no length, so the model is read by its header's.

use std::process::Command;

use crate::util::{sha256_hex, termination_summary, without_our_environment, Workdir};

/// Makes a FIFO at `rel` in the workdir and writes `bytes` into it from a thread, once a
/// reader opens it; the thread ends when the reader has taken all of them or gone.
fn fifo_with(wd: &Workdir, rel: &str, bytes: Vec<u8>) -> std::thread::JoinHandle<()> {
    let path = wd.path(rel);
    let made = Command::new("mkfifo").arg(&path).status().unwrap();
    assert!(made.success(), "mkfifo {path:?}");
    std::thread::spawn(move || {
        use std::io::Write;
        // Opening for writing waits for the reader; a reader that stops early is fine.
        let mut fifo = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        let _ = fifo.write_all(&bytes);
    })
}

/// Runs the binary through bash with `args`, in which `$MODEL` is a process substitution
/// that prints the file `model` of the workdir.
fn with_substituted_model(wd: &Workdir, model: &str, args: &str) -> crate::util::Run {
    let script = format!(
        r#"exec "$0" {} "#,
        args.replace("$MODEL", &format!("<(cat {model})"))
    );
    let mut cmd = Command::new("bash");
    cmd.current_dir(wd.path("."))
        .args(["-c", &script])
        .arg(env!("CARGO_BIN_EXE_batch_inference"));
    without_our_environment(&mut cmd);
    wd.output(&mut cmd)
}

#[test]
fn a_model_from_a_fifo_scores_as_the_file_does() {
    let wd = Workdir::new("model_fifo");
    let expected = wd.ok(&["-q"]).output.stdout;
    let model = std::fs::read(wd.path("model/model.bin")).unwrap();
    let writer = fifo_with(&wd, "model.fifo", model);
    let run = wd.ok(&["--model", "model.fifo", "-q"]);
    writer.join().unwrap();
    assert_eq!(run.output.stdout, expected);
}

#[test]
fn a_model_from_a_fifo_is_reported_by_the_digest_of_the_bytes_read_from_it() {
    // The digest is of the bytes the model was decoded from: a pipe cannot be read twice, so
    // a digest made by reading the model again had none to report.
    let wd = Workdir::new("model_fifo_digest");
    wd.create("termination-log", "");
    let model = std::fs::read(wd.path("model/model.bin")).unwrap();
    let expected = sha256_hex(&model);
    let writer = fifo_with(&wd, "model.fifo", model);
    let mut cmd = wd.command(&["--model", "model.fifo", "-q"]);
    cmd.env(
        "BATCH_INFERENCE_TERMINATION_LOG",
        wd.path("termination-log"),
    );
    let run = wd.output(&mut cmd);
    writer.join().unwrap();
    run.assert_code(0);
    let summary = termination_summary(&wd, "termination-log");
    assert_eq!(summary["model_sha256"], expected.as_str());
}

#[test]
fn a_model_from_a_process_substitution_scores_and_inspects_as_the_file_does() {
    let wd = Workdir::new("model_substitution");
    let expected = wd.ok(&["-q"]).output.stdout;
    let run = with_substituted_model(&wd, "model/model.bin", "--model $MODEL -q");
    run.assert_code(0);
    assert_eq!(run.output.stdout, expected);
    let inspected = with_substituted_model(&wd, "model/model.bin", "inspect --model $MODEL");
    inspected.assert_code(0);
    assert!(
        inspected.stdout().starts_with("model:          /dev/fd/"),
        "{}",
        inspected.stdout()
    );
    assert!(inspected.stdout().contains("features:       13\n"));
}

#[test]
fn a_truncated_model_from_a_pipe_is_named_truncated() {
    let wd = Workdir::new("model_fifo_truncated");
    let model = std::fs::read(wd.path("model/model.bin")).unwrap();
    let payload = model.len() - 52;
    let writer = fifo_with(&wd, "model.fifo", model[..model.len() - 10].to_vec());
    let run = wd.fails(&["--model", "model.fifo"], 4);
    writer.join().unwrap();
    assert_eq!(
        run.error(),
        format!(
            "model.fifo: invalid model file: truncated: the header promises {payload} payload \
             bytes, the file has {}",
            payload - 10
        )
    );
}

#[test]
fn a_model_from_a_pipe_with_bytes_after_it_is_refused_with_their_count() {
    let wd = Workdir::new("model_fifo_trailing");
    let mut model = std::fs::read(wd.path("model/model.bin")).unwrap();
    model.extend_from_slice(&[0; 100_000]);
    let writer = fifo_with(&wd, "model.fifo", model);
    let run = wd.fails(&["--model", "model.fifo"], 4);
    writer.join().unwrap();
    assert_eq!(
        run.error(),
        "model.fifo: invalid model file: 100000 unexpected bytes after the payload"
    );
}

#[test]
fn an_empty_pipe_is_an_empty_model() {
    let wd = Workdir::new("model_substitution_empty");
    let run = with_substituted_model(&wd, "/dev/null", "--model $MODEL");
    run.assert_code(4);
    let error = run.error();
    assert!(
        error.starts_with("/dev/fd/") && error.ends_with(": invalid model file: the file is empty"),
        "{error}"
    );
}

#[test]
fn a_pipe_that_announces_a_huge_payload_is_refused_before_reading_it() {
    let wd = Workdir::new("model_fifo_huge");
    let mut model = std::fs::read(wd.path("model/model.bin")).unwrap();
    model[12..20].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let writer = fifo_with(&wd, "model.fifo", model);
    let run = wd.fails(&["--model", "model.fifo"], 4);
    writer.join().unwrap();
    assert_eq!(
        run.error(),
        "model.fifo: invalid model file: the header claims a 1099511627776-byte payload, over \
         the 67108864-byte limit"
    );
}
