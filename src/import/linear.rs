//! An ONNX graph of linear operators, folded into one weight vector and intercept.
//!
//! The graphs are those skl2onnx writes for LinearRegression, Ridge, Lasso and ElasticNet,
//! alone or after a StandardScaler, from one input `X` of shape `[N, p]`:
//!
//! | input type | scaler                    | regressor                                   |
//! |------------|---------------------------|---------------------------------------------|
//! | double     | `Sub(X, mean)`, `Div(_, scale)` | `MatMul(_, coef [p, 1])`, `Add(_, intercept)`, `Reshape(_, [-1, 1])` |
//! | float      | `ai.onnx.ml.Scaler` (offset, scale) | `ai.onnx.ml.LinearRegressor` (one target, post_transform NONE) |
//!
//! Each node must read the value the node before it made (a chain), with constants from
//! initializers; `Identity` is allowed anywhere. Column `j` is tracked as `scale_j·x_j +
//! shift_j` until the regressor turns it into `x·w + b`, all in f64: the weights and intercept
//! are the graph's own algebra, rounded once per operation. Anything else is refused by name.

use std::collections::HashMap;

use crate::import::inputs::tensor_input;
use crate::import::onnx::{
    AttributeProto, GraphProto, NodeProto, TensorProto, DOUBLE, FLOAT, INT64,
};

/// A linear model read from a graph: `x · weights + intercept`.
#[derive(Debug, Clone, PartialEq)]
pub struct Folded {
    /// The graph input's name.
    pub input: String,
    /// The graph output's name.
    pub output: String,
    /// One weight per input column.
    pub weights: Vec<f64>,
    /// The intercept.
    pub intercept: f64,
    /// The operators, in order, as `domain.op_type`.
    pub operators: Vec<String>,
}

/// The value between two nodes.
enum Value {
    /// Column `j` is `scale[j]·x_j + shift[j]`.
    Columns { scale: Vec<f64>, shift: Vec<f64> },
    /// One column, `x · weights + intercept`.
    Output { weights: Vec<f64>, intercept: f64 },
}

/// The domain as people name it: the empty default is `ai.onnx`.
pub fn domain_name(domain: &str) -> &str {
    if domain.is_empty() {
        "ai.onnx"
    } else {
        domain
    }
}

/// What the refusal of an operator adds: what is supported.
const SUPPORTED: &str = "import supports the linear regressors skl2onnx writes (ai.onnx Sub, \
                         Div, MatMul, Add, Reshape, Identity; ai.onnx.ml Scaler, LinearRegressor)";

/// The most nodes a linear graph may have.
const MAX_NODES: usize = 64;

/// Folds `graph` into one linear model, or says, in words, why it cannot.
pub fn fold(graph: &GraphProto) -> Result<Folded, String> {
    let constants: HashMap<&str, &TensorProto> = graph
        .initializer
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    let input = tensor_input(graph)?;
    let p = input.width;
    // Each node costs O(p): bound the product, so a file of many nodes on a wide input cannot
    // make the fold run for hours. skl2onnx's linear graphs have at most six nodes.
    if graph.node.len() > MAX_NODES {
        return Err(format!(
            "the graph has {} nodes; a linear regressor's has at most {MAX_NODES}",
            graph.node.len()
        ));
    }
    let mut value = Value::Columns {
        scale: vec![1.0; p],
        shift: vec![0.0; p],
    };
    let mut current = input.name;
    let mut operators = Vec::with_capacity(graph.node.len());
    for (index, node) in graph.node.iter().enumerate() {
        let domain = domain_name(&node.domain);
        let name = format!("node {index} ({}, domain {domain})", node.op_type);
        operators.push(format!("{domain}.{}", node.op_type));
        let step = Step {
            node,
            name: &name,
            constants: &constants,
        };
        let known = matches!(
            (domain, node.op_type.as_str()),
            (
                "ai.onnx",
                "Identity" | "Sub" | "Div" | "MatMul" | "Add" | "Reshape"
            ) | ("ai.onnx.ml", "Scaler" | "LinearRegressor")
        );
        if !known {
            return Err(format!(
                "{name}: operator {} of domain {domain} is not supported; {SUPPORTED}",
                node.op_type
            ));
        }
        if node.input.first().map(String::as_str) != Some(current) {
            return Err(format!(
                "{name}: its first input is not {current}, the value the graph computed last; \
                 import supports a chain of operators"
            ));
        }
        let [output] = &node.output[..] else {
            return Err(format!(
                "{name}: it has {} outputs; one is supported",
                node.output.len()
            ));
        };
        value = match (domain, node.op_type.as_str(), value) {
            ("ai.onnx", "Identity", value) => value,
            ("ai.onnx", "Sub", Value::Columns { scale, mut shift }) => {
                let c = step.broadcast(step.constant(1)?, p)?;
                shift.iter_mut().zip(&c).for_each(|(s, c)| *s -= c);
                Value::Columns { scale, shift }
            }
            (
                "ai.onnx",
                "Div",
                Value::Columns {
                    mut scale,
                    mut shift,
                },
            ) => {
                let c = step.broadcast(step.constant(1)?, p)?;
                for j in 0..p {
                    scale[j] /= c[j];
                    shift[j] /= c[j];
                }
                Value::Columns { scale, shift }
            }
            ("ai.onnx", "MatMul", Value::Columns { scale, shift }) => {
                let tensor = step.tensor(1)?;
                if tensor.dims != [p as i64, 1] {
                    return Err(format!(
                        "{name}: the weights have shape {:?}; [{p}, 1] is supported",
                        tensor.dims
                    ));
                }
                let c = step.constant(1)?;
                regress(&scale, &shift, &c, 0.0)
            }
            ("ai.onnx", "Add", Value::Output { weights, intercept }) => {
                let c = step.constant(1)?;
                let [c] = c[..] else {
                    return Err(format!(
                        "{name}: the intercept has {} values; one is supported",
                        c.len()
                    ));
                };
                Value::Output {
                    weights,
                    intercept: intercept + c,
                }
            }
            ("ai.onnx", "Reshape", value @ Value::Output { .. }) => {
                let shape = step.tensor(1)?;
                if shape.data_type != INT64 || step.constant(1)? != [-1.0, 1.0] {
                    return Err(format!(
                        "{name}: only a reshape to [-1, 1] (one prediction per row) is supported"
                    ));
                }
                value
            }
            (
                "ai.onnx.ml",
                "Scaler",
                Value::Columns {
                    mut scale,
                    mut shift,
                },
            ) => {
                step.only_input()?;
                let offset = step.broadcast(step.floats("offset")?, p)?;
                let factor = step.broadcast(step.floats("scale")?, p)?;
                for j in 0..p {
                    // Scaler computes (v - offset) * scale.
                    scale[j] *= factor[j];
                    shift[j] = (shift[j] - offset[j]) * factor[j];
                }
                Value::Columns { scale, shift }
            }
            ("ai.onnx.ml", "LinearRegressor", Value::Columns { scale, shift }) => {
                step.only_input()?;
                let targets = step.attribute("targets").map_or(1, |a| a.i);
                if targets != 1 {
                    return Err(format!(
                        "{name}: targets is {targets}; one target is supported"
                    ));
                }
                let post = step.attribute("post_transform").map_or("NONE".into(), |a| {
                    String::from_utf8_lossy(&a.s).into_owned()
                });
                if post != "NONE" {
                    return Err(format!(
                        "{name}: post_transform is {post}; only NONE is supported"
                    ));
                }
                let coefficients = step.floats("coefficients")?;
                if coefficients.len() != p {
                    return Err(format!(
                        "{name}: {} coefficients for {p} input columns",
                        coefficients.len()
                    ));
                }
                let intercept = match step.attribute("intercepts").map(|a| &a.floats[..]) {
                    None | Some([]) => 0.0,
                    Some([b]) => f64::from(*b),
                    Some(more) => {
                        return Err(format!(
                            "{name}: {} intercepts; one is supported",
                            more.len()
                        ))
                    }
                };
                regress(&scale, &shift, &coefficients, intercept)
            }
            (_, op, Value::Columns { .. }) => {
                return Err(format!(
                    "{name}: {op} before the regressor is not supported; {SUPPORTED}"
                ));
            }
            (_, op, Value::Output { .. }) => {
                return Err(format!(
                    "{name}: {op} after the regressor is not supported; {SUPPORTED}"
                ));
            }
        };
        current = output;
    }
    let [output] = &graph.output[..] else {
        return Err(format!(
            "the graph has {} outputs; one is supported",
            graph.output.len()
        ));
    };
    match value {
        Value::Output { weights, intercept } if output.name == current => Ok(Folded {
            input: input.name.to_string(),
            output: output.name.clone(),
            weights,
            intercept,
            operators,
        }),
        _ => Err(format!(
            "the graph output {} is not a regressor's prediction; {SUPPORTED}",
            output.name
        )),
    }
}

/// `Σ_j coef_j·(scale_j·x_j + shift_j) + intercept` as weights and an intercept.
fn regress(scale: &[f64], shift: &[f64], coef: &[f64], intercept: f64) -> Value {
    let weights = scale.iter().zip(coef).map(|(s, c)| s * c).collect();
    let intercept = intercept + shift.iter().zip(coef).map(|(s, c)| s * c).sum::<f64>();
    Value::Output { weights, intercept }
}

/// One node being folded, with what its messages and constants need.
struct Step<'a> {
    node: &'a NodeProto,
    name: &'a str,
    constants: &'a HashMap<&'a str, &'a TensorProto>,
}

impl Step<'_> {
    /// The initializer given as input `i`.
    fn tensor(&self, i: usize) -> Result<&TensorProto, String> {
        if self.node.input.len() != i + 1 {
            return Err(format!(
                "{}: it has {} inputs; {} are supported",
                self.name,
                self.node.input.len(),
                i + 1
            ));
        }
        let input = &self.node.input[i];
        self.constants.get(input.as_str()).copied().ok_or_else(|| {
            format!(
                "{}: input {input} is not an initializer; only constants are supported there",
                self.name
            )
        })
    }

    /// The elements of the initializer given as input `i`, as f64.
    fn constant(&self, i: usize) -> Result<Vec<f64>, String> {
        let tensor = self.tensor(i)?;
        elements(tensor).map_err(|m| format!("{}: initializer {}: {m}", self.name, tensor.name))
    }

    /// Refuses a node with inputs beyond its first.
    fn only_input(&self) -> Result<(), String> {
        match self.node.input.len() {
            1 => Ok(()),
            n => Err(format!(
                "{}: it has {n} inputs; one is supported",
                self.name
            )),
        }
    }

    /// The attribute `name`, if the node has it.
    fn attribute(&self, name: &str) -> Option<&AttributeProto> {
        self.node.attribute.iter().find(|a| a.name == name)
    }

    /// The list of floats of attribute `name`, as f64.
    fn floats(&self, name: &str) -> Result<Vec<f64>, String> {
        let attribute = self
            .attribute(name)
            .ok_or_else(|| format!("{}: it has no attribute {name}", self.name))?;
        Ok(attribute.floats.iter().map(|&f| f64::from(f)).collect())
    }

    /// `values` for `p` columns: one per column, or one for all.
    fn broadcast(&self, values: Vec<f64>, p: usize) -> Result<Vec<f64>, String> {
        match values.len() {
            n if n == p => Ok(values),
            1 => Ok(vec![values[0]; p]),
            n => Err(format!(
                "{}: {n} values for {p} columns; one per column, or one, is supported",
                self.name
            )),
        }
    }
}

/// A tensor's elements as f64, from its typed field or its raw bytes; their count must be the
/// product of its dimensions.
pub(crate) fn elements(tensor: &TensorProto) -> Result<Vec<f64>, String> {
    if tensor.data_location != 0 || !tensor.external_data.is_empty() {
        return Err("its data is in an external file, which is not supported".into());
    }
    let raw = &tensor.raw_data;
    let values: Vec<f64> = match tensor.data_type {
        DOUBLE if raw.is_empty() => tensor.double_data.clone(),
        FLOAT if raw.is_empty() => tensor.float_data.iter().map(|&f| f64::from(f)).collect(),
        INT64 if raw.is_empty() => tensor.int64_data.iter().map(|&i| i as f64).collect(),
        DOUBLE | INT64 if raw.len().is_multiple_of(8) => raw
            .chunks_exact(8)
            .map(|b| {
                let b: [u8; 8] = b.try_into().expect("chunks of 8");
                if tensor.data_type == DOUBLE {
                    f64::from_le_bytes(b)
                } else {
                    i64::from_le_bytes(b) as f64
                }
            })
            .collect(),
        FLOAT if raw.len().is_multiple_of(4) => raw
            .chunks_exact(4)
            .map(|b| f64::from(f32::from_le_bytes(b.try_into().expect("chunks of 4"))))
            .collect(),
        DOUBLE | INT64 | FLOAT => {
            return Err(format!(
                "{} raw bytes is not a whole number of elements",
                raw.len()
            ))
        }
        other => {
            return Err(format!(
                "elements of ONNX type {other}; float (1), int64 (7) and double (11) are \
                 supported"
            ))
        }
    };
    let expected = tensor.dims.iter().try_fold(1u64, |n, &d| {
        u64::try_from(d).ok().and_then(|d| n.checked_mul(d))
    });
    if expected != Some(values.len() as u64) {
        return Err(format!(
            "shape {:?} but {} elements",
            tensor.dims,
            values.len()
        ));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::onnx::{
        Dimension, TensorShapeProto, TypeProto, TypeProtoTensor, ValueInfoProto,
    };

    fn value(name: &str, columns: Option<i64>) -> ValueInfoProto {
        let dim = |d: Option<i64>| Dimension {
            dim_value: d,
            dim_param: None,
        };
        ValueInfoProto {
            name: name.into(),
            r#type: Some(TypeProto {
                tensor_type: Some(TypeProtoTensor {
                    elem_type: DOUBLE,
                    shape: Some(TensorShapeProto {
                        dim: vec![dim(None), dim(columns)],
                    }),
                }),
            }),
        }
    }

    fn node(op: &str, domain: &str, inputs: &[&str], output: &str) -> NodeProto {
        NodeProto {
            input: inputs.iter().map(|i| i.to_string()).collect(),
            output: vec![output.into()],
            op_type: op.into(),
            domain: domain.into(),
            ..NodeProto::default()
        }
    }

    fn doubles(name: &str, dims: &[i64], values: &[f64]) -> TensorProto {
        TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: DOUBLE,
            double_data: values.to_vec(),
            ..TensorProto::default()
        }
    }

    fn floats(name: &str, values: &[f32]) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            r#type: 6,
            floats: values.to_vec(),
            ..AttributeProto::default()
        }
    }

    /// `((x - [1, 2]) / [2, 4]) · [6, 8] + 0.5`, through an Identity, with raw-byte weights.
    fn scaled_graph() -> GraphProto {
        let mut coef = doubles("coef", &[2, 1], &[]);
        coef.raw_data = [6f64, 8.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        GraphProto {
            node: vec![
                node("Sub", "", &["X", "mean"], "a"),
                node("Div", "", &["a", "std"], "b"),
                node("Identity", "", &["b"], "c"),
                node("MatMul", "", &["c", "coef"], "d"),
                node("Add", "", &["d", "b0"], "y"),
            ],
            initializer: vec![
                doubles("mean", &[2], &[1.0, 2.0]),
                doubles("std", &[2], &[2.0, 4.0]),
                coef,
                doubles("b0", &[1], &[0.5]),
            ],
            input: vec![value("X", Some(2))],
            output: vec![value("y", Some(1))],
            ..GraphProto::default()
        }
    }

    #[test]
    fn a_scaler_and_a_matmul_fold_into_weights_and_an_intercept() {
        let folded = fold(&scaled_graph()).unwrap();
        // 6/2 = 3, 8/4 = 2; 0.5 - 1·3 - 2·2 = -6.5.
        assert_eq!(folded.weights, [3.0, 2.0]);
        assert_eq!(folded.intercept, -6.5);
        assert_eq!((folded.input.as_str(), folded.output.as_str()), ("X", "y"));
        assert_eq!(folded.operators[2], "ai.onnx.Identity");
    }

    #[test]
    fn the_float_operators_fold_the_same_way() {
        let mut scaler = node("Scaler", "ai.onnx.ml", &["X"], "a");
        scaler.attribute = vec![floats("offset", &[1.0, 2.0]), floats("scale", &[0.5, 0.25])];
        let mut regressor = node("LinearRegressor", "ai.onnx.ml", &["a"], "y");
        regressor.attribute = vec![
            floats("coefficients", &[6.0, 8.0]),
            floats("intercepts", &[0.5]),
        ];
        let graph = GraphProto {
            node: vec![scaler, regressor],
            input: vec![value("X", Some(2))],
            output: vec![value("y", Some(1))],
            ..GraphProto::default()
        };
        let folded = fold(&graph).unwrap();
        assert_eq!(folded.weights, [3.0, 2.0]);
        assert_eq!(folded.intercept, -6.5);
    }

    #[test]
    fn a_post_transform_or_a_second_target_is_refused() {
        let mut regressor = node("LinearRegressor", "ai.onnx.ml", &["X"], "y");
        regressor.attribute = vec![
            floats("coefficients", &[1.0]),
            AttributeProto {
                name: "post_transform".into(),
                s: b"PROBIT".to_vec(),
                ..AttributeProto::default()
            },
        ];
        let mut graph = GraphProto {
            node: vec![regressor],
            input: vec![value("X", Some(1))],
            output: vec![value("y", Some(1))],
            ..GraphProto::default()
        };
        assert_eq!(
            fold(&graph).unwrap_err(),
            "node 0 (LinearRegressor, domain ai.onnx.ml): post_transform is PROBIT; only NONE \
             is supported"
        );
        graph.node[0].attribute[1] = AttributeProto {
            name: "targets".into(),
            i: 2,
            ..AttributeProto::default()
        };
        assert_eq!(
            fold(&graph).unwrap_err(),
            "node 0 (LinearRegressor, domain ai.onnx.ml): targets is 2; one target is supported"
        );
    }

    #[test]
    fn a_graph_that_is_not_a_chain_of_constants_is_refused() {
        let mut graph = scaled_graph();
        graph.node[1].input[1] = "X".into();
        assert_eq!(
            fold(&graph).unwrap_err(),
            "node 1 (Div, domain ai.onnx): input X is not an initializer; only constants are \
             supported there"
        );
        let mut graph = scaled_graph();
        graph.node[3].input[0] = "a".into();
        assert_eq!(
            fold(&graph).unwrap_err(),
            "node 3 (MatMul, domain ai.onnx): its first input is not c, the value the graph \
             computed last; import supports a chain of operators"
        );
        let mut graph = scaled_graph();
        graph.node.truncate(2);
        graph.output[0].name = "b".into();
        assert!(fold(&graph)
            .unwrap_err()
            .starts_with("the graph output b is not a regressor's prediction"));
        let mut graph = scaled_graph();
        graph.input[0] = value("X", None);
        assert_eq!(
            fold(&graph).unwrap_err(),
            "the graph input X is not of shape [N, p] with a known p > 0"
        );
    }

    #[test]
    fn a_tensor_whose_elements_do_not_fill_its_shape_is_refused() {
        let mut graph = scaled_graph();
        graph.initializer[1] = doubles("std", &[3], &[2.0, 4.0]);
        assert_eq!(
            fold(&graph).unwrap_err(),
            "node 1 (Div, domain ai.onnx): initializer std: shape [3] but 2 elements"
        );
    }

    #[test]
    fn a_graph_of_more_nodes_than_a_linear_model_has_is_refused() {
        let mut graph = scaled_graph();
        let identity = node("Identity", "", &["X"], "X2");
        graph.node = vec![identity; 65];
        assert_eq!(
            fold(&graph).unwrap_err(),
            "the graph has 65 nodes; a linear regressor's has at most 64"
        );
    }
}
