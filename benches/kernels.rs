//! Micro-benchmarks of the scoring kernels: parse a block of rows into a batch, predict a
//! batch, encode predictions. Each checks its answer so a broken kernel cannot look fast.
//! Run with `cargo bench --bench kernels`; the whole-process comparison is benches/run.py.

use batch_inference::model::linear::predict_into;
use batch_inference::output::{Encoder, Format};
use batch_inference::read::batch::Batch;
use batch_inference::read::block::Block;
use batch_inference::read::cpu::LineReader;
use batch_inference::read::cursor::Cursor;
use batch_inference::read::fill_batch;
use batch_inference::read::header::Header;
use batch_inference::read::number::parse_number;
use batch_inference::read::selection::Selection;
use divan::{black_box, Bencher};
use ndarray::{Array1, Array2};

const HEADER: &str = "CRIM,ZN,INDUS,CHAS,NOX,RM,AGE,DIS,RAD,TAX,PTRATIO,B,LSTAT,MEDV";
/// The real Boston rows (train split): varied lengths, so a branch predictor cannot learn the
/// block by heart as it would a few repeated rows.
const TRAIN: &str = include_str!("../data/train.csv");
const FEATURES: usize = 13;
const BATCH: usize = 4096;

fn main() {
    divan::main();
}

fn selection() -> Selection {
    let names: Vec<String> = HEADER.split(',').map(String::from).collect();
    let header = Header::parse("bench.csv", &csv::ByteRecord::from(names.clone())).unwrap();
    Selection::new(&header, &names[..FEATURES], "feature", &[]).unwrap()
}

/// A block of `BATCH` rows, like a worker receives.
fn block(quoted: bool) -> Block {
    let rows: Vec<&str> = TRAIN.lines().skip(1).collect();
    assert_eq!(TRAIN.lines().next(), Some(HEADER));
    let mut data = Vec::new();
    for i in 0..BATCH {
        let row = rows[i % rows.len()];
        if quoted {
            let fields: Vec<String> = row.split(',').map(|f| format!("\"{f}\"")).collect();
            data.extend_from_slice(fields.join(",").as_bytes());
        } else {
            data.extend_from_slice(row.as_bytes());
        }
        data.push(b'\n');
    }
    Block {
        seq: 0,
        data,
        quoted,
    }
}

/// `plain`: the reader a plain block gets on this CPU (the vector one where it has AVX-512);
/// `scalar`: the one-pass scalar reader; `avx2`: the AVX2 line reader (the scalar one where the
/// CPU lacks AVX2); `quoted`: csv-core.
#[divan::bench(args = ["plain", "scalar", "avx2", "quoted"])]
fn parse_block_into_batch(bencher: Bencher, reader: &str) {
    let selection = match reader {
        "scalar" => selection().without_vector_reader(),
        "avx2" => selection().with_line_reader(LineReader::Avx2),
        _ => selection(),
    };
    let block = block(reader == "quoted");
    let mut batch = Batch::new(BATCH, FEATURES);
    let mut cursor = Cursor::default();
    bencher
        .counter(divan::counter::BytesCount::new(block.data.len()))
        .bench_local(|| {
            cursor.reset();
            batch.clear();
            fill_batch(&selection, black_box(&block), &mut cursor, &mut batch, None).unwrap();
            assert_eq!(batch.rows, BATCH);
        });
}

/// The limit a general scalar parser sets, for comparison with `parse_block_into_batch`: the
/// same block split on line breaks and commas and each of the 13 numbers a row read by the
/// standard library's `f64::from_str` (the Eisel-Lemire / fast_float algorithm, correctly
/// rounded), into the same batch layout.
#[divan::bench]
fn parse_block_with_std(bencher: Bencher) {
    let block = block(false);
    let mut x = vec![0.0f64; BATCH * FEATURES];
    bencher
        .counter(divan::counter::BytesCount::new(block.data.len()))
        .bench_local(|| {
            let text = std::str::from_utf8(black_box(&block.data)).unwrap();
            let mut rows = 0;
            for (line, row) in text.lines().zip(x.chunks_exact_mut(FEATURES)) {
                for (field, value) in line.split(',').zip(row.iter_mut()) {
                    *value = field.parse().unwrap();
                }
                rows += 1;
            }
            assert_eq!(rows, BATCH);
            assert!(x[BATCH * FEATURES - 1].is_finite());
        });
}

#[divan::bench(args = ["0", "394.33", "0.00632", "2.96e2"])]
fn parse_one_number(text: &str) -> f64 {
    let value = parse_number(black_box(text.as_bytes())).unwrap();
    assert!(value.is_finite());
    value
}

#[divan::bench]
fn predict_a_batch(bencher: Bencher) {
    let x = Array2::from_shape_fn((BATCH, FEATURES), |(i, j)| (i * FEATURES + j) as f64 * 1e-3);
    let w = Array1::from_shape_fn(FEATURES, |j| j as f64 - 6.0);
    let mut out = Array1::zeros(BATCH);
    bencher
        .counter(divan::counter::ItemsCount::new(BATCH))
        .bench_local(|| {
            predict_into(black_box(x.view()), &w, 36.0, out.view_mut());
            assert!(out[BATCH - 1].is_finite());
        });
}

#[divan::bench]
fn encode_a_batch(bencher: Bencher) {
    let predictions: Vec<f64> = (0..BATCH).map(|i| 22.5 + (i as f64).sqrt()).collect();
    let encoder = Encoder::new(Format::Csv, &[]);
    let mut out = Vec::with_capacity(BATCH * 20);
    bencher
        .counter(divan::counter::ItemsCount::new(BATCH))
        .bench_local(|| {
            out.clear();
            encoder.encode(black_box(&predictions), None, &mut out);
            assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), BATCH);
        });
}
