//! Outputs and where they lead: an output that is an input or another output (however the
//! path is spelled) is refused before anything is touched; descriptors, FIFOs and devices are
//! written through, never replaced; a replaced file keeps its permission bits.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::process::Command;

use crate::util::{repeated_rows, Run, Workdir};

/// Runs `script` with `bash -c` in the workdir, the binary as `$0`.
fn sh(wd: &Workdir, script: &str) -> Run {
    let mut cmd = Command::new("bash");
    cmd.current_dir(wd.path("."))
        .args(["-c", script])
        .arg(env!("CARGO_BIN_EXE_batch_inference"));
    crate::util::without_our_environment(&mut cmd);
    wd.output(&mut cmd)
}

/// The bytes of each file, to show afterwards that a refused run touched none of them.
fn snapshot(wd: &Workdir, rels: &[&str]) -> Vec<Vec<u8>> {
    rels.iter()
        .map(|rel| fs::read(wd.path(rel)).unwrap())
        .collect()
}

/// Runs `args`, which must be refused with exit 2 and `message`, leaving `kept` as they were
/// and the workdir's top folder with the same entries.
fn refused(wd: &Workdir, args: &[&str], message: &str, kept: &[&str]) {
    let before = snapshot(wd, kept);
    let listed = wd.list(".");
    let run = wd.fails(args, 2);
    assert_eq!(run.error(), message);
    assert_eq!(
        run.stderr().lines().count(),
        1,
        "nothing but the error: {}",
        run.stderr()
    );
    assert!(snapshot(wd, kept) == before, "an input was touched");
    assert_eq!(wd.list("."), listed, "a file was made or removed");
}

// Data loss through path aliasing.

#[test]
fn predictions_over_the_data_they_are_read_from_are_refused() {
    let wd = Workdir::new("alias_output_data");
    wd.create("d.csv", fs::read(wd.path("data/test.csv")).unwrap());
    refused(
        &wd,
        &["--data", "d.csv", "--output", "./d.csv"],
        "--output ./d.csv is the same file as --data d.csv: it would be destroyed; write the predictions elsewhere",
        &["d.csv"],
    );
}

#[test]
fn an_output_reached_through_a_parent_folder_is_the_same_file() {
    let wd = Workdir::new("alias_parent");
    refused(
        &wd,
        &["--data", "data/test.csv", "--output", "../alias_parent/data/test.csv"],
        "--output ../alias_parent/data/test.csv is the same file as --data data/test.csv: it would be destroyed; write the predictions elsewhere",
        &["data/test.csv"],
    );
}

#[test]
fn an_output_that_is_a_hard_link_to_the_data_is_refused() {
    let wd = Workdir::new("alias_hard_link");
    fs::hard_link(wd.path("data/test.csv"), wd.path("linked.csv")).unwrap();
    refused(
        &wd,
        &["--data", "data/test.csv", "--output", "linked.csv"],
        "--output linked.csv is the same file as --data data/test.csv: it would be destroyed; write the predictions elsewhere",
        &["data/test.csv"],
    );
}

#[test]
fn an_output_that_is_a_symbolic_link_to_the_data_is_refused() {
    let wd = Workdir::new("alias_symlink");
    symlink("data/test.csv", wd.path("link.csv")).unwrap();
    refused(
        &wd,
        &["--data", "data/test.csv", "--output", "link.csv"],
        "--output link.csv is the same file as --data data/test.csv: it would be destroyed; write the predictions elsewhere",
        &["data/test.csv"],
    );
    assert!(fs::symlink_metadata(wd.path("link.csv"))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn data_read_through_a_symbolic_link_to_a_folder_is_still_the_data() {
    let wd = Workdir::new("alias_folder_link");
    symlink("data", wd.path("d")).unwrap();
    refused(
        &wd,
        &["--data", "d/test.csv", "--output", "data/test.csv"],
        "--output data/test.csv is the same file as --data d/test.csv: it would be destroyed; write the predictions elsewhere",
        &["data/test.csv"],
    );
}

#[test]
fn rejects_and_predictions_in_one_file_are_refused() {
    let wd = Workdir::new("alias_rejects_output");
    refused(
        &wd,
        &[
            "--on-error",
            "skip",
            "--rejects",
            "o.csv",
            "--output",
            "o.csv",
        ],
        "--rejects o.csv is the same file as --output o.csv: one would overwrite the other; write the rejected rows elsewhere",
        &["data/test.csv"],
    );
    assert!(!wd.path("o.csv").exists());
}

#[test]
fn two_outputs_that_meet_through_a_linked_folder_are_refused() {
    let wd = Workdir::new("alias_two_outputs");
    wd.mkdir("out");
    symlink("out", wd.path("also")).unwrap();
    refused(
        &wd,
        &[
            "--on-error",
            "skip",
            "--output",
            "out/p.csv",
            "--rejects",
            "also/p.csv",
        ],
        "--rejects also/p.csv is the same file as --output out/p.csv: one would overwrite the other; write the rejected rows elsewhere",
        &["data/test.csv"],
    );
    assert!(wd.list("out").is_empty());
}

#[test]
fn rejects_over_the_data_are_refused() {
    let wd = Workdir::new("alias_rejects_data");
    refused(
        &wd,
        &["--on-error", "skip", "--rejects", "data/test.csv"],
        "--rejects data/test.csv is the same file as --data data/test.csv: it would be destroyed; write the rejected rows elsewhere",
        &["data/test.csv"],
    );
}

#[test]
fn predictions_over_the_model_are_refused() {
    let wd = Workdir::new("alias_model_output");
    refused(
        &wd,
        &["--output", "model/./model.bin"],
        "--output model/./model.bin is the same file as --model model/model.bin: it would be destroyed; write the predictions elsewhere",
        &["model/model.bin", "data/test.csv"],
    );
}

#[test]
fn a_shard_whose_expanded_output_is_the_data_is_refused() {
    let wd = Workdir::new("alias_shard");
    wd.create("part-1.csv", fs::read(wd.path("data/test.csv")).unwrap());
    refused(
        &wd,
        &[
            "--data",
            "part-1.csv",
            "--shard-count",
            "2",
            "--shard-index",
            "1",
            "--output",
            "part-{index}.csv",
            "--overwrite",
        ],
        "--output part-1.csv is the same file as --data part-1.csv: it would be destroyed; write the predictions elsewhere",
        &["part-1.csv"],
    );
}

#[test]
fn a_model_named_metadata_json_is_refused() {
    let wd = Workdir::new("alias_train_metadata");
    let model = snapshot(&wd, &["model/model.bin", "model/metadata.json"]);
    refused(
        &wd,
        &[
            "train",
            "--data",
            "data/train.csv",
            "--target",
            "MEDV",
            "--out",
            "model/metadata.json",
        ],
        "--out model/metadata.json: metadata.json is the name of the metadata written beside the model; name the model otherwise, such as model.bin",
        &["data/train.csv"],
    );
    assert!(snapshot(&wd, &["model/model.bin", "model/metadata.json"]) == model);
}

#[test]
fn a_model_over_its_training_data_is_refused() {
    let wd = Workdir::new("alias_train_data");
    wd.create("train.csv", fs::read(wd.path("data/train.csv")).unwrap());
    refused(
        &wd,
        &[
            "train",
            "--data",
            "train.csv",
            "--target",
            "MEDV",
            "--out",
            "train.csv",
        ],
        "--out train.csv is the same file as --data train.csv: it would be destroyed; write the model elsewhere",
        &["train.csv"],
    );
    assert!(!wd.path("metadata.json").exists());
}

#[test]
fn metadata_over_the_holdout_is_refused() {
    let wd = Workdir::new("alias_train_holdout");
    wd.mkdir("h");
    wd.create(
        "h/metadata.json",
        fs::read(wd.path("data/test.csv")).unwrap(),
    );
    refused(
        &wd,
        &[
            "train",
            "--data",
            "data/train.csv",
            "--target",
            "MEDV",
            "--holdout",
            "h/metadata.json",
            "--out",
            "h/m.bin",
        ],
        "--out's metadata h/metadata.json is the same file as --holdout h/metadata.json: it would be destroyed; write the model to another folder",
        &["h/metadata.json", "data/train.csv"],
    );
    assert_eq!(wd.list("h"), ["metadata.json"]);
}

#[test]
fn a_model_over_the_holdout_through_a_link_is_refused() {
    let wd = Workdir::new("alias_train_holdout_link");
    symlink("data/test.csv", wd.path("holdout.csv")).unwrap();
    refused(
        &wd,
        &[
            "train",
            "--data",
            "data/train.csv",
            "--target",
            "MEDV",
            "--holdout",
            "holdout.csv",
            "--out",
            "data/test.csv",
        ],
        "--out data/test.csv is the same file as --holdout holdout.csv: it would be destroyed; write the model elsewhere",
        &["data/test.csv", "data/train.csv"],
    );
}

#[test]
fn streams_and_devices_alias_nothing() {
    let wd = Workdir::new("alias_streams");
    let expected = wd.ok(&[]).output.stdout;
    // Standard output by name while reading a file, and rejects to standard error's device.
    let run = wd.ok(&[
        "--output",
        "/dev/stdout",
        "--on-error",
        "skip",
        "--rejects",
        "/dev/null",
    ]);
    assert_eq!(run.output.stdout, expected);
    let run = wd.ok_with_stdin(
        &["--data", "-", "--output", "-"],
        &fs::read(wd.path("data/test.csv")).unwrap(),
    );
    assert_eq!(run.output.stdout, expected);
}

// Writing to something that is not a regular file.

#[test]
fn standard_output_by_name_appends_to_what_it_appends_to() {
    let wd = Workdir::new("through_append");
    let expected = wd.ok(&[]).stdout();
    let run = sh(
        &wd,
        r#"echo start > a.log; "$0" --quiet --output /dev/stdout >> a.log; echo "exit $?""#,
    );
    assert_eq!(run.stdout(), "exit 0\n");
    assert_eq!(wd.read("a.log"), format!("start\n{expected}"));
    // `>` truncates once, as the shell opens it; and a descriptor other than 1 works alike.
    let run = sh(
        &wd,
        r#"echo old > b.log; echo start > c.log
           "$0" --quiet --output /dev/fd/3 3>> c.log > b.log; echo "exit $?""#,
    );
    assert_eq!(run.stdout(), "exit 0\n");
    assert_eq!(wd.read("b.log"), "");
    assert_eq!(wd.read("c.log"), format!("start\n{expected}"));
}

#[test]
fn a_model_written_to_a_link_to_standard_output_appends_and_keeps_the_link() {
    let wd = Workdir::new("through_train_link");
    let train = [
        "train",
        "--quiet",
        "--data",
        "data/train.csv",
        "--target",
        "MEDV",
    ];
    wd.ok(&[&train[..], &["--out", "m.bin"]].concat());
    let model = fs::read(wd.path("m.bin")).unwrap();
    symlink("/proc/self/fd/1", wd.path("out")).unwrap();
    let run = sh(
        &wd,
        r#"echo start > m.log; "$0" train --quiet --data data/train.csv --target MEDV --out out >> m.log; echo "exit $?""#,
    );
    assert_eq!(run.stdout(), "exit 0\n");
    assert_eq!(
        fs::read(wd.path("m.log")).unwrap(),
        [b"start\n", &model[..]].concat()
    );
    assert!(fs::symlink_metadata(wd.path("out"))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn a_fifo_whose_reader_goes_away_fails_the_run() {
    let wd = Workdir::new("through_fifo");
    wd.create("big.csv", repeated_rows("data/test.csv", 200_000));
    // Every row rejected, for rejects enough to fill the FIFO.
    let bad = repeated_rows("data/test.csv", 50_000).replace(",0,", ",x,");
    wd.create("bad.csv", bad);
    let run = sh(
        &wd,
        r#"mkfifo p.fifo r.fifo || exit 99
           head -c 10 p.fifo > /dev/null &
           "$0" --quiet --data big.csv --output p.fifo; echo "exit $?"
           wait
           head -c 10 r.fifo > /dev/null &
           "$0" --quiet --data bad.csv --output p.csv --on-error skip --rejects r.fifo
           echo "exit $?""#,
    );
    assert_eq!(run.stdout(), "exit 5\nexit 5\n");
    assert_eq!(
        run.stderr(),
        "batch_inference: error: the reader of p.fifo went away\n\
         batch_inference: error: the reader of r.fifo went away\n"
    );
    assert_eq!(
        wd.list("."),
        ["bad.csv", "big.csv", "data", "model", "p.fifo", "r.fifo"]
    );
}

#[test]
fn standard_output_by_name_into_head_ends_quietly() {
    let wd = Workdir::new("through_head");
    wd.create("big.csv", repeated_rows("data/test.csv", 200_000));
    let run = sh(
        &wd,
        r#"set -o pipefail; "$0" --data big.csv --output /dev/stdout | head -n 2; echo "exit $?""#,
    );
    assert_eq!(run.stdout(), "prediction\n15.645324277500755\nexit 0\n");
    assert!(!run.stderr().contains("error"), "{}", run.stderr());
}

#[test]
fn a_closed_standard_output_is_an_error() {
    let wd = Workdir::new("through_closed");
    let run = sh(
        &wd,
        r#""$0" --quiet >&-; echo "exit $?" >&2
           "$0" --quiet --output /dev/stdout >&-; echo "exit $?" >&2
           "$0" --quiet --output p.csv >&-; echo "exit $?" >&2"#,
    );
    assert_eq!(
        run.stderr(),
        "batch_inference: error: <stdout>: cannot write: bad file descriptor\nexit 5\n\
         batch_inference: error: /dev/stdout: cannot write: bad file descriptor\nexit 5\n\
         exit 0\n"
    );
    assert_eq!(wd.read("p.csv"), wd.ok(&[]).stdout());
}

#[test]
fn a_shard_output_that_is_a_folder_or_a_device_is_not_done() {
    let wd = Workdir::new("through_shard");
    wd.mkdir("out");
    wd.mkdir("out/p-0.csv");
    let shard = [
        "--shard-count",
        "2",
        "--shard-index",
        "0",
        "--output",
        "out/p-{index}.csv",
    ];
    for overwrite in [&[][..], &["--overwrite"]] {
        let run = wd.fails(&[&shard[..], overwrite].concat(), 2);
        assert_eq!(
            run.error(),
            "--output out/p-0.csv is a folder, so it cannot be a finished shard's output: move it away, or give each shard a file of its own, such as out/part-{index:05}.csv"
        );
    }
    let run = wd.fails(
        &[
            "--shard-count",
            "1",
            "--shard-index",
            "0",
            "--output",
            "/dev/null",
        ],
        2,
    );
    assert_eq!(
        run.error(),
        "--output /dev/null is not a regular file, so it cannot be a finished shard's output: move it away, or give each shard a file of its own, such as out/part-{index:05}.csv"
    );
    assert_eq!(wd.list("out"), ["p-0.csv"]);
}

// Replacing an existing output keeps what the user set.

fn mode(wd: &Workdir, rel: &str) -> u32 {
    fs::metadata(wd.path(rel)).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_replaced_output_keeps_its_mode_and_a_new_one_follows_the_umask() {
    let wd = Workdir::new("mode_output");
    wd.create("p.csv", "old\n");
    fs::set_permissions(wd.path("p.csv"), fs::Permissions::from_mode(0o600)).unwrap();
    let run = sh(
        &wd,
        r#"umask 027; "$0" --quiet --output p.csv && "$0" --quiet --output new.csv; echo "exit $?""#,
    );
    assert_eq!(run.stdout(), "exit 0\n");
    assert_eq!(mode(&wd, "p.csv"), 0o600);
    assert_eq!(mode(&wd, "new.csv"), 0o640);
    assert_eq!(wd.read("p.csv"), wd.read("new.csv"));
}

#[test]
fn a_retrained_model_and_its_metadata_keep_their_modes() {
    let wd = Workdir::new("mode_train");
    fs::set_permissions(
        wd.path("model/model.bin"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    fs::set_permissions(
        wd.path("model/metadata.json"),
        fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    wd.ok(&[
        "train",
        "--data",
        "data/train.csv",
        "--target",
        "MEDV",
        "--out",
        "model/model.bin",
    ]);
    assert_eq!(mode(&wd, "model/model.bin"), 0o600);
    assert_eq!(mode(&wd, "model/metadata.json"), 0o640);
    assert_eq!(wd.list("model"), ["gbr.bin", "metadata.json", "model.bin"]);
}

#[test]
fn an_output_folder_that_does_not_exist_is_reported_before_anything_is_read() {
    let wd = Workdir::new("missing_output_folder");
    let args = [
        "train",
        "--data",
        "data/train.csv",
        "--target",
        "MEDV",
        "--out",
        "none/model.bin",
    ];
    let run = wd.fails(&args, 5);
    assert_eq!(
        run.stderr(),
        "batch_inference: error: none/model.bin: cannot create: no such folder: none; create it first\n"
    );
    let run = wd.fails(&["--output", "none/p.csv"], 5);
    assert_eq!(
        run.stderr(),
        "batch_inference: error: none/p.csv: cannot create: no such folder: none; create it first\n"
    );
}

#[test]
fn standard_output_appended_to_the_data_is_refused() {
    let wd = Workdir::new("alias_stdout");
    let data = snapshot(&wd, &["data/test.csv"]);
    let run = sh(&wd, "\"$0\" --data data/test.csv >> data/test.csv");
    run.assert_code(2);
    assert_eq!(
        run.error(),
        "standard output is the same file as --data data/test.csv: the output would be written \
         into the file being read; redirect it to another file"
    );
    assert_eq!(snapshot(&wd, &["data/test.csv"]), data);
    // Rejects on standard output count too; a file given to --output frees standard output.
    let run = sh(
        &wd,
        "\"$0\" --on-error skip --rejects - --output p.csv >> data/test.csv",
    );
    run.assert_code(2);
    assert_eq!(snapshot(&wd, &["data/test.csv"]), data);
    sh(&wd, "\"$0\" --output p.csv >> log.txt").assert_code(0);
    // Standard output named as a path leads to the same file.
    let run = sh(&wd, "\"$0\" --output /dev/stdout >> data/test.csv");
    run.assert_code(2);
    assert_eq!(
        run.error(),
        "--output /dev/stdout is the same file as --data data/test.csv: it would be destroyed; \
         write the predictions elsewhere"
    );
    assert_eq!(snapshot(&wd, &["data/test.csv"]), data);
}
