//! Bad input, bad models, bad paths and bad flags: exact messages and exit codes, no panic,
//! and no output file left behind.

use batch_inference::model::{ModelFile, FORMAT_VERSION, MAGIC};

use crate::util::{repo, Workdir};

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
fn a_prediction_beyond_f64_fails_the_run_and_names_the_line() {
    // NOX's weight is about -17, so NOX = 1e308 makes the prediction -inf.
    let wd = Workdir::new("overflow");
    with_row(
        &wd,
        "0.75026,0,8.14,0,1e308,5.924,94.1,4.3996,4,307,21,394.33,16.3",
    );
    let run = wd.fails(&["--data", "bad.csv", "--output", "out.csv"], 3);
    assert_eq!(
        run.error(),
        "bad.csv:3: the prediction is beyond the range of f64; are the values in the right units?"
    );
    assert!(!wd.path("out.csv").exists());
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
fn a_quote_never_closed_in_the_header_names_the_header_field_not_missing_columns() {
    let wd = Workdir::new("header_unclosed_quote");
    let unclosed = "a quote in this header field is never closed, so the rest of the file was \
                    read into it";
    // At the first field, and at a later one: the whole file went into that field.
    wd.create("first.csv", format!("\"{HEADER}\n{ROW}\n{ROW}\n"));
    assert_eq!(
        wd.fails(&["--data", "first.csv"], 3).error(),
        format!("first.csv:1:1: {unclosed}")
    );
    let header = HEADER.replacen(",ZN", ",\"ZN", 1);
    wd.create("later.csv", format!("{header}\n{ROW}\n{ROW}\n"));
    assert_eq!(
        wd.fails(&["--data", "later.csv"], 3).error(),
        format!("later.csv:1:2: {unclosed}")
    );
    // Far from the end, the header outgrows the line-length limit first; the hint names the
    // quote, where a header without one asks whether this is a CSV file.
    let rows = format!("{ROW}\n").repeat(20_000);
    wd.create("far.csv", format!("{header}\n{rows}"));
    assert_eq!(
        wd.fails(&["--data", "far.csv"], 3).error(),
        "far.csv:1:2: the header is longer than 1048576 bytes; is the quote in this field never \
         closed?"
    );
}

#[test]
fn a_feature_column_with_a_space_around_it_or_in_another_case_is_pointed_out() {
    let wd = Workdir::new("header_near_misses");
    let must = "but column names must match exactly";
    wd.create("space.csv", format!(" {HEADER}\n{ROW}\n"));
    assert_eq!(
        wd.fails(&["--data", "space.csv"], 3).error(),
        format!("space.csv:1: missing feature column CRIM; the file has \" CRIM\" (CRIM with a leading space), {must}")
    );
    wd.create(
        "case.csv",
        format!("{}\n{ROW}\n", HEADER.replace("LSTAT", "lstat")),
    );
    assert_eq!(
        wd.fails(&["--data", "case.csv"], 3).error(),
        format!("case.csv:1: missing feature column LSTAT; the file has \"lstat\" (LSTAT in another case), {must}")
    );
    // A header written with ", " between names: each name after the first has a space.
    wd.create(
        "spaced.csv",
        format!("{}\n{ROW}\n", HEADER.replace(',', ", ")),
    );
    assert_eq!(
        wd.fails(&["--data", "spaced.csv"], 3).error(),
        format!(
            "spaced.csv:1: missing feature columns ZN, INDUS, CHAS, NOX, RM, AGE, DIS, RAD, TAX, \
             PTRATIO, B, LSTAT; the file has each of them with a leading space (\" ZN\", \
             \" INDUS\", \" CHAS\", \" NOX\", \" RM\", \" AGE\", \" DIS\", \" RAD\", \" TAX\", \
             \" PTRATIO\", \" B\", \" LSTAT\"), {must}"
        )
    );
    // The same for an id column, which is a usage error.
    wd.create("id.csv", format!("Id,{HEADER}\nx,{ROW}\n"));
    assert_eq!(
        wd.fails(&["--data", "id.csv", "--id-column", "id"], 2).error(),
        format!("--id-column id: id.csv has no column of that name; the file has \"Id\" (id in another case), {must}")
    );
}

#[test]
fn a_file_separated_by_semicolons_or_tabs_is_told_to_use_commas() {
    let wd = Workdir::new("header_other_separator");
    for (name, separator, between) in [("semi.csv", ";", "';'"), ("tabs.tsv", "\t", "tabs")] {
        wd.create(
            name,
            format!(
                "{}\n{}\n",
                HEADER.replace(',', separator),
                ROW.replace(',', separator)
            ),
        );
        let error = wd.fails(&["--data", name], 3).error();
        assert!(
            error.starts_with(&format!(
                "{name}:1: missing feature columns CRIM, ZN, INDUS, CHAS, NOX, RM, AGE, DIS, RAD, \
                 TAX, PTRATIO, B, LSTAT (the file has: "
            )),
            "{error}"
        );
        assert!(
            error.ends_with(&format!(
                "; the header is one column, whose name holds the missing names between \
                 {between}: columns are separated by commas here, so convert the file to commas \
                 first"
            )),
            "{error}"
        );
    }
}

#[test]
fn a_header_that_names_the_features_exactly_still_scores() {
    // Quoted names, and a column the model does not use, whose name holds a space.
    let wd = Workdir::new("header_exact");
    wd.create("plain.csv", format!("{HEADER}\n{ROW}\n"));
    let quoted = HEADER.replace("CRIM", "\"CRIM\"");
    wd.create("ok.csv", format!("\" row id\",{quoted}\n7,{ROW}\n"));
    assert_eq!(
        wd.ok(&["--data", "ok.csv"]).stdout(),
        wd.ok(&["--data", "plain.csv"]).stdout()
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
    wd.mkdir("out");
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
        "nope.csv: cannot open: no such file"
    );
}

#[test]
fn every_missing_path_is_said_in_lower_case_with_its_exit_code() {
    let wd = Workdir::new("missing_paths");
    let cases: [(&[&str], i32, &str); 7] = [
        (
            &["--data", "s3:/bucket/in.csv"],
            5,
            "s3:/bucket/in.csv: cannot open: no such file; for an object, write the URL as \
             s3://bucket/in.csv",
        ),
        (
            &["--model", "GS://bucket/m.bin"],
            5,
            "GS://bucket/m.bin: cannot open: no such file; for an object, write the URL as \
             gs://bucket/m.bin",
        ),
        (
            &["--on-error", "skip", "--rejects", "none/r.csv"],
            5,
            "none/r.csv: cannot create: no such folder: none; create it first",
        ),
        (
            &[
                "train", "--data", "nope.csv", "--target", "MEDV", "--out", "m.bin",
            ],
            5,
            "nope.csv: cannot open: no such file",
        ),
        (
            &[
                "train",
                "--data",
                "data/train.csv",
                "--holdout",
                "nope.csv",
                "--target",
                "MEDV",
                "--out",
                "m.bin",
            ],
            5,
            "nope.csv: cannot open: no such file",
        ),
        (
            &["import", "nope.onnx", "--out", "m.bin"],
            5,
            "nope.onnx: cannot open: no such file",
        ),
        (
            &["import", "-", "--out", "m.bin"],
            2,
            "import -: a model is not read from standard input; give the path of the ONNX file \
             or MLflow model directory (a pipe works too: import <(cat model.onnx))",
        ),
    ];
    for (args, code, message) in cases {
        assert_eq!(wd.fails(args, code).error(), message, "{args:?}");
    }
    assert!(!wd.path("m.bin").exists());
}

#[test]
fn a_missing_model_file_is_an_io_error() {
    let wd = Workdir::new("missing_model");
    assert_eq!(
        wd.fails(&["--model", "nope.bin"], 5).error(),
        "nope.bin: cannot open: no such file; train one with `batch_inference train`, or import one \
         with `batch_inference import`"
    );
}

#[test]
fn a_directory_as_data_is_an_io_error() {
    let wd = Workdir::new("directory_data");
    assert_eq!(
        wd.fails(&["--data", "data"], 5).error(),
        "data: cannot read: is a directory; give a CSV or Parquet file in it (every object \
         under a prefix is read when the path is an s3://, gs:// or az:// URL ending in /)"
    );
}

#[test]
fn a_directory_as_the_model_says_which_file_to_give_for_every_command() {
    let wd = Workdir::new("directory_model");
    let message = "model: cannot read: is a directory; give the model file's path, such as \
                   model/model.bin (an MLflow model directory is imported first: \
                   batch_inference import DIR --out model.bin)";
    assert_eq!(wd.fails(&["--model", "model"], 5).error(), message);
    assert_eq!(
        wd.fails(&["inspect", "--model", "model"], 5).error(),
        message
    );
    let serve = [
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--model",
        "model",
    ];
    assert_eq!(wd.fails(&serve, 5).error(), message);
}

#[test]
fn a_directory_as_the_output_is_an_io_error_that_asks_for_a_file() {
    let wd = Workdir::new("directory_output");
    wd.mkdir("out");
    assert_eq!(
        wd.fails(&["--output", "out"], 5).error(),
        "out: cannot write: is a directory; give the path of a file to write, in it or \
         elsewhere"
    );
    assert!(wd.list("out").is_empty(), "{:?}", wd.list("out"));
}

#[test]
fn a_model_on_standard_input_is_a_usage_error_that_points_at_a_pipe() {
    let wd = Workdir::new("model_stdin");
    let message = "--model -: a model is not read from standard input; give its path (a pipe \
                   works too: --model <(cat model.bin))";
    assert_eq!(wd.fails(&["--model", "-"], 2).error(), message);
    assert_eq!(wd.fails(&["inspect", "--model", "-"], 2).error(), message);
}

#[test]
fn serve_on_a_port_in_use_says_how_to_choose_another() {
    let wd = Workdir::new("serve_port_taken");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let run = wd.fails(&["serve", "--host", "127.0.0.1", "--port", &port], 5);
    assert_eq!(
        run.error(),
        format!(
            "127.0.0.1:{port}: cannot listen on: address already in use; another \
             process listens there: stop it, or choose another port (--port, or PORT)"
        )
    );
}

#[test]
fn an_output_folder_that_does_not_exist_is_an_io_error() {
    let wd = Workdir::new("missing_output_folder");
    let error = wd.fails(&["--output", "nowhere/p.csv"], 5).error();
    assert_eq!(
        error,
        "nowhere/p.csv: cannot create: no such folder: nowhere; create it first"
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
fn a_row_with_too_many_fields_names_its_line() {
    assert_eq!(
        data_error("long_row", &format!("{ROW},1")),
        "bad.csv:3: expected 13 fields as in the header, found 14"
    );
}

#[test]
fn a_duplicate_column_name_is_refused_with_both_positions() {
    let wd = Workdir::new("duplicate_columns");
    wd.create("bad.csv", format!("{HEADER},ZN\n{ROW},0\n"));
    assert_eq!(
        wd.fails(&["--data", "bad.csv"], 3).error(),
        "bad.csv:1:14: column name \"ZN\" appears twice (columns 2 and 14)"
    );
}

#[test]
fn a_header_that_is_not_utf8_is_refused() {
    let wd = Workdir::new("header_not_utf8");
    let mut text = format!("{HEADER}\n{ROW}\n").into_bytes();
    text.insert("CRIM,ZN,IND".len(), 0xff);
    wd.create("bad.csv", text);
    assert_eq!(
        wd.fails(&["--data", "bad.csv"], 3).error(),
        "bad.csv:1:3: the header is not valid UTF-8; is this a CSV file?"
    );
}

#[test]
fn binary_garbage_is_asked_about_not_parsed() {
    let wd = Workdir::new("binary_garbage");
    // A binary file given as data: the model, whose first byte is 0x89 as in PNG files.
    assert_eq!(
        wd.fails(&["--data", "model/model.bin"], 3).error(),
        "model/model.bin:1:1: the header is not valid UTF-8; is this a CSV file?"
    );
    // Zeros are valid UTF-8, but no header has a NUL byte.
    wd.create("zeros.csv", [0u8; 4096]);
    assert_eq!(
        wd.fails(&["--data", "zeros.csv"], 3).error(),
        "zeros.csv:1:1: the header holds a NUL byte; is this a CSV file?"
    );
    // Bytes after a good header are a row, and so a row with the wrong field count.
    let mut text = format!("{HEADER}\n").into_bytes();
    let mut x = 1u32;
    text.extend((0..4096).map(|_| {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        match (x >> 24) as u8 {
            b'\n' | b'\r' | b',' | b'"' => b'?',
            b => b,
        }
    }));
    wd.create("tail.csv", text);
    assert_eq!(
        wd.fails(&["--data", "tail.csv"], 3).error(),
        "tail.csv:2: expected 13 fields as in the header, found 1"
    );
}

#[test]
fn a_line_longer_than_a_mebibyte_is_refused() {
    let wd = Workdir::new("long_line");
    let long = "9".repeat(2 << 20);
    wd.create("bad.csv", format!("{HEADER}\n{ROW}\n{long}\n{ROW}\n"));
    assert_eq!(
        wd.fails(&["--data", "bad.csv"], 3).error(),
        "bad.csv:3: a line longer than 1048576 bytes; is this the right file?"
    );
    wd.create("header.csv", format!("{long}\n{ROW}\n"));
    assert_eq!(
        wd.fails(&["--data", "header.csv"], 3).error(),
        "header.csv:1: the header is longer than 1048576 bytes; is this a CSV file?"
    );
}

#[test]
fn a_quote_that_is_never_closed_is_named_with_its_line_and_field() {
    let wd = Workdir::new("unclosed_quote");
    // Near the end: the last record takes the rest of the file, and its count is off.
    wd.create(
        "end.csv",
        format!("{HEADER}\n{ROW}\n0.1,\"2\n{ROW}\n{ROW}\n"),
    );
    assert_eq!(
        wd.fails(&["--data", "end.csv"], 3).error(),
        "end.csv:3:2: a quote in this field is never closed, so the rest of the file was read into it"
    );
    // The same under --on-error skip: the record is rejected with that reason.
    wd.fails(&["--data", "end.csv", "--on-error", "skip", "--quiet"], 6);
    // Far from the end: the record outgrows the limit first, and the hint names the quote.
    let rows = format!("{ROW}\n").repeat(40_000);
    wd.create("far.csv", format!("{HEADER}\n{ROW}\n0.1,\"2\n{rows}"));
    assert_eq!(
        wd.fails(&["--data", "far.csv"], 3).error(),
        "far.csv:3: a line longer than 1048576 bytes; is a quote on this line never closed?"
    );
    // A field count that is off for another reason keeps its message.
    wd.create("odd.csv", format!("{HEADER}\n{ROW}\n0.1,2\"\n"));
    assert_eq!(
        wd.fails(&["--data", "odd.csv"], 3).error(),
        "odd.csv:3: expected 13 fields as in the header, found 2"
    );
}

#[test]
fn an_endless_line_is_refused_without_reading_it_whole() {
    use std::io::Write;
    use std::process::Stdio;
    let wd = Workdir::new("endless_line");
    let mut child = wd
        .command(&["--data", "-", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Feeds the line until the binary stops reading: it never ends, so reading it whole
    // would never end either.
    let writer = std::thread::spawn(move || {
        let chunk = [b'9'; 64 * 1024];
        let _ = stdin.write_all(format!("{HEADER}\n{ROW}\n").as_bytes());
        let mut sent = 0;
        while stdin.write_all(&chunk).is_ok() {
            sent += chunk.len();
        }
        sent
    });
    let output = child.wait_with_output().unwrap();
    let sent = writer.join().unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "batch_inference: error: <stdin>:3: a line longer than 1048576 bytes; is this the right file?\n"
    );
    assert!(sent < 8 << 20, "{sent} bytes were read before the error");
}

#[test]
fn harmless_variants_of_a_file_score_exactly_like_it() {
    let wd = Workdir::new("harmless_variants");
    let expected = wd.ok(&[]).output.stdout;
    let text = wd.read("data/test.csv");
    let lines: Vec<&str> = text.lines().collect();
    let each_field = |f: &dyn Fn(&str) -> String| -> String {
        let mut out = lines[0].to_string() + "\n";
        for line in &lines[1..] {
            let fields: Vec<String> = line.split(',').map(f).collect();
            out += &(fields.join(",") + "\n");
        }
        out
    };
    let variants = [
        ("bom.csv", format!("\u{feff}{text}")),
        ("crlf.csv", text.replace('\n', "\r\n")),
        ("quoted.csv", each_field(&|v| format!("\"{v}\""))),
        // `296` as `2.96e2`: the shortest exponent form of the same f64.
        (
            "exponents.csv",
            each_field(&|v| format!("{:e}", v.parse::<f64>().unwrap())),
        ),
    ];
    assert!(variants[3].1.contains(",2.96e2,"), "{}", variants[3].1);
    for (name, contents) in variants {
        wd.create(name, contents);
        assert_eq!(
            wd.ok(&["--data", name]).output.stdout,
            expected,
            "{name} scores differently"
        );
    }
}

#[test]
fn an_unreadable_data_or_model_file_is_an_io_error() {
    use std::os::unix::fs::PermissionsExt;
    let wd = Workdir::new("unreadable_file");
    for file in ["data/test.csv", "model/model.bin"] {
        std::fs::set_permissions(wd.path(file), std::fs::Permissions::from_mode(0o200)).unwrap();
    }
    let run = wd.output(&mut wd.command_unprivileged(&[]));
    run.assert_code(5);
    assert_eq!(
        run.error(),
        "data/test.csv: cannot open: permission denied: the user this runs as may not read it; \
         check its owner and mode (ls -l)"
    );
    let run = wd.output(&mut wd.command_unprivileged(&["--data", "/dev/null"]));
    run.assert_code(5);
    assert_eq!(
        run.error(),
        "model/model.bin: cannot open: permission denied: the user this runs as may not read it; \
         check its owner and mode (ls -l)"
    );
}

#[test]
fn a_read_only_output_folder_is_an_io_error_and_stays_empty() {
    use std::os::unix::fs::PermissionsExt;
    let wd = Workdir::new("read_only_output");
    wd.mkdir("out");
    std::fs::set_permissions(wd.path("out"), std::fs::Permissions::from_mode(0o555)).unwrap();
    let run = wd.output(&mut wd.command_unprivileged(&["--output", "out/p.csv"]));
    run.assert_code(5);
    assert_eq!(
        run.error(),
        "out/p.csv: cannot create: permission denied: the user this runs as may not write there; \
         check the folder's owner and mode (ls -ld), or write elsewhere"
    );
    assert!(wd.list("out").is_empty(), "{:?}", wd.list("out"));
}

/// The bundled model, as its struct, to be spoiled in one way.
fn bundled_model() -> ModelFile {
    ModelFile::load(repo().join("model/model.bin").to_str().unwrap())
        .unwrap()
        .model
}

/// A model file around any payload, with a right header and checksum: how a bug in a future
/// writer, not a corrupt copy, would look.
fn model_file_around(payload: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&sha2::Sha256::digest(payload));
    bytes.extend_from_slice(payload);
    bytes
}

fn model_error(wd: &Workdir, bytes: &[u8]) -> String {
    wd.create("model/model.bin", bytes);
    wd.fails(&[], 4).error()
}

#[test]
fn an_empty_model_file_is_invalid() {
    let wd = Workdir::new("empty_model");
    assert_eq!(
        model_error(&wd, b""),
        "model/model.bin: invalid model file: the file is empty"
    );
}

#[test]
fn a_model_from_a_future_format_version_asks_for_an_upgrade() {
    let wd = Workdir::new("future_model");
    let mut bytes = std::fs::read(wd.path("model/model.bin")).unwrap();
    bytes[8..12].copy_from_slice(&5u32.to_le_bytes());
    assert_eq!(
        model_error(&wd, &bytes),
        "model/model.bin: invalid model file: format version 5 is newer than this program reads (4); upgrade batch_inference"
    );
}

#[test]
fn a_length_prefix_claiming_a_terabyte_is_refused_before_allocating() {
    let wd = Workdir::new("terabyte_model");
    let mut bytes = std::fs::read(wd.path("model/model.bin")).unwrap();
    bytes[12..20].copy_from_slice(&(1u64 << 40).to_le_bytes());
    assert_eq!(
        model_error(&wd, &bytes),
        "model/model.bin: invalid model file: the header claims a 1099511627776-byte payload, over the 67108864-byte limit"
    );
    // The same claim inside a checksummed payload: the feature list says 2^40 names. The
    // decoder allocates only as names arrive, so it meets the end of the payload, not an
    // allocation failure.
    let shipped = std::fs::read(wd.path("model/model.bin")).unwrap();
    let payload = &shipped[52..];
    let target = payload.windows(5).position(|w| w == b"\x04MEDV").unwrap() + 5;
    assert_eq!(
        payload[target], 13,
        "the feature count follows the target name"
    );
    let mut payload = payload[..target].to_vec();
    payload.push(253);
    payload.extend_from_slice(&(1u64 << 40).to_le_bytes());
    assert_eq!(
        model_error(&wd, &model_file_around(&payload)),
        "model/model.bin: invalid model file: cannot decode payload: it ends in the middle of a value"
    );
}

#[test]
fn a_model_with_a_non_finite_coefficient_is_refused() {
    let wd = Workdir::new("non_finite_model");
    let mut model = bundled_model();
    model.coefficients[5] = f64::INFINITY;
    assert_eq!(
        model_error(&wd, &model.to_bytes()),
        "model/model.bin: invalid model file: coefficient of feature RM is inf, not a finite number"
    );
    let mut model = bundled_model();
    model.intercept = f64::NAN;
    assert_eq!(
        model_error(&wd, &model.to_bytes()),
        "model/model.bin: invalid model file: the intercept is NaN, not a finite number"
    );
}

#[test]
fn a_model_whose_feature_count_disagrees_with_its_names_is_refused() {
    let wd = Workdir::new("inconsistent_model");
    let mut model = bundled_model();
    model.features.pop();
    assert_eq!(
        model_error(&wd, &model.to_bytes()),
        "model/model.bin: invalid model file: the model has 12 feature names but 13 coefficients"
    );
}

#[test]
fn an_output_that_would_collide_with_the_predictions_is_a_usage_error() {
    let wd = Workdir::new("output_collisions");
    assert_eq!(
        wd.fails(&["--id-column", "prediction"], 2).error(),
        "--id-column prediction would give the output two columns named prediction; rename the \
         input column"
    );
    for output in [&[][..], &["--output", "-"]] {
        let mut args = vec!["--on-error", "skip", "--rejects", "-"];
        args.extend(output);
        assert_eq!(
            wd.fails(&args, 2).error(),
            "--rejects - would mix rejected rows into the predictions on standard output; give \
             --rejects a file, or --output a file"
        );
    }
    // With the predictions in a file, standard output is free for the rejects.
    let run = wd.ok(&["--on-error", "skip", "--rejects", "-", "--output", "p.csv"]);
    assert_eq!(run.stdout(), "line,reason,record\n");
}
