//! Any bytes as the input CSV: scoring ends in predictions or a clean error, never a panic or a
//! hang, and the same ones however the input is cut into blocks, batches and threads. The
//! training reader, on the same bytes, agrees about the rows, and every vector line reader the
//! CPU runs (AVX2, AVX-512) agrees with the scalar readers about every row, value and reject.

#![no_main]

use batch_inference::log::{LogFormat, Logger};
use batch_inference::model::{Algorithm, FitMetrics, ModelFile, Solver};
use batch_inference::output::{Format, Sink};
use batch_inference::read::batch::Batch;
use batch_inference::read::block::BlockSource;
use batch_inference::read::cpu::{runnable, LineReader};
use batch_inference::read::cursor::Cursor;
use batch_inference::read::fill_batch;
use batch_inference::read::header::Header;
use batch_inference::read::reader::BatchReader;
use batch_inference::read::selection::Selection;
use batch_inference::score::{score_stream, ScoreOptions};
use libfuzzer_sys::fuzz_target;

/// The bundled model's features, so the seeds (data/test.csv and variants) get past the header.
const FEATURES: [&str; 13] = [
    "CRIM", "ZN", "INDUS", "CHAS", "NOX", "RM", "AGE", "DIS", "RAD", "TAX", "PTRATIO", "B", "LSTAT",
];

fn model() -> ModelFile {
    ModelFile {
        algorithm: Algorithm::Ols,
        standardize: false,
        solver: Solver::Qr,
        target: "MEDV".into(),
        features: FEATURES.iter().map(|f| f.to_string()).collect(),
        coefficients: (0..13).map(|i| 0.25 - 0.125 * f64::from(i)).collect(),
        intercept: 36.5,
        train: FitMetrics {
            rows: 0,
            mse: 0.0,
            r2: 0.0,
        },
        holdout: None,
        cv: None,
        training_sha256: String::new(),
        source: None,
        trees: None,
    }
}

/// Scores `data` cut in one way; the output bytes, or the error message.
fn score(
    data: &[u8],
    threads: usize,
    block_size: usize,
    batch_rows: usize,
) -> Result<Vec<u8>, String> {
    let options = ScoreOptions {
        format: Format::Csv,
        id_columns: vec![],
        batch_rows,
        threads,
        block_size,
    };
    let mut sink = Sink::Memory(Vec::new());
    let progress = Logger::new(true, LogFormat::Text).progress(None);
    score_stream("fuzz.csv", data, &model(), &options, &mut sink, progress)
        .map_err(|e| e.to_string())?;
    match sink {
        Sink::Memory(bytes) => Ok(bytes),
        _ => unreachable!("a memory sink stays one"),
    }
}

/// Reads `data` as training does; the rows read, or the error message.
fn read_rows(data: &[u8]) -> Result<usize, String> {
    let mut reader = BatchReader::new("fuzz.csv", data).map_err(|e| e.to_string())?;
    let names: Vec<String> = FEATURES.iter().map(|f| f.to_string()).collect();
    reader
        .select(&names, "feature", &[])
        .map_err(|e| e.to_string())?;
    let mut batch = Batch::new(7, names.len());
    let mut rows = 0;
    loop {
        match reader.read_batch(&mut batch).map_err(|e| e.to_string())? {
            0 => return Ok(rows),
            n => rows += n,
        }
    }
}

/// Everything a selection reads from `data`'s blocks: each row's bits, each reject, and the
/// line count, block by block, with `reader` for lines of plain numbers; `None` if the header
/// or the features do not make a selection.
fn rows_read(data: &[u8], reader: LineReader) -> Option<Vec<String>> {
    let (mut source, header) = BlockSource::new("fuzz.csv", data, 1 << 16).ok()?;
    let header = Header::parse("fuzz.csv", &csv::ByteRecord::from(header.fields)).ok()?;
    let names: Vec<String> = FEATURES.iter().map(|f| f.to_string()).collect();
    let selection = Selection::new(&header, &names, "feature", &[])
        .ok()?
        .with_line_reader(reader);
    let mut seen = Vec::new();
    let mut batch = Batch::new(5, names.len());
    while let Ok(Some(block)) = source.next_block(Vec::new()) {
        let (mut cursor, mut rejects) = (Cursor::default(), Vec::new());
        while cursor.pos < block.data.len() {
            batch.clear();
            fill_batch(
                &selection,
                &block,
                &mut cursor,
                &mut batch,
                Some(&mut rejects),
            )
            .ok()?;
            for row in batch.x.rows().into_iter().take(batch.rows) {
                seen.push(format!(
                    "{:?}",
                    row.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
                ));
            }
            if batch.rows == 0 {
                break;
            }
        }
        seen.extend(rejects.iter().map(|r| format!("{r:?}")));
        seen.push(format!("{} lines", cursor.newlines));
    }
    Some(seen)
}

fuzz_target!(|data: &[u8]| {
    let scalar = rows_read(data, LineReader::Scalar);
    for reader in runnable() {
        assert_eq!(
            rows_read(data, reader),
            scalar,
            "{reader:?} and scalar readers"
        );
    }
    // One block (inputs are far shorter than 64 KiB) and one batch...
    let reference = score(data, 1, 1 << 16, 256);
    // ...against small blocks and batches, sized by the input's length, which move every
    // boundary around, and (for one input in four, as threads are slow to start) threads.
    let block_size = 1 + data.len() % 97;
    let batch_rows = 1 + data.len() % 7;
    let threads = if data.len() % 4 == 0 { 3 } else { 1 };
    assert_eq!(
        score(data, threads, block_size, batch_rows),
        reference,
        "{threads} threads, blocks of {block_size} bytes, batches of {batch_rows} rows"
    );
    match (&reference, read_rows(data)) {
        (Ok(out), Ok(rows)) => {
            let lines = out.iter().filter(|&&b| b == b'\n').count();
            assert_eq!(lines, rows + 1, "rows scored and rows read");
        }
        // Only scoring computes predictions, and so only scoring can overflow.
        (Err(message), Ok(_)) => assert!(message.contains("beyond the range of f64"), "{message}"),
        (Ok(_), Err(message)) => panic!("scoring succeeds where reading fails: {message}"),
        (Err(a), Err(b)) => assert_eq!(a, &b, "scoring and reading fail differently"),
    }
});
