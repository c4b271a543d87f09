//! Compressed CSV in and out: gzip and zstd inputs read as their text, `.gz` and `.zst`
//! outputs written compressed and whole. The compressed fixtures are made here, with the
//! same crates the binary uses (gzip at the default level, zstd at level 3).

use std::io::{Read, Write};

use crate::util::{repeated_rows, Workdir};

fn gzip(text: &[u8]) -> Vec<u8> {
    let mut out = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    out.write_all(text).unwrap();
    out.finish().unwrap()
}

fn zstd(text: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(text, 3).unwrap()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// A workdir whose data/ also holds data/test.csv gzipped (test.csv.gz) and zstd-compressed
/// (test.csv.zst), and data/train.csv likewise.
fn workdir(name: &str) -> Workdir {
    let wd = Workdir::new(name);
    for file in ["test", "train"] {
        let text = std::fs::read(wd.path(&format!("data/{file}.csv"))).unwrap();
        wd.create(&format!("data/{file}.csv.gz"), gzip(&text));
        wd.create(&format!("data/{file}.csv.zst"), zstd(&text));
    }
    wd
}

#[test]
fn gzip_and_zstd_data_score_to_the_same_bytes_as_the_plain_file() {
    let wd = workdir("compressed_score");
    let plain = wd.ok(&["-q"]).output.stdout;
    for data in ["data/test.csv.gz", "data/test.csv.zst"] {
        assert_eq!(
            wd.ok(&["-q", "--data", data]).output.stdout,
            plain,
            "{data}"
        );
    }
}

#[test]
fn a_compressed_file_is_known_by_its_magic_bytes_under_another_name_and_on_standard_input() {
    let wd = workdir("compressed_magic");
    let plain = wd.ok(&["-q"]).output.stdout;
    let gz = std::fs::read(wd.path("data/test.csv.gz")).unwrap();
    let zst = std::fs::read(wd.path("data/test.csv.zst")).unwrap();
    wd.create("gzip.csv", &gz);
    wd.create("zstd.txt", &zst);
    for data in ["gzip.csv", "zstd.txt"] {
        assert_eq!(
            wd.ok(&["-q", "--data", data]).output.stdout,
            plain,
            "{data}"
        );
    }
    for bytes in [&gz, &zst] {
        assert_eq!(
            wd.ok_with_stdin(&["-q", "--data", "-"], bytes)
                .output
                .stdout,
            plain
        );
    }
}

#[test]
fn concatenated_gzip_members_are_read_to_the_end() {
    let wd = workdir("compressed_members");
    let plain = wd.ok(&["-q"]).output.stdout;
    let text = std::fs::read(wd.path("data/test.csv")).unwrap();
    // As `cat a.gz b.gz` makes: the second member starts mid-row.
    let mut members = gzip(&text[..1000]);
    members.extend(gzip(&text[1000..]));
    wd.create("members.csv.gz", members);
    assert_eq!(
        wd.ok(&["-q", "--data", "members.csv.gz"]).output.stdout,
        plain
    );
}

#[test]
fn training_on_compressed_data_and_holdout_gives_the_same_model_and_the_text_s_checksum() {
    let wd = workdir("compressed_train");
    let train = |data: &str, holdout: &str, out: &str| {
        let args = [
            "train",
            "--data",
            data,
            "--target",
            "MEDV",
            "--holdout",
            holdout,
            "--out",
        ];
        wd.mkdir(out);
        let model = format!("{out}/model.bin");
        let mut all = args.to_vec();
        all.push(&model);
        wd.ok(&all);
        let meta: serde_json::Value =
            serde_json::from_str(&wd.read(&format!("{out}/metadata.json"))).unwrap();
        (wd.inspect_json(Some(&model)), meta)
    };
    let (plain, plain_meta) = train("data/train.csv", "data/test.csv", "plain");
    let (packed, packed_meta) = train("data/train.csv.gz", "data/test.csv.zst", "packed");
    assert_eq!(packed["coefficients"], plain["coefficients"]);
    assert_eq!(packed["intercept"], plain["intercept"]);
    assert_eq!(packed_meta["holdout"]["r2"], plain_meta["holdout"]["r2"]);
    // The checksum is of the text read, so a file has one compressed or not:
    // sha256sum data/train.csv
    assert_eq!(
        packed_meta["training_sha256"],
        "85aef8b12a3af3879322c635178ebe758d4fb6023c8a02f3eba7fff16fbf1ad1"
    );
    assert_eq!(packed_meta["training_data"], "data/train.csv.gz");
}

#[test]
fn a_truncated_gzip_file_is_a_data_error_naming_it_and_writes_no_output() {
    let wd = workdir("compressed_truncated");
    let gz = std::fs::read(wd.path("data/test.csv.gz")).unwrap();
    wd.create("cut.csv.gz", &gz[..gz.len() / 2]);
    let run = wd.fails(&["--data", "cut.csv.gz", "--output", "p.csv"], 3);
    assert_eq!(
        run.error(),
        "cut.csv.gz: not valid gzip data (incomplete deflate stream); \
         the file is truncated or corrupt: copy or compress it again"
    );
    assert!(!wd.path("p.csv").exists());
    assert_eq!(wd.list("."), ["cut.csv.gz", "data", "model"]);
}

#[test]
fn a_corrupt_zstd_file_is_a_data_error_naming_it_and_writes_no_output() {
    let wd = workdir("compressed_corrupt");
    let mut zst = std::fs::read(wd.path("data/test.csv.zst")).unwrap();
    // Past the frame header: the first block's contents.
    for byte in &mut zst[20..60] {
        *byte ^= 0x55;
    }
    wd.create("bad.csv.zst", &zst);
    let run = wd.fails(&["--data", "bad.csv.zst", "--output", "p.csv.zst"], 3);
    assert_eq!(
        run.error(),
        "bad.csv.zst: not valid zstd data (data corruption detected); \
         the file is truncated or corrupt: copy or compress it again"
    );
    assert_eq!(wd.list("."), ["bad.csv.zst", "data", "model"]);
}

#[test]
fn outputs_named_gz_or_zst_are_compressed_and_hold_exactly_the_plain_output() {
    let wd = workdir("compressed_output");
    let plain = wd.ok(&["-q"]).output.stdout;
    wd.ok(&["-q", "--output", "p.csv.gz"]);
    assert_eq!(gunzip(&std::fs::read(wd.path("p.csv.gz")).unwrap()), plain);
    wd.ok(&["-q", "--output", "p.csv.zst"]);
    let zst = std::fs::read(wd.path("p.csv.zst")).unwrap();
    assert_eq!(zstd::stream::decode_all(&zst[..]).unwrap(), plain);
    // Rejected rows likewise.
    let mut bad = std::fs::read_to_string(wd.path("data/test.csv")).unwrap();
    bad = bad.replacen("0.75026", "abc", 1);
    wd.create("bad.csv", &bad);
    let args = ["-q", "--data", "bad.csv", "--output", "q.csv"];
    let skip = ["--on-error", "skip", "--rejects", "r.csv.gz"];
    wd.fails(&[&args[..], &skip[..]].concat(), 6);
    let rejects = gunzip(&std::fs::read(wd.path("r.csv.gz")).unwrap());
    assert!(
        rejects.starts_with(b"line,reason,record\n2,"),
        "{rejects:?}"
    );
}

#[test]
fn sharding_a_compressed_file_is_a_usage_error_that_suggests_a_file_per_shard() {
    let wd = workdir("compressed_shard");
    wd.create(
        "misnamed.csv",
        std::fs::read(wd.path("data/test.csv.zst")).unwrap(),
    );
    for (data, format) in [("data/test.csv.gz", "gzip"), ("misnamed.csv", "zstd")] {
        let shard = [
            "--data",
            data,
            "--shard-count",
            "2",
            "--shard-index",
            "0",
            "--output",
            "p-{index}.csv",
        ];
        assert_eq!(
            wd.fails(&shard, 2).error(),
            format!(
                "--shard-count cuts --data by byte ranges, but {data} is {format} compressed and \
                 cannot be cut: shard by file instead (one compressed file per shard, each scored \
                 without --shard-count), or decompress it first"
            )
        );
    }
    assert_eq!(wd.list("."), ["data", "misnamed.csv", "model"]);
}

#[test]
fn a_large_compressed_file_scores_to_the_same_bytes_on_one_thread_and_four() {
    let wd = Workdir::new("compressed_threads");
    let text = repeated_rows("data/test.csv", 200_000);
    wd.create("big.csv", &text);
    wd.create("big.csv.gz", gzip(text.as_bytes()));
    wd.create("big.csv.zst", zstd(text.as_bytes()));
    let plain = wd.ok(&["-q", "--data", "big.csv"]).output.stdout;
    for data in ["big.csv.gz", "big.csv.zst"] {
        for threads in ["1", "4"] {
            let run = wd.ok(&["-q", "--data", data, "--threads", threads]);
            assert!(run.output.stdout == plain, "{data} on {threads} threads");
        }
    }
}
