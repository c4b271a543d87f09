//! Bad input, bad models, bad paths and bad flags: exact messages and exit codes, no panic,
//! and no output file left behind.

use crate::util::Workdir;

const HEADER: &str = "CRIM,ZN,INDUS,CHAS,NOX,RM,AGE,DIS,RAD,TAX,PTRATIO,B,LSTAT";
const ROW: &str = "0.75026,0,8.14,0,0.538,5.924,94.1,4.3996,4,307,21,394.33,16.3";

/// A CSV of the 13 features with `bad` as its second data row.
fn with_row(wd: &Workdir, bad: &str) {
    wd.create("bad.csv", format!("{HEADER}\n{ROW}\n{bad}\n{ROW}\n"));
}

fn data_error(name: &str, bad_row: &str) -> String {
    let wd = Workdir::new(name);
    with_row(&wd, bad_row);
    wd.fails(&["--data", "bad.csv"], 3).error()
}

#[test]
fn a_non_numeric_value_names_file_line_column_and_name() {
    assert_eq!(
        data_error(
            "non_numeric",
            "0.75026,0,abc,0,0.538,5.924,94.1,4.3996,4,307,21,394.33,16.3"
        ),
        "bad.csv:3:3: column INDUS: expected a number, found \"abc\""
    );
}

#[test]
fn an_empty_field_is_invalid() {
    assert_eq!(
        data_error(
            "empty_field",
            "0.75026,0,8.14,0,,5.924,94.1,4.3996,4,307,21,394.33,16.3"
        ),
        "bad.csv:3:5: column NOX: expected a number, found an empty field"
    );
}

#[test]
fn nan_and_infinity_are_invalid() {
    assert_eq!(
        data_error(
            "nan",
            "NaN,0,8.14,0,0.538,5.924,94.1,4.3996,4,307,21,394.33,16.3"
        ),
        "bad.csv:3:1: column CRIM: expected a finite number, found \"NaN\""
    );
    assert_eq!(
        data_error(
            "inf",
            "0.75026,0,8.14,0,0.538,5.924,94.1,4.3996,4,307,21,394.33,-inf"
        ),
        "bad.csv:3:13: column LSTAT: expected a finite number, found \"-inf\""
    );
}

#[test]
fn a_row_with_too_few_fields_names_its_line() {
    assert_eq!(
        data_error("short_row", "0.75026,0,8.14"),
        "bad.csv:3: expected 13 fields as in the header, found 3"
    );
}

#[test]
fn missing_feature_columns_are_all_listed() {
    let wd = Workdir::new("missing_columns");
    wd.create(
        "bad.csv",
        "CRIM,ZN,INDUS,CHAS,NOX,AGE,DIS,RAD,TAX,PTRATIO,B\n1,2,3,4,5,6,7,8,9,10,11\n",
    );
    assert_eq!(
        wd.fails(&["--data", "bad.csv"], 3).error(),
        "bad.csv:1: missing feature columns RM, LSTAT (the file has: CRIM, ZN, INDUS, CHAS, NOX, AGE, DIS, RAD, TAX, PTRATIO, B)"
    );
}

#[test]
fn an_empty_file_is_invalid() {
    let wd = Workdir::new("empty_file");
    wd.create("bad.csv", "");
    assert_eq!(
        wd.fails(&["--data", "bad.csv"], 3).error(),
        "bad.csv: the file is empty; expected a header line naming the columns"
    );
}

#[test]
fn a_failed_run_leaves_no_output_file() {
    let wd = Workdir::new("no_partial_output");
    // Enough good rows to fill several batches before the bad one.
    let mut text = format!("{HEADER}\n");
    for _ in 0..10_000 {
        text += ROW;
        text.push('\n');
    }
    text += "x,0,8.14,0,0.538,5.924,94.1,4.3996,4,307,21,394.33,16.3\n";
    wd.create("bad.csv", text);
    std::fs::create_dir(wd.path("out")).unwrap();
    let run = wd.fails(
        &[
            "--data",
            "bad.csv",
            "--output",
            "out/p.csv",
            "--batch-rows",
            "100",
        ],
        3,
    );
    assert_eq!(
        run.error(),
        "bad.csv:10002:1: column CRIM: expected a number, found \"x\""
    );
    assert!(
        wd.list("out").is_empty(),
        "left behind: {:?}",
        wd.list("out")
    );
}

#[test]
fn a_truncated_model_is_an_invalid_model_not_a_panic() {
    let wd = Workdir::new("truncated_model");
    let bytes = std::fs::read(wd.path("model/model.bin")).unwrap();
    wd.create("model/model.bin", &bytes[..bytes.len() - 10]);
    let error = wd.fails(&[], 4).error();
    assert!(
        error.starts_with("model/model.bin: invalid model file: truncated: the header promises "),
        "{error}"
    );
}

#[test]
fn a_csv_given_as_a_model_is_named_foreign() {
    let wd = Workdir::new("foreign_model");
    assert_eq!(
        wd.fails(&["--model", "data/test.csv"], 4).error(),
        "data/test.csv: invalid model file: not a batch_inference model (wrong magic bytes); make one with `batch_inference train`"
    );
}

#[test]
fn a_flipped_byte_fails_the_checksum() {
    let wd = Workdir::new("flipped_byte");
    let mut bytes = std::fs::read(wd.path("model/model.bin")).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    wd.create("model/model.bin", bytes);
    assert_eq!(
        wd.fails(&[], 4).error(),
        "model/model.bin: invalid model file: checksum mismatch: the file is corrupt (retrain or copy it again)"
    );
}

#[test]
fn a_missing_data_file_is_an_io_error() {
    let wd = Workdir::new("missing_data");
    assert_eq!(
        wd.fails(&["--data", "nope.csv"], 5).error(),
        "nope.csv: cannot open: No such file or directory (os error 2)"
    );
}

#[test]
fn a_missing_model_file_is_an_io_error() {
    let wd = Workdir::new("missing_model");
    assert_eq!(
        wd.fails(&["--model", "nope.bin"], 5).error(),
        "nope.bin: cannot open: No such file or directory (os error 2)"
    );
}

#[test]
fn a_directory_as_data_is_an_io_error() {
    let wd = Workdir::new("directory_data");
    assert_eq!(
        wd.fails(&["--data", "data"], 5).error(),
        "data: cannot read: is a directory"
    );
}

#[test]
fn an_output_folder_that_does_not_exist_is_an_io_error() {
    let wd = Workdir::new("missing_output_folder");
    let error = wd.fails(&["--output", "nowhere/p.csv"], 5).error();
    assert_eq!(
        error,
        "nowhere/p.csv: cannot create: No such file or directory (os error 2)"
    );
}

#[test]
fn an_unknown_flag_is_a_usage_error() {
    let wd = Workdir::new("unknown_flag");
    let run = wd.fails(&["--modle", "x"], 2);
    assert!(
        run.stderr().contains("unexpected argument '--modle'"),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr()
            .contains("tip: a similar argument exists: '--model'"),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_zero_batch_size_is_a_usage_error() {
    let wd = Workdir::new("zero_batch");
    let run = wd.fails(&["--batch-rows", "0"], 2);
    assert!(
        run.stderr().contains("0 is not in 1..=1048576"),
        "{}",
        run.stderr()
    );
}

#[test]
fn help_lists_the_exit_codes() {
    let wd = Workdir::new("help");
    let help = wd.ok(&["--help"]).stdout();
    for line in [
        "  3  invalid input data",
        "  4  invalid model file",
        "  5  I/O failure",
    ] {
        assert!(help.contains(line), "{line} missing from:\n{help}");
    }
}
