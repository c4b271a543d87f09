//! Parquet in and out, and several id columns. The Parquet inputs are data/test.csv written
//! by pyarrow (tests/fixtures/make_parquet_fixtures.py, which lists them); Parquet outputs are
//! read back here with the parquet crate.

use std::fs::File;

use parquet::basic::{Encoding, LogicalType, Type as PhysicalType};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;

use crate::util::{predictions, repo, Workdir};

/// A workdir whose `pq/` holds the Parquet fixtures.
fn workdir(name: &str) -> Workdir {
    let wd = Workdir::new(name);
    let fixtures = repo().join("tests/fixtures/parquet");
    for entry in std::fs::read_dir(fixtures).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        wd.create(&format!("pq/{name}"), std::fs::read(&path).unwrap());
    }
    wd
}

/// The columns of a Parquet file: name, physical type, logical type, and every value as text.
fn read_parquet(
    path: &std::path::Path,
) -> Vec<(String, PhysicalType, Option<LogicalType>, Vec<String>)> {
    let reader = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
    let schema = reader.metadata().file_metadata().schema_descr_ptr();
    let mut columns: Vec<_> = schema
        .columns()
        .iter()
        .map(|c| {
            (
                c.name().to_string(),
                c.physical_type(),
                c.logical_type_ref().cloned(),
                Vec::new(),
            )
        })
        .collect();
    for row in reader.get_row_iter(None).unwrap() {
        for (i, (_, field)) in row.unwrap().get_column_iter().enumerate() {
            let text = match field {
                Field::Str(s) => s.clone(),
                Field::Null => "null".to_string(),
                other => other.to_string(),
            };
            columns[i].3.push(text);
        }
    }
    columns
}

#[test]
fn parquet_scores_to_the_same_bytes_as_the_csv_in_every_format() {
    let wd = workdir("parquet_same_bytes");
    for format in ["csv", "jsonl"] {
        let plain = wd.ok(&["-q", "--format", format]).output.stdout;
        for data in [
            "pq/test.parquet",
            "pq/test_snappy.parquet",
            "pq/decimal.parquet",
        ] {
            for extra in [
                &["--threads", "1"][..],
                &["--threads", "4", "--batch-rows", "3"],
            ] {
                let mut args = vec!["-q", "--format", format, "--data", data];
                args.extend(extra);
                assert_eq!(
                    wd.ok(&args).output.stdout,
                    plain,
                    "{data} {format} {extra:?}"
                );
            }
        }
    }
}

#[test]
fn a_parquet_file_is_known_by_its_magic_bytes_under_another_name() {
    let wd = workdir("parquet_magic");
    let plain = wd.ok(&["-q"]).output.stdout;
    wd.create(
        "data.bin",
        std::fs::read(wd.path("pq/test.parquet")).unwrap(),
    );
    assert_eq!(wd.ok(&["-q", "--data", "data.bin"]).output.stdout, plain);
}

#[test]
fn several_id_columns_are_carried_in_the_order_given_in_csv_and_json_lines() {
    let wd = workdir("parquet_several_ids");
    let plain = predictions(&wd.ok(&["-q"]).stdout());
    let csv = wd
        .ok(&["-q", "--id-column", "RAD,CHAS", "--id-column", "ZN"])
        .stdout();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "RAD,CHAS,ZN,prediction");
    // data/test.csv's first row: ZN 0, CHAS 0, RAD 4.
    assert_eq!(lines[1], format!("4,0,0,{}", plain[0]));
    assert_eq!(lines.len(), plain.len() + 1);
    let jsonl = wd
        .ok(&["-q", "--format", "jsonl", "--id-column", "LSTAT,CRIM"])
        .stdout();
    assert_eq!(
        jsonl.lines().next().unwrap(),
        format!(
            "{{\"LSTAT\":\"16.3\",\"CRIM\":\"0.75026\",\"prediction\":{}}}",
            plain[0]
        )
    );
    // The same columns from Parquet, whose values are written in their shortest text.
    let from_parquet = wd
        .ok(&[
            "-q",
            "--data",
            "pq/test.parquet",
            "--id-column",
            "house,row,weight,TAX",
        ])
        .stdout();
    let lines: Vec<&str> = from_parquet.lines().collect();
    assert_eq!(lines[0], "house,row,weight,TAX,prediction");
    assert_eq!(lines[1], format!("h1,1,0.25,307,{}", plain[0]));
    assert_eq!(lines[51], format!("h51,51,12.75,224,{}", plain[50]));
}

#[test]
fn several_id_columns_give_the_same_bytes_on_any_thread_count_and_in_shards() {
    let wd = workdir("parquet_ids_threads");
    let args = ["-q", "--id-column", "RAD,CHAS,ZN", "--batch-rows", "2"];
    let one = wd
        .ok(&[&args[..], &["--threads", "1"]].concat())
        .output
        .stdout;
    let four = wd
        .ok(&[&args[..], &["--threads", "4"]].concat())
        .output
        .stdout;
    assert_eq!(one, four);
    let mut joined = Vec::new();
    for index in ["0", "1", "2"] {
        let shard = ["--shard-index", index, "--shard-count", "3"];
        joined.extend(wd.ok(&[&args[..], &shard[..]].concat()).output.stdout);
    }
    assert_eq!(joined, one);
}

#[test]
fn a_repeated_or_unknown_id_column_is_a_usage_error() {
    let wd = workdir("parquet_bad_ids");
    assert_eq!(
        wd.fails(&["--id-column", "RAD,CHAS", "--id-column", "RAD"], 2)
            .error(),
        "--id-column RAD is given twice; name each id column once"
    );
    assert_eq!(
        wd.fails(&["--id-column", "RAD,nope,gone"], 2).error(),
        "--id-column nope,gone: data/test.csv has no columns of that name; its columns are \
         CRIM, ZN, INDUS, CHAS, NOX, RM, AGE, DIS, RAD, TAX, PTRATIO, B, LSTAT, MEDV"
    );
    assert_eq!(
        wd.fails(&["--data", "pq/test.parquet", "--id-column", "nope"], 2).error(),
        "--id-column nope: pq/test.parquet has no column of that name; its columns are \
         CRIM, ZN, INDUS, CHAS, NOX, RM, AGE, DIS, RAD, TAX, PTRATIO, B, LSTAT, MEDV, house, row, weight"
    );
}

#[test]
fn id_columns_keep_their_parquet_types_in_a_parquet_output() {
    let wd = workdir("parquet_out_types");
    let plain = predictions(&wd.ok(&["-q"]).stdout());
    wd.ok(&[
        "-q",
        "--data",
        "pq/test.parquet",
        "--id-column",
        "house,row,weight,CHAS",
        "--output",
        "out.parquet",
    ]);
    let columns = read_parquet(&wd.path("out.parquet"));
    let shapes: Vec<(&str, PhysicalType, Option<LogicalType>)> = columns
        .iter()
        .map(|(n, p, l, _)| (n.as_str(), *p, l.clone()))
        .collect();
    assert_eq!(
        shapes,
        [
            ("house", PhysicalType::BYTE_ARRAY, Some(LogicalType::String)),
            ("row", PhysicalType::INT64, None),
            ("weight", PhysicalType::FLOAT, None),
            ("CHAS", PhysicalType::INT32, None),
            ("prediction", PhysicalType::DOUBLE, None),
        ]
    );
    let n = plain.len();
    assert_eq!(
        columns[0].3,
        (1..=n).map(|i| format!("h{i}")).collect::<Vec<_>>()
    );
    assert_eq!(
        columns[1].3,
        (1..=n).map(|i| i.to_string()).collect::<Vec<_>>()
    );
    let weights: Vec<f32> = columns[2].3.iter().map(|t| t.parse().unwrap()).collect();
    assert_eq!(weights, (1..=n).map(|i| i as f32 / 4.0).collect::<Vec<_>>());
    let scored: Vec<f64> = columns[4].3.iter().map(|t| t.parse().unwrap()).collect();
    assert_eq!(scored, plain);
}

#[test]
fn the_prediction_column_of_a_parquet_output_is_written_without_a_dictionary() {
    let wd = workdir("parquet_out_plain_predictions");
    wd.ok(&["-q", "--id-column", "RAD", "--output", "out.parquet"]);
    let reader = SerializedFileReader::new(File::open(wd.path("out.parquet")).unwrap()).unwrap();
    let group = reader.metadata().row_group(0);
    let encodings = |c: usize| {
        let column = group.column(c);
        (
            column.column_path().string(),
            column.dictionary_page_offset().is_some(),
            column.encodings().collect::<Vec<_>>(),
        )
    };
    // RAD repeats, so its dictionary is kept; predictions do not, so theirs is never made
    // (the writer lists RLE, its encoding of levels, for every column).
    assert!(encodings(0).1, "{:?}", encodings(0));
    assert_eq!(
        encodings(1),
        (
            "prediction".to_string(),
            false,
            vec![Encoding::PLAIN, Encoding::RLE]
        )
    );
}

#[test]
fn a_csv_scores_into_parquet_with_its_ids_as_text() {
    let wd = workdir("parquet_out_from_csv");
    let plain = predictions(&wd.ok(&["-q"]).stdout());
    wd.ok(&[
        "-q",
        "--id-column",
        "RAD,ZN",
        "--output",
        "out.parquet",
        "--threads",
        "3",
    ]);
    let columns = read_parquet(&wd.path("out.parquet"));
    assert_eq!(columns.len(), 3);
    assert_eq!(
        (columns[0].0.as_str(), columns[0].1),
        ("RAD", PhysicalType::BYTE_ARRAY)
    );
    assert_eq!(columns[0].2, Some(LogicalType::String));
    assert_eq!(&columns[0].3[..3], ["4", "7", "4"]);
    assert_eq!(&columns[1].3[..3], ["0", "33", "0"]);
    let scored: Vec<f64> = columns[2].3.iter().map(|t| t.parse().unwrap()).collect();
    assert_eq!(scored, plain);
    // A file with no rows is still a Parquet file, with the same columns.
    wd.create(
        "empty.csv",
        "CRIM,ZN,INDUS,CHAS,NOX,RM,AGE,DIS,RAD,TAX,PTRATIO,B,LSTAT\n",
    );
    wd.ok(&["-q", "--data", "empty.csv", "--output", "empty.parquet"]);
    let columns = read_parquet(&wd.path("empty.parquet"));
    assert_eq!(columns.len(), 1);
    assert!(columns[0].3.is_empty());
}

#[test]
fn shards_of_a_file_of_six_row_groups_add_up_to_the_whole() {
    let wd = workdir("parquet_shards");
    let whole = wd
        .ok(&["-q", "--data", "pq/test.parquet", "--id-column", "house"])
        .output
        .stdout;
    for count in [1, 2, 4, 6, 9] {
        let mut joined = Vec::new();
        for index in 0..count {
            let (index, count) = (index.to_string(), count.to_string());
            let args = [
                "-q",
                "--data",
                "pq/test.parquet",
                "--id-column",
                "house",
                "--shard-index",
                &index,
                "--shard-count",
                &count,
                "--output",
                &format!("of{count}-part-{{index}}.csv"),
            ];
            wd.ok(&args);
            let part = format!("of{count}-part-{index}.csv");
            joined.extend(std::fs::read(wd.path(&part)).unwrap());
        }
        assert_eq!(
            String::from_utf8(joined).unwrap(),
            String::from_utf8(whole.clone()).unwrap(),
            "{count} shards"
        );
    }
}

#[test]
fn a_null_an_infinity_or_a_text_feature_is_a_data_error_and_writes_no_output() {
    let wd = workdir("parquet_bad_rows");
    for (file, message) in [
        (
            "null",
            "pq/null.parquet: row 7: column LSTAT: expected a number, found null",
        ),
        (
            "inf",
            "pq/inf.parquet: row 12: column NOX: expected a finite number, found inf",
        ),
        (
            "text",
            "pq/text.parquet: column CRIM: a feature must be numeric, but the column holds \
             strings; is this the right file?",
        ),
    ] {
        for output in ["out.csv", "out.parquet"] {
            let data = format!("pq/{file}.parquet");
            let run = wd.fails(&["-q", "--data", &data, "--output", output], 3);
            assert_eq!(run.error(), message);
            assert!(!wd.path(output).exists(), "{file}: {output} was written");
        }
    }
    assert!(
        !wd.list(".").iter().any(|n| n.starts_with(".out")),
        "a temporary file was left: {:?}",
        wd.list(".")
    );
}

#[test]
fn a_truncated_or_foreign_parquet_file_is_a_data_error_not_a_panic() {
    let wd = workdir("parquet_broken");
    for file in ["truncated", "not"] {
        let data = format!("pq/{file}.parquet");
        assert_eq!(
            wd.fails(&["-q", "--data", &data], 3).error(),
            format!(
                "{data}: not a readable Parquet file (Parquet error: Invalid Parquet file. \
                 Corrupt footer); is it complete?"
            )
        );
    }
    // Every length of a damaged file: an error, never a panic.
    let bytes = std::fs::read(wd.path("pq/test.parquet")).unwrap();
    for len in (0..bytes.len()).step_by(997).chain([bytes.len() - 1]) {
        let mut cut = bytes[..len].to_vec();
        if len > 8 {
            // Keep the end magic, so the reader goes past the first check.
            cut.extend_from_slice(&bytes[bytes.len() - 8..]);
        }
        wd.create("cut.parquet", &cut);
        let run = wd.output(&mut wd.command(&["-q", "--data", "cut.parquet"]));
        assert!(
            matches!(run.output.status.code(), Some(0 | 3)),
            "length {len}: {:?}\n{}",
            run.output.status,
            run.stderr()
        );
        assert!(
            !run.stderr().contains("panicked"),
            "length {len}: {}",
            run.stderr()
        );
    }
}

#[test]
fn a_missing_feature_in_parquet_is_the_same_data_error_as_in_a_csv() {
    let wd = workdir("parquet_missing_feature");
    // A model of a column that only the Parquet file has, and one that only the CSV has.
    let train = |data: &str, features: &str, out: &str| {
        wd.ok(&[
            "train",
            "-q",
            "--data",
            data,
            "--target",
            "MEDV",
            "--features",
            features,
            "--out",
            out,
        ]);
    };
    train("pq/test.parquet", "CRIM,weight", "w.bin");
    assert_eq!(
        wd.fails(&["-q", "--model", "w.bin"], 3).error(),
        "data/test.csv:1: missing feature column weight (the file has: CRIM, ZN, INDUS, CHAS, \
         NOX, RM, AGE, DIS, RAD, TAX, PTRATIO, B, LSTAT, MEDV)"
    );
    wd.create("extra.csv", "MISSING,MEDV\n1,2\n3,5\n4,4\n");
    train("extra.csv", "MISSING", "m.bin");
    assert_eq!(
        wd.fails(&["-q", "--model", "m.bin", "--data", "pq/test.parquet"], 3)
            .error(),
        "pq/test.parquet: missing feature column MISSING (the file has: CRIM, ZN, INDUS, CHAS, \
         NOX, RM, AGE, DIS, RAD, TAX, PTRATIO, B, LSTAT, MEDV, house, row, weight)"
    );
}

#[test]
fn a_parquet_column_in_another_case_is_pointed_out_as_in_a_csv() {
    let wd = workdir("parquet_near_miss");
    let must = "but column names must match exactly";
    wd.create("lower.csv", "crim,MEDV\n1,2\n3,5\n4,4\n");
    wd.ok(&[
        "train",
        "-q",
        "--data",
        "lower.csv",
        "--target",
        "MEDV",
        "--out",
        "m.bin",
    ]);
    assert_eq!(
        wd.fails(&["-q", "--model", "m.bin", "--data", "pq/test.parquet"], 3)
            .error(),
        format!(
            "pq/test.parquet: missing feature column crim; the file has \"CRIM\" (crim in another \
             case), {must}"
        )
    );
    let train = [
        "train",
        "-q",
        "--data",
        "pq/test.parquet",
        "--target",
        "medv",
        "--out",
        "t.bin",
    ];
    assert_eq!(
        wd.fails(&train, 3).error(),
        format!(
            "pq/test.parquet: missing target column medv; the file has \"MEDV\" (medv in another \
             case), {must}"
        )
    );
    assert_eq!(
        wd.fails(&["--data", "pq/test.parquet", "--id-column", "Row"], 2)
            .error(),
        format!(
            "--id-column Row: pq/test.parquet has no column of that name; the file has \"row\" \
             (Row in another case), {must}"
        )
    );
}

#[test]
fn skipped_parquet_rows_go_to_a_csv_rejects_file_with_their_row_numbers() {
    let wd = workdir("parquet_rejects");
    let plain = predictions(&wd.ok(&["-q"]).stdout());
    let run = wd.fails(
        &[
            "-q",
            "--data",
            "pq/null.parquet",
            "--on-error",
            "skip",
            "--rejects",
            "rejects.csv",
            "--output",
            "out.csv",
        ],
        6,
    );
    assert_eq!(run.stderr(), "");
    let rejects = wd.read("rejects.csv");
    let lines: Vec<&str> = rejects.lines().collect();
    assert_eq!(lines[0], "row,reason,record");
    assert_eq!(lines.len(), 2);
    // The record: the row's features as read, in the model's order.
    assert_eq!(
        lines[1],
        "7,\"row 7: column LSTAT: expected a number, found null\",\
         \"0.06899,0,25.65,0,0.581,5.87,69.7,2.2577,2,188,19.1,389.15,null\""
    );
    let mut kept = plain.clone();
    kept.remove(6);
    assert_eq!(predictions(&wd.read("out.csv")), kept);
    assert_eq!(
        wd.fails(&["--on-error", "skip", "--rejects", "r.parquet"], 2).error(),
        "--rejects r.parquet: rejected rows are written as CSV (line,reason,record); name the file .csv"
    );
}

#[test]
fn training_on_parquet_gives_the_model_of_the_same_rows_as_csv() {
    let wd = workdir("parquet_train");
    let features = "CRIM,ZN,INDUS,CHAS,NOX,RM,AGE,DIS,RAD,TAX,PTRATIO,B,LSTAT";
    for (data, out) in [("data/test.csv", "csv.bin"), ("pq/test.parquet", "pq.bin")] {
        wd.ok(&[
            "train",
            "-q",
            "--data",
            data,
            "--target",
            "MEDV",
            "--features",
            features,
            "--out",
            out,
        ]);
    }
    let (csv, pq) = (
        wd.inspect_json(Some("csv.bin")),
        wd.inspect_json(Some("pq.bin")),
    );
    assert_eq!(csv["coefficients"], pq["coefficients"]);
    assert_eq!(csv["intercept"], pq["intercept"]);
    assert_eq!(csv["features"], pq["features"]);
}

#[test]
fn a_tree_ensemble_scores_parquet_to_the_same_bytes_as_the_csv() {
    // model/gbr.bin: the seed's GradientBoostingRegressor, imported (tests/trees.rs).
    let wd = workdir("parquet_trees");
    let model = ["--model", "model/gbr.bin"];
    let plain = wd.ok(&["-q", model[0], model[1]]).output.stdout;
    let linear = wd.ok(&["-q"]).output.stdout;
    assert_ne!(
        plain, linear,
        "the tree model must not score as the linear one"
    );
    for threads in ["1", "3"] {
        let run = wd.ok(&[
            "-q",
            model[0],
            model[1],
            "--data",
            "pq/test.parquet",
            "--threads",
            threads,
        ]);
        assert_eq!(run.output.stdout, plain, "--threads {threads}");
    }
}

#[test]
fn every_thread_count_writes_the_same_bytes_over_row_groups_of_any_size_and_number() {
    let wd = workdir("parquet_threads_bytes");
    // One row group (fewer than the threads): test.parquet's features and ids written back
    // as Parquet by a run, which keeps their types.
    let features = "CRIM,ZN,INDUS,CHAS,NOX,RM,AGE,DIS,RAD,TAX,PTRATIO,B,LSTAT";
    let ids = format!("{features},house");
    wd.ok(&[
        "-q",
        "--data",
        "pq/test.parquet",
        "--id-column",
        &ids,
        "--output",
        "one.parquet",
    ]);
    let plain = wd.ok(&["-q"]).stdout();
    // test.parquet: six row groups of 10, 10, 10, 10, 10 and 1 rows; problems.parquet (with
    // its bad rows skipped): eight of 7 rows and one of 2.
    for data in ["pq/test.parquet", "one.parquet", "pq/problems.parquet"] {
        for output in ["out.csv", "out.parquet"] {
            for batch in ["3", "4096"] {
                let run = |threads: &str| {
                    let args = [
                        "-q",
                        "--data",
                        data,
                        "--id-column",
                        "house",
                        "--batch-rows",
                        batch,
                        "--threads",
                        threads,
                        "--output",
                        output,
                        "--on-error",
                        "skip",
                    ];
                    let code = wd.output(&mut wd.command(&args)).output.status.code();
                    assert_eq!(code, Some(if data.contains("problems") { 6 } else { 0 }));
                    std::fs::read(wd.path(output)).unwrap()
                };
                let one = run("1");
                if output == "out.csv" && !data.contains("problems") {
                    let text = String::from_utf8(one.clone()).unwrap();
                    let scored: Vec<&str> = text
                        .lines()
                        .skip(1)
                        .map(|l| l.split(',').nth(1).unwrap())
                        .collect();
                    assert_eq!(scored, plain.lines().skip(1).collect::<Vec<_>>(), "{data}");
                }
                for threads in ["2", "3", "4", "8"] {
                    assert!(
                        run(threads) == one,
                        "{data} to {output}, --batch-rows {batch}: --threads {threads} differs from 1"
                    );
                }
            }
        }
    }
}

#[test]
fn row_problems_are_told_in_row_order_on_any_thread_count_and_in_shards() {
    let wd = workdir("parquet_problems_threads");
    let plain = predictions(&wd.ok(&["-q"]).stdout());
    let reasons = [
        "3,\"row 3: column LSTAT: expected a number, found null\"",
        "17,\"row 17: column CRIM: expected a number, found null\"",
        "18,\"row 18: column LSTAT: expected a number, found null\"",
        "25,\"row 25: column NOX: expected a finite number, found -inf\"",
        "40,\"row 40: column LSTAT: expected a number, found null\"",
        "51,\"row 51: column RM: expected a finite number, found NaN\"",
    ];
    let kept: Vec<f64> = plain
        .iter()
        .enumerate()
        .filter(|(i, _)| ![3, 17, 18, 25, 40, 51].contains(&(i + 1)))
        .map(|(_, p)| *p)
        .collect();
    for threads in ["1", "2", "4"] {
        for batch in ["4", "4096"] {
            let args = [
                "-q",
                "--data",
                "pq/problems.parquet",
                "--threads",
                threads,
                "--batch-rows",
                batch,
            ];
            assert_eq!(
                wd.fails(&args, 3).error(),
                "pq/problems.parquet: row 3: column LSTAT: expected a number, found null",
                "--threads {threads} --batch-rows {batch}"
            );
            let skip = [
                "--on-error",
                "skip",
                "--rejects",
                "rejects.csv",
                "--output",
                "out.csv",
            ];
            wd.fails(&[&args[..], &skip[..]].concat(), 6);
            let rejects = wd.read("rejects.csv");
            let told: Vec<&str> = rejects
                .lines()
                .skip(1)
                .map(|l| &l[..l.find("\",").expect("a reason then a record") + 1])
                .collect();
            assert_eq!(told, reasons, "--threads {threads} --batch-rows {batch}");
            assert_eq!(predictions(&wd.read("out.csv")), kept);
            // Shards of 7-row groups: each tells its own rows' problems, by their file rows.
            let mut joined_out = String::new();
            let mut joined_rejects = Vec::new();
            let (part, part_rejects) = (
                format!("part-{threads}-{batch}-{{index}}.csv"),
                format!("rejects-{threads}-{batch}-{{index}}.csv"),
            );
            for index in ["0", "1", "2"] {
                let shard = [
                    "--on-error",
                    "skip",
                    "--shard-index",
                    index,
                    "--shard-count",
                    "3",
                    "--rejects",
                    &part_rejects,
                    "--output",
                    &part,
                ];
                wd.fails(&[&args[..], &shard[..]].concat(), 6);
                let named = |template: &str| template.replace("{index}", index);
                joined_out.push_str(&wd.read(&named(&part)));
                joined_rejects.extend(
                    wd.read(&named(&part_rejects))
                        .lines()
                        .skip(1)
                        .map(String::from),
                );
            }
            assert_eq!(predictions(&joined_out), kept);
            let whole: Vec<String> = rejects.lines().skip(1).map(String::from).collect();
            assert_eq!(joined_rejects, whole);
        }
    }
}

/// data/test.csv's rows as a Parquet file of required doubles, in row groups of `group` rows,
/// with the cells `(row from 1, column, value)` replaced.
fn doubles_parquet(wd: &Workdir, name: &str, group: usize, cells: &[(usize, usize, f64)]) {
    use parquet::data_type::DoubleType;
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;
    use std::sync::Arc;

    let text = wd.read("data/test.csv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let mut rows: Vec<Vec<f64>> = lines
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    for &(row, column, value) in cells {
        rows[row - 1][column] = value;
    }
    let fields: String = header
        .iter()
        .map(|n| format!("required double {n};"))
        .collect();
    let schema = Arc::new(parse_message_type(&format!("message m {{ {fields} }}")).unwrap());
    let mut out = Vec::new();
    let props = Arc::new(WriterProperties::builder().build());
    let mut writer = SerializedFileWriter::new(&mut out, schema, props).unwrap();
    for chunk in rows.chunks(group) {
        let mut row_group = writer.next_row_group().unwrap();
        for c in 0..header.len() {
            let mut column = row_group.next_column().unwrap().unwrap();
            let values: Vec<f64> = chunk.iter().map(|r| r[c]).collect();
            column
                .typed::<DoubleType>()
                .write_batch(&values, None, None)
                .unwrap();
            column.close().unwrap();
        }
        row_group.close().unwrap();
    }
    writer.close().unwrap();
    wd.create(name, out);
}

#[test]
fn predictions_that_overflow_are_told_in_row_order_on_any_thread_count() {
    let wd = workdir("parquet_overflow_threads");
    let plain = predictions(&wd.ok(&["-q"]).stdout());
    // NOX (weight about -17) beyond f64 either way in rows 5 and 23: their predictions are
    // found unwritable by the scoring workers, after the rows were read.
    doubles_parquet(&wd, "bad.parquet", 10, &[(5, 4, 1e308), (23, 4, -1e308)]);
    let reason = "the prediction is beyond the range of f64; are the values in the right units?";
    let kept: Vec<f64> = plain
        .iter()
        .enumerate()
        .filter(|(i, _)| ![5, 23].contains(&(i + 1)))
        .map(|(_, p)| *p)
        .collect();
    for threads in ["1", "2", "4"] {
        for batch in ["3", "4096"] {
            let case = format!("--threads {threads} --batch-rows {batch}");
            let args = [
                "-q",
                "--data",
                "bad.parquet",
                "--threads",
                threads,
                "--batch-rows",
                batch,
            ];
            let out = ["--output", "out.csv", "--overwrite"];
            let run = wd.fails(&[&args[..], &out[..]].concat(), 3);
            assert_eq!(
                run.error(),
                format!("bad.parquet: row 5: {reason}"),
                "{case}"
            );
            let skip = ["--on-error", "skip", "--rejects", "rejects.csv"];
            wd.fails(&[&args[..], &out[..], &skip[..]].concat(), 6);
            assert_eq!(
                wd.read("rejects.csv"),
                format!("row,reason,record\n5,row 5: {reason},\n23,row 23: {reason},\n"),
                "{case}"
            );
            assert_eq!(predictions(&wd.read("out.csv")), kept, "{case}");
            let budget = [&args[..], &out[..], &skip[..], &["--max-errors", "1"]].concat();
            assert_eq!(
                wd.fails(&budget, 3).error(),
                format!(
                    "bad.parquet: more than 1 rows rejected (--max-errors 1); the last: \
                     bad.parquet: row 23: {reason}"
                ),
                "{case}"
            );
        }
    }
}
