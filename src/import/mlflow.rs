//! An MLflow model directory: its `MLmodel` file says where the ONNX file is (the `onnx`
//! flavor's `data`) and, in its signature, what the input columns are called.
//!
//! `MLmodel` is YAML, as `mlflow.models.Model.save` writes it with PyYAML's `safe_dump`:
//!
//! ```yaml
//! flavors:
//!   onnx:
//!     data: model.onnx
//!   python_function: {...}
//! signature:
//!   inputs: '[{"type": "double", "name": "CRIM", "required": true}, ...]'
//! ```
//!
//! The signature's inputs are a JSON string: a column spec per column (`type`, `name`), or one
//! tensor spec (`{"type": "tensor", "tensor-spec": {"dtype", "shape"}}`) which names nothing.
//! The YAML is read event by event (yaml-rust2's parser) into a small tree that refuses
//! aliases and deep nesting, so a hostile file cannot make it grow without bound.

use std::fs;
use std::io::Read;
use std::path::Path;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

use crate::error::{Error, Result};

/// The name of the file that makes a directory an MLflow model.
pub const MLMODEL: &str = "MLmodel";

/// The largest `MLmodel` read: MLflow's are about 2 KB.
const MAX_MLMODEL: u64 = 1 << 20;

/// How deep the YAML may nest: MLflow's nests three levels.
const MAX_DEPTH: usize = 16;

/// What the signature says of the model's inputs.
#[derive(Debug, Clone, PartialEq)]
pub enum Signature {
    /// One column spec per input column: their names, in order.
    Columns(Vec<String>),
    /// One tensor spec: no names; its number of columns when the shape says.
    Tensor {
        /// The last dimension of the shape, when it is known.
        width: Option<usize>,
    },
}

/// An MLflow model directory, read.
#[derive(Debug, Clone, PartialEq)]
pub struct MlflowModel {
    /// The `MLmodel` file, as a path in the user's spelling.
    pub mlmodel: String,
    /// The ONNX file the `onnx` flavor names, as a path in the user's spelling.
    pub onnx: String,
    /// The signature's inputs, when it has any.
    pub signature: Option<Signature>,
}

/// Reads the MLflow model directory `dir`: usage error (exit 2) when it is not one, model
/// error (exit 4) when it is one that cannot be imported.
pub fn read(dir: &str) -> Result<MlflowModel> {
    let mlmodel = Path::new(dir).join(MLMODEL).to_string_lossy().into_owned();
    let file = match fs::File::open(&mlmodel) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Usage(format!(
                "{dir} is a directory without an {MLMODEL} file; import takes an ONNX file \
                 (model.onnx) or an MLflow model directory (one holding {MLMODEL})"
            )))
        }
        Err(e) => return Err(Error::io(&mlmodel, "open", e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_MLMODEL + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(&mlmodel, "read", e))?;
    if bytes.len() as u64 > MAX_MLMODEL {
        return Err(Error::model(
            &mlmodel,
            format!("over {MAX_MLMODEL} bytes; an MLmodel file is a few kilobytes of YAML"),
        ));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::model(&mlmodel, "not UTF-8 text; an MLmodel file is YAML"))?;
    let parsed = parse(&text).map_err(|m| Error::model(&mlmodel, m))?;
    let (data, signature) = interpret(&parsed).map_err(|m| Error::model(&mlmodel, m))?;
    let onnx = Path::new(dir).join(&data).to_string_lossy().into_owned();
    if !Path::new(&onnx).is_file() {
        return Err(Error::model(
            &mlmodel,
            format!(
                "the onnx flavor's data file {data} is not in {dir} ({onnx} is missing or not a \
                 file); copy the whole MLflow model directory"
            ),
        ));
    }
    Ok(MlflowModel {
        mlmodel,
        onnx,
        signature,
    })
}

/// The `onnx` flavor's data file and the signature's inputs, from a parsed `MLmodel`.
fn interpret(root: &Node) -> std::result::Result<(String, Option<Signature>), String> {
    let flavors = root
        .get("flavors")
        .ok_or("it has no flavors; an MLflow model lists them under the key flavors")?;
    let Node::Map(list) = flavors else {
        return Err("its flavors are not a mapping of flavor names".into());
    };
    let Some(onnx) = flavors.get("onnx") else {
        let names: Vec<&str> = list.iter().map(|(k, _)| k.as_str()).collect();
        let pickle = list
            .iter()
            .find_map(|(_, f)| {
                f.get("pickled_model")
                    .or_else(|| f.get("model_path"))
                    .and_then(Node::scalar)
            })
            .map(|p| format!(" ({p})"))
            .unwrap_or_default();
        return Err(format!(
            "it has the flavors {} but no onnx flavor; import does not load a pickle{pickle}, \
             since unpickling runs whatever code the file holds; export the model to ONNX \
             (skl2onnx.to_onnx(model, X[:1]), then mlflow.onnx.save_model) and import that",
            names.join(", ")
        ));
    };
    let data = onnx
        .get("data")
        .and_then(Node::scalar)
        .filter(|d| !d.is_empty())
        .ok_or("its onnx flavor names no data file (the key data, as model.onnx)")?;
    if Path::new(data).is_absolute() || data.split('/').any(|part| part == "..") {
        return Err(format!(
            "its onnx flavor's data file {data} is outside the model directory; it must be a \
             path inside it, as MLflow writes"
        ));
    }
    let inputs = root
        .get("signature")
        .and_then(|s| s.get("inputs"))
        .and_then(Node::scalar)
        .filter(|i| !i.is_empty() && *i != "null");
    let signature = inputs.map(signature).transpose()?;
    Ok((data.to_string(), signature))
}

/// The signature's inputs, from their JSON.
fn signature(json: &str) -> std::result::Result<Signature, String> {
    let specs: Vec<serde_json::Value> = serde_json::from_str(json)
        .map_err(|e| format!("the signature's inputs are not a JSON list ({e})"))?;
    match &specs[..] {
        [] => Err("the signature's inputs are an empty list".into()),
        [tensor] if tensor["type"] == "tensor" => {
            let shape = &tensor["tensor-spec"]["shape"];
            let width = match shape.as_array().map(Vec::as_slice) {
                Some([_, width]) => width.as_u64().and_then(|w| usize::try_from(w).ok()),
                _ => None,
            };
            Ok(Signature::Tensor { width })
        }
        _ => {
            let mut names = Vec::with_capacity(specs.len());
            for (index, spec) in specs.iter().enumerate() {
                let kind = spec["type"].as_str().unwrap_or("");
                let Some(name) = spec["name"].as_str().filter(|n| !n.is_empty()) else {
                    return Err(format!(
                        "the signature's input {} has no name; a signature of columns names \
                         each one",
                        index + 1
                    ));
                };
                if !matches!(kind, "double" | "float" | "long" | "integer") {
                    return Err(format!(
                        "the signature's column {name} is of type {kind}; import supports \
                         numeric columns (double, float, long, integer)"
                    ));
                }
                names.push(name.to_string());
            }
            Ok(Signature::Columns(names))
        }
    }
}

/// A YAML value, as far as `MLmodel` needs: scalars as text.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Scalar(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

impl Node {
    /// The value at `key` of a mapping.
    fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The text of a scalar.
    fn scalar(&self) -> Option<&str> {
        match self {
            Node::Scalar(text) => Some(text),
            _ => None,
        }
    }
}

/// Builds the tree of the first YAML document from parser events.
#[derive(Default)]
struct Builder {
    /// Open sequences and mappings; a mapping's pending key is kept beside it.
    stack: Vec<(Node, Option<String>)>,
    root: Option<Node>,
    problem: Option<String>,
}

impl Builder {
    fn push_value(&mut self, value: Node) {
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(value);
                }
            }
            Some((Node::Seq(items), _)) => items.push(value),
            Some((Node::Map(entries), key)) => match key.take() {
                Some(k) => entries.push((k, value)),
                None => match value {
                    Node::Scalar(k) => *key = Some(k),
                    _ => self.fail("a mapping key that is not a plain value"),
                },
            },
            Some((Node::Scalar(_), _)) => unreachable!("only collections are pushed"),
        }
    }

    fn fail(&mut self, problem: &str) {
        self.problem.get_or_insert_with(|| problem.to_string());
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, _mark: Marker) {
        if self.problem.is_some() {
            return;
        }
        match event {
            Event::Scalar(text, ..) => self.push_value(Node::Scalar(text)),
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                if self.stack.len() >= MAX_DEPTH {
                    return self.fail("it nests deeper than an MLmodel file does");
                }
                let node = match event {
                    Event::SequenceStart(..) => Node::Seq(Vec::new()),
                    _ => Node::Map(Vec::new()),
                };
                self.stack.push((node, None));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((node, _)) = self.stack.pop() {
                    self.push_value(node);
                }
            }
            Event::Alias(_) => self.fail("it uses a YAML alias, which an MLmodel file does not"),
            _ => {}
        }
    }
}

/// Parses the first document of `text`.
fn parse(text: &str) -> std::result::Result<Node, String> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser
        .load(&mut builder, false)
        .map_err(|e| format!("not valid YAML ({e})"))?;
    if let Some(problem) = builder.problem {
        return Err(problem);
    }
    match builder.root {
        Some(root @ Node::Map(_)) => Ok(root),
        _ => Err("not a YAML mapping of keys; an MLmodel file maps flavors and signature".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_text(text: &str) -> std::result::Result<(String, Option<Signature>), String> {
        interpret(&parse(text)?)
    }

    #[test]
    fn a_folded_signature_string_reads_as_its_column_names() {
        let text = "flavors:\n  onnx:\n    data: model.onnx\nsignature:\n  inputs: '[{\"type\": \
                    \"double\", \"name\": \"a\",\n    \"required\": true}, {\"type\": \"long\", \
                    \"name\": \"b\"}]'\n";
        assert_eq!(
            read_text(text).unwrap(),
            (
                "model.onnx".to_string(),
                Some(Signature::Columns(vec!["a".into(), "b".into()]))
            )
        );
    }

    #[test]
    fn a_tensor_signature_gives_its_width_and_no_names() {
        let text = "flavors: {onnx: {data: m.onnx}}\nsignature:\n  inputs: '[{\"type\": \
                    \"tensor\", \"tensor-spec\": {\"dtype\": \"float64\", \"shape\": [-1, \
                    13]}}]'\n";
        assert_eq!(
            read_text(text).unwrap().1,
            Some(Signature::Tensor { width: Some(13) })
        );
    }

    #[test]
    fn aliases_deep_nesting_and_strings_are_refused() {
        assert_eq!(
            read_text("a: &x [1]\nb: *x\n").unwrap_err(),
            "it uses a YAML alias, which an MLmodel file does not"
        );
        let deep = "[".repeat(40) + &"]".repeat(40);
        assert_eq!(
            parse(&deep).unwrap_err(),
            "it nests deeper than an MLmodel file does"
        );
        let text = "flavors: {onnx: {data: m.onnx}}\nsignature: {inputs: '[{\"type\": \
                    \"string\", \"name\": \"s\"}]'}\n";
        assert_eq!(
            read_text(text).unwrap_err(),
            "the signature's column s is of type string; import supports numeric columns \
             (double, float, long, integer)"
        );
    }

    #[test]
    fn a_data_file_outside_the_directory_is_refused() {
        assert_eq!(
            read_text("flavors: {onnx: {data: ../x.onnx}}\n").unwrap_err(),
            "its onnx flavor's data file ../x.onnx is outside the model directory; it must be \
             a path inside it, as MLflow writes"
        );
    }
}
