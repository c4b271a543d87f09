//! A graph with one input per column, as skl2onnx writes for
//! `initial_types=[("CRIM", DoubleTensorType([None, 1])), ...]`: the inputs are merged by a
//! `Concat` along axis 1 into one `[N, p]` value, and the rest of the graph reads that.
//!
//! The Concat only places columns side by side, so it is folded away here: the graph is
//! rewritten to read one `[N, p]` input named after the Concat's output, and the inputs'
//! names, in the Concat's order, are the model's feature names. A graph with one input is left
//! as it is.

use std::collections::HashSet;

use crate::import::onnx::{
    Dimension, GraphProto, TensorShapeProto, TypeProto, TypeProtoTensor, ValueInfoProto, DOUBLE,
    FLOAT,
};

/// The graph to fold, and the column names its inputs give when there is one per column.
#[derive(Debug, Clone, PartialEq)]
pub struct Columns {
    /// The graph, with a Concat of per-column inputs folded into one input.
    pub graph: GraphProto,
    /// The inputs' names in column order, when the graph had one input per column.
    pub names: Option<Vec<String>>,
}

/// The graph's inputs that are data, not initializers (which ONNX lets a graph list as inputs).
fn data_inputs(graph: &GraphProto) -> Vec<&ValueInfoProto> {
    let constants: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    graph
        .input
        .iter()
        .filter(|i| !constants.contains(i.name.as_str()))
        .collect()
}

/// Folds a Concat of per-column inputs into one input; any other graph is returned as is.
pub fn merge(graph: &GraphProto) -> Result<Columns, String> {
    let inputs = data_inputs(graph);
    if inputs.len() < 2 {
        return Ok(Columns {
            graph: graph.clone(),
            names: None,
        });
    }
    let Some(concat) = graph.node.first() else {
        return Err(format!(
            "the graph has {} inputs and no nodes; import supports one [N, p] input, or one \
             [N, 1] input per column merged by a Concat along axis 1",
            inputs.len()
        ));
    };
    let axis = concat
        .attribute
        .iter()
        .find(|a| a.name == "axis")
        .map(|a| a.i);
    if !concat.domain.is_empty() || concat.op_type != "Concat" || !matches!(axis, Some(1 | -1)) {
        return Err(format!(
            "the graph has {} inputs, and its first node ({}, domain {}) is not a Concat along \
             axis 1 of them; import supports one [N, p] input, or one [N, 1] input per column \
             merged by a Concat (as skl2onnx writes for a pipeline that starts with a \
             ColumnTransformer)",
            inputs.len(),
            concat.op_type,
            crate::import::linear::domain_name(&concat.domain)
        ));
    }
    let [merged] = &concat.output[..] else {
        return Err(format!(
            "node 0 (Concat, domain ai.onnx): it has {} outputs; one is supported",
            concat.output.len()
        ));
    };
    let declared: HashSet<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
    let read: HashSet<&str> = concat.input.iter().map(String::as_str).collect();
    if read != declared || read.len() != concat.input.len() {
        return Err(format!(
            "node 0 (Concat, domain ai.onnx): it reads {}, not each of the graph's {} inputs \
             once; import supports a Concat of all the per-column inputs",
            concat.input.join(", "),
            inputs.len()
        ));
    }
    let mut elem_type = None;
    for name in &concat.input {
        let input = inputs
            .iter()
            .find(|i| &i.name == name)
            .expect("every Concat input is a graph input, checked above");
        let tensor = input.r#type.as_ref().and_then(|t| t.tensor_type.as_ref());
        let dims = tensor
            .and_then(|t| t.shape.as_ref())
            .map(|s| &s.dim[..])
            .unwrap_or(&[]);
        let one_column = matches!(
            dims,
            [
                _,
                Dimension {
                    dim_value: Some(1),
                    ..
                }
            ]
        );
        let Some(tensor) = tensor.filter(|_| one_column) else {
            return Err(format!(
                "the graph input {name} is not a tensor of shape [N, 1]; import supports one \
                 [N, 1] input per column"
            ));
        };
        match elem_type {
            None => elem_type = Some(tensor.elem_type),
            Some(first) if first != tensor.elem_type => {
                return Err(format!(
                    "the graph input {name} holds elements of ONNX type {}, and {} of type \
                     {first}; the per-column inputs must all be of one type",
                    tensor.elem_type, concat.input[0]
                ));
            }
            Some(_) => {}
        }
    }
    let p = concat.input.len() as i64;
    let dim = |value: Option<i64>, param: Option<&str>| Dimension {
        dim_value: value,
        dim_param: param.map(str::to_string),
    };
    let merged_input = ValueInfoProto {
        name: merged.clone(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: elem_type.expect("at least two inputs"),
                shape: Some(TensorShapeProto {
                    dim: vec![dim(None, Some("N")), dim(Some(p), None)],
                }),
            }),
        }),
    };
    let mut rewritten = graph.clone();
    rewritten.node.remove(0);
    let data: HashSet<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
    rewritten.input = graph
        .input
        .iter()
        .filter(|i| !data.contains(i.name.as_str()))
        .cloned()
        .chain([merged_input])
        .collect();
    Ok(Columns {
        graph: rewritten,
        names: Some(concat.input.clone()),
    })
}

/// The one tensor input `[N, p]` of a graph (inputs that are initializers left aside): its
/// name, whether it holds float (rather than double) elements, and its width `p`.
pub struct TensorInput<'g> {
    /// The input's name.
    pub name: &'g str,
    /// Float32 elements (else float64).
    pub float: bool,
    /// Its columns, from 1 to a million.
    pub width: usize,
}

/// The graph's one tensor input of shape `[N, p]`, float or double, or why there is none.
pub fn tensor_input(graph: &GraphProto) -> Result<TensorInput<'_>, String> {
    let inputs = data_inputs(graph);
    let [input] = inputs[..] else {
        return Err(format!(
            "the graph has {} inputs; import supports one tensor input of shape [N, p], as \
             skl2onnx writes for a regressor",
            inputs.len()
        ));
    };
    let tensor = input
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .ok_or_else(|| format!("the graph input {} is not a tensor", input.name))?;
    if tensor.elem_type != FLOAT && tensor.elem_type != DOUBLE {
        return Err(format!(
            "the graph input {} holds elements of ONNX type {}; import supports float (1) and \
             double (11)",
            input.name, tensor.elem_type
        ));
    }
    let dims = tensor.shape.as_ref().map(|s| &s.dim[..]).unwrap_or(&[]);
    let columns = match dims {
        [_, column] => column.dim_value.filter(|&p| p > 0),
        _ => None,
    };
    let Some(p) = columns else {
        return Err(format!(
            "the graph input {} is not of shape [N, p] with a known p > 0",
            input.name
        ));
    };
    let width = usize::try_from(p)
        .ok()
        .filter(|&p| p <= 1_000_000)
        .ok_or_else(|| {
            format!(
                "the graph input {} has {p} columns, over a million",
                input.name
            )
        })?;
    Ok(TensorInput {
        name: &input.name,
        float: tensor.elem_type == FLOAT,
        width,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::onnx::{AttributeProto, NodeProto, DOUBLE, FLOAT};

    fn column(name: &str, elem_type: i32, width: i64) -> ValueInfoProto {
        ValueInfoProto {
            name: name.into(),
            r#type: Some(TypeProto {
                tensor_type: Some(TypeProtoTensor {
                    elem_type,
                    shape: Some(TensorShapeProto {
                        dim: vec![
                            Dimension::default(),
                            Dimension {
                                dim_value: Some(width),
                                dim_param: None,
                            },
                        ],
                    }),
                }),
            }),
        }
    }

    fn concat(inputs: &[&str], axis: i64) -> NodeProto {
        NodeProto {
            input: inputs.iter().map(|i| i.to_string()).collect(),
            output: vec!["merged".into()],
            op_type: "Concat".into(),
            attribute: vec![AttributeProto {
                name: "axis".into(),
                i: axis,
                r#type: 2,
                ..AttributeProto::default()
            }],
            ..NodeProto::default()
        }
    }

    fn graph(node: NodeProto) -> GraphProto {
        GraphProto {
            node: vec![node],
            input: vec![column("a", DOUBLE, 1), column("b", DOUBLE, 1)],
            ..GraphProto::default()
        }
    }

    #[test]
    fn a_concat_of_columns_becomes_one_input_named_in_the_concat_order() {
        let merged = merge(&graph(concat(&["b", "a"], 1))).unwrap();
        assert_eq!(merged.names, Some(vec!["b".to_string(), "a".to_string()]));
        assert!(merged.graph.node.is_empty());
        let [input] = &merged.graph.input[..] else {
            panic!("one input, not {:?}", merged.graph.input)
        };
        assert_eq!(input.name, "merged");
        let tensor = input.r#type.as_ref().unwrap().tensor_type.as_ref().unwrap();
        assert_eq!(tensor.elem_type, DOUBLE);
        let dims: Vec<_> = tensor
            .shape
            .as_ref()
            .unwrap()
            .dim
            .iter()
            .map(|d| d.dim_value)
            .collect();
        assert_eq!(dims, [None, Some(2)]);
    }

    #[test]
    fn a_concat_along_another_axis_or_of_mixed_types_is_refused() {
        assert!(merge(&graph(concat(&["a", "b"], 0)))
            .unwrap_err()
            .starts_with("the graph has 2 inputs, and its first node (Concat, domain ai.onnx) is not a Concat along axis 1"));
        let mut mixed = graph(concat(&["a", "b"], 1));
        mixed.input[1] = column("b", FLOAT, 1);
        assert_eq!(
            merge(&mixed).unwrap_err(),
            "the graph input b holds elements of ONNX type 1, and a of type 11; the per-column \
             inputs must all be of one type"
        );
        let mut wide = graph(concat(&["a", "b"], 1));
        wide.input[1] = column("b", DOUBLE, 2);
        assert_eq!(
            merge(&wide).unwrap_err(),
            "the graph input b is not a tensor of shape [N, 1]; import supports one [N, 1] \
             input per column"
        );
        assert_eq!(
            merge(&graph(concat(&["a", "a"], 1))).unwrap_err(),
            "node 0 (Concat, domain ai.onnx): it reads a, a, not each of the graph's 2 inputs \
             once; import supports a Concat of all the per-column inputs"
        );
    }
}
