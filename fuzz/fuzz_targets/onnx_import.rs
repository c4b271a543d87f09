//! Any bytes as an ONNX file: an imported model or a clean error, never a panic, a hang or a
//! huge allocation. The bytes go through `import::convert`, what `batch_inference import` runs
//! on a file's contents, once without names and once with `--features` of one to three names,
//! so the fuzzer also reaches the folding past the naming checks.

#![no_main]

use batch_inference::import::{convert, names::Given};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    for width in 0..=3 {
        let given = Given {
            features: (width > 0).then(|| &names[..width]),
            signature: None,
        };
        if let Ok(model) = convert("fuzz.onnx", data, &given) {
            // What imports is a model we can write and read back.
            let bytes = model.to_bytes();
            let again = batch_inference::model::ModelFile::from_bytes("fuzz.bin", &bytes)
                .expect("our own encoding of an imported model");
            assert_eq!(again.features, model.features);
        }
    }
});
