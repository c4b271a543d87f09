//! The imported model's feature names, the CSV columns scoring will read.
//!
//! They come from the model when it has them (one graph input per column, or an MLflow
//! signature of columns, which must then agree with each other), else from `--features`. When
//! both the model and `--features` name the columns, they must say the same: a difference is
//! a usage error naming the first one, since scoring would read the wrong columns.

use std::collections::HashSet;

use crate::error::{Error, Result};
use crate::import::mlflow::Signature;

/// The names given beside the ONNX file.
#[derive(Debug, Clone, Copy, Default)]
pub struct Given<'a> {
    /// `--features`, when given.
    pub features: Option<&'a [String]>,
    /// An MLflow model's `MLmodel` file and its signature's inputs, when there are any.
    pub signature: Option<(&'a str, &'a Signature)>,
}

/// The names of the `p` columns of the graph input `input`: from its per-column inputs (`columns`),
/// the signature, or `--features`.
pub fn choose(
    path: &str,
    input: &str,
    p: usize,
    columns: Option<Vec<String>>,
    given: &Given,
) -> Result<Vec<String>> {
    let mut from_model =
        columns.map(|names| (names, "the graph's per-column inputs name".to_string()));
    match given.signature {
        Some((mlmodel, Signature::Columns(names))) => {
            if names.len() != p {
                return Err(Error::model(
                    mlmodel,
                    format!(
                        "the signature names {} input columns, but the ONNX graph of {path} \
                         reads {p}; the signature does not describe this model",
                        names.len()
                    ),
                ));
            }
            let mut seen = HashSet::new();
            if let Some(twice) = names.iter().find(|n| !seen.insert(n.as_str())) {
                return Err(Error::model(
                    mlmodel,
                    format!("the signature names the column {twice} twice"),
                ));
            }
            if let Some((graph_names, _)) = &from_model {
                if let Some(j) = (0..p).find(|&j| names[j] != graph_names[j]) {
                    return Err(Error::model(
                        mlmodel,
                        format!(
                            "the signature names column {} {}, but the graph's input {} is \
                             named {}; the signature does not describe this model",
                            j + 1,
                            names[j],
                            j + 1,
                            graph_names[j]
                        ),
                    ));
                }
            }
            from_model = Some((names.clone(), format!("the signature in {mlmodel} names")));
        }
        Some((mlmodel, Signature::Tensor { width: Some(width) })) if *width != p => {
            return Err(Error::model(
                mlmodel,
                format!(
                    "the signature's tensor has {width} columns, but the ONNX graph of {path} \
                     reads {p}; the signature does not describe this model"
                ),
            ));
        }
        _ => {}
    }
    let Some(features) = given.features else {
        return match from_model {
            Some((names, _)) => Ok(names),
            None => Err(Error::Usage(format!(
                "{path}: the ONNX input {} is one tensor of {p} columns with no names; name \
                 them with --features A,B,... ({p} names, in the order of the columns)",
                input
            ))),
        };
    };
    if features.len() != p {
        return Err(Error::Usage(format!(
            "--features names {} columns, but the ONNX input {} of {path} has {p}; give {p} \
             names",
            features.len(),
            input,
        )));
    }
    let mut seen = HashSet::new();
    if let Some(twice) = features.iter().find(|f| !seen.insert(f.as_str())) {
        return Err(Error::Usage(format!(
            "--features names {twice} twice; each column needs its own name"
        )));
    }
    if let Some(empty) = features.iter().position(String::is_empty) {
        return Err(Error::Usage(format!(
            "--features: name {} is empty; give every column a name",
            empty + 1
        )));
    }
    if let Some((names, source)) = &from_model {
        if let Some(j) = (0..p).find(|&j| features[j] != names[j]) {
            return Err(Error::Usage(format!(
                "--features names column {} {}, but {source} it {}; leave out \
                 --features to use the model's names, or give them in the model's order",
                j + 1,
                features[j],
                names[j]
            )));
        }
    }
    Ok(features.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn a_signature_names_the_columns_unless_the_graph_names_them_otherwise() {
        let signature = Signature::Columns(strings(&["a", "b"]));
        let given = Given {
            features: None,
            signature: Some(("m/MLmodel", &signature)),
        };
        assert_eq!(choose("m.onnx", "X", 2, None, &given).unwrap(), ["a", "b"]);
        let err = choose("m.onnx", "X", 2, Some(strings(&["a", "c"])), &given).unwrap_err();
        assert_eq!(
            err.to_string(),
            "m/MLmodel: invalid model file: the signature names column 2 b, but the graph's \
             input 2 is named c; the signature does not describe this model"
        );
        assert_eq!(err.exit_code(), 4);
    }

    #[test]
    fn a_tensor_signature_of_another_width_is_a_model_error() {
        let signature = Signature::Tensor { width: Some(3) };
        let given = Given {
            features: None,
            signature: Some(("m/MLmodel", &signature)),
        };
        let err = choose("m.onnx", "X", 2, None, &given).unwrap_err();
        assert_eq!(
            err.to_string(),
            "m/MLmodel: invalid model file: the signature's tensor has 3 columns, but the ONNX \
             graph of m.onnx reads 2; the signature does not describe this model"
        );
    }

    #[test]
    fn features_must_match_the_signature_names_in_order() {
        let signature = Signature::Columns(strings(&["a", "b"]));
        let features = strings(&["a", "x"]);
        let given = Given {
            features: Some(&features),
            signature: Some(("m/MLmodel", &signature)),
        };
        let err = choose("m.onnx", "X", 2, None, &given).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--features names column 2 x, but the signature in m/MLmodel names it b; leave out \
             --features to use the model's names, or give them in the model's order"
        );
        assert_eq!(err.exit_code(), 2);
    }
}
