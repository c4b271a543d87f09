//! What a file that is not an ONNX model looks like it is, so the refusal can say so: one of
//! our own model files, or text (a CSV, JSON, YAML) rather than a binary protobuf.

use crate::model::MAGIC;

/// A hint naming what `bytes` look like, when they are recognisably not ONNX.
pub fn hint(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&MAGIC) {
        return Some(
            "it is a batch_inference model file already: score it with --model, or show it \
             with inspect; import reads ONNX files",
        );
    }
    let head = &bytes[..bytes.len().min(512)];
    // Text: UTF-8 (a character may be cut at the end) with no control bytes but white space.
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&head[..e.valid_up_to()]).expect("valid up to there")
        }
        Err(_) => return None,
    };
    let printable = text.chars().all(|c| !c.is_control() || c.is_whitespace());
    if !printable || text.is_empty() {
        return None;
    }
    let first = text.lines().next().unwrap_or("");
    Some(if first.contains(',') {
        "it is text that looks like CSV; an ONNX model is a binary protobuf, as skl2onnx's \
         to_onnx writes (score a CSV with --data)"
    } else {
        "it is text; an ONNX model is a binary protobuf, as skl2onnx's to_onnx writes"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_model_files_csv_and_text_are_recognised_and_onnx_is_not() {
        let mut ours = MAGIC.to_vec();
        ours.extend_from_slice(&[3, 0, 0, 0]);
        assert!(hint(&ours)
            .unwrap()
            .starts_with("it is a batch_inference model file"));
        assert!(hint(b"CRIM,ZN\n1,2\n").unwrap().contains("looks like CSV"));
        assert!(hint("flavors:\n  é".as_bytes())
            .unwrap()
            .starts_with("it is text;"));
        // An ONNX file starts with field 1 (the IR version): byte 0x08, a control byte.
        assert_eq!(hint(b"\x08\x0a\x12\x08skl2onnx"), None);
        assert_eq!(hint(b""), None);
    }
}
