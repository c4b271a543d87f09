//! Any bytes as a model file: a model or a clean error, never a panic, a hang or a huge
//! allocation. The same bytes are also tried as a payload behind a right header and checksum,
//! so the fuzzer reaches the bincode decoder instead of stopping at the checksum.

#![no_main]

use batch_inference::model::{ModelFile, FORMAT_VERSION, MAGIC};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

/// `payload` with a header that passes every check before the decoder.
fn wrapped(payload: &[u8]) -> Vec<u8> {
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&Sha256::digest(payload));
    bytes.extend_from_slice(payload);
    bytes
}

fuzz_target!(|data: &[u8]| {
    for bytes in [data.to_vec(), wrapped(data)] {
        if let Ok(model) = ModelFile::from_bytes("fuzz.bin", &bytes) {
            // What decodes is a model we could have written: it survives a round trip.
            let encoded = model.to_bytes();
            let again = ModelFile::from_bytes("fuzz.bin", &encoded).expect("our own encoding");
            assert_eq!(again.to_bytes(), encoded);
        }
    }
});
