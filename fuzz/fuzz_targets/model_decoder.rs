//! Any bytes as a model file: a model or a clean error, never a panic, a hang or a huge
//! allocation. The same bytes are also tried as a payload behind a right header and checksum,
//! so the fuzzer reaches the bincode decoder instead of stopping at the checksum, as format
//! version 3 (a linear model's) and 4 (a tree model's). A model that decodes also predicts a
//! few rows, so a tree that passed the checks must be walkable: in bounds, and ending.

#![no_main]

use batch_inference::model::predictor::Predictor;
use batch_inference::model::{ModelFile, FORMAT_VERSION, MAGIC};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

/// `payload` with a header that passes every check before the decoder.
fn wrapped(payload: &[u8], version: u32) -> Vec<u8> {
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&version.to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&Sha256::digest(payload));
    bytes.extend_from_slice(payload);
    bytes
}

fuzz_target!(|data: &[u8]| {
    for bytes in [
        data.to_vec(),
        wrapped(data, 3),
        wrapped(data, FORMAT_VERSION),
    ] {
        if let Ok(model) = ModelFile::from_bytes("fuzz.bin", &bytes) {
            // Rows of zeros, NaN, and values around the data's scale.
            let width = model.features.len();
            let cells = [0.0, f64::NAN, -1.5, 1e9, 0.5, f64::INFINITY];
            let x = ndarray::Array2::from_shape_fn((cells.len(), width), |(i, j)| {
                cells[(i + j) % cells.len()]
            });
            let mut out = ndarray::Array1::zeros(cells.len());
            Predictor::new(&model).predict_into(x.view(), out.view_mut());
            // What decodes is a model we could have written: it survives a round trip.
            let encoded = model.to_bytes();
            let again = ModelFile::from_bytes("fuzz.bin", &encoded).expect("our own encoding");
            assert_eq!(again.to_bytes(), encoded);
        }
    }
});
