//! What every graph must be before any operator is read, whatever model it holds: each value
//! named once (inputs, initializers, node outputs), each node reading only values made before
//! it (ONNX requires topological order, which also rules out a cycle), and each initializer
//! holding as many elements as its dimensions declare. A file that breaks one of these is
//! malformed, and the message says which value or node.

use std::collections::HashMap;

use crate::import::linear::domain_name;
use crate::import::onnx::{GraphProto, TensorProto, DOUBLE, FLOAT, INT64};

/// Checks `graph`, or says, in words, what is wrong with it.
pub fn check(graph: &GraphProto) -> Result<(), String> {
    // Where each value comes from, for the message when one is named twice.
    let mut made: HashMap<&str, String> = HashMap::new();
    for tensor in &graph.initializer {
        check_initializer(tensor)?;
        if made
            .insert(&tensor.name, format!("initializer {}", tensor.name))
            .is_some()
        {
            return Err(format!(
                "the initializer {} is declared twice; each value has one name",
                tensor.name
            ));
        }
    }
    for input in &graph.input {
        match made.get(input.name.as_str()) {
            // Before IR version 4, the inputs also list the initializers.
            Some(from) if from.starts_with("initializer") => {}
            Some(_) => {
                return Err(format!(
                    "the graph input {} is declared twice; each input needs its own name",
                    input.name
                ))
            }
            None => {
                made.insert(&input.name, format!("graph input {}", input.name));
            }
        }
    }
    for (index, node) in graph.node.iter().enumerate() {
        let name = format!(
            "node {index} ({}, domain {})",
            node.op_type,
            domain_name(&node.domain)
        );
        // An empty name is an omitted optional input.
        for input in node.input.iter().filter(|i| !i.is_empty()) {
            if !made.contains_key(input.as_str()) {
                let later = graph.node[index..]
                    .iter()
                    .position(|n| n.output.contains(input))
                    .map(|at| index + at);
                return Err(match later {
                    Some(at) if at == index => {
                        format!("{name}: it reads its own output {input}: the graph has a cycle")
                    }
                    Some(at) => format!(
                        "{name}: it reads {input}, which node {at} makes after it: the nodes \
                         are not in topological order, or the graph has a cycle"
                    ),
                    None => format!(
                        "{name}: it reads {input}, which is no graph input, initializer or \
                         node output"
                    ),
                });
            }
        }
        for output in node.output.iter().filter(|o| !o.is_empty()) {
            if let Some(from) = made.insert(output, name.clone()) {
                return Err(format!(
                    "{name}: its output {output} is already made by the {from}; each value is \
                     assigned once"
                ));
            }
        }
    }
    Ok(())
}

/// Refuses an initializer of a numeric type we read whose element count is not the product of
/// its dimensions (a negative dimension, or a product past `u64`, never matches).
fn check_initializer(tensor: &TensorProto) -> Result<(), String> {
    let (typed, size) = match tensor.data_type {
        FLOAT => (tensor.float_data.len(), 4),
        DOUBLE => (tensor.double_data.len(), 8),
        INT64 => (tensor.int64_data.len(), 8),
        _ => return Ok(()),
    };
    if tensor.data_location != 0 || !tensor.external_data.is_empty() {
        return Ok(());
    }
    let count = if tensor.raw_data.is_empty() {
        typed
    } else {
        tensor.raw_data.len() / size
    };
    let declared = tensor.dims.iter().try_fold(1u64, |n, &d| {
        u64::try_from(d).ok().and_then(|d| n.checked_mul(d))
    });
    if declared != Some(count as u64)
        || (!tensor.raw_data.is_empty() && !tensor.raw_data.len().is_multiple_of(size))
    {
        return Err(format!(
            "the initializer {} declares dimensions {:?} but holds {}; the file is corrupt",
            tensor.name,
            tensor.dims,
            if tensor.raw_data.is_empty() {
                format!("{count} elements")
            } else {
                format!("{} bytes of {size}-byte elements", tensor.raw_data.len())
            }
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::onnx::{NodeProto, ValueInfoProto};

    fn node(op: &str, inputs: &[&str], output: &str) -> NodeProto {
        NodeProto {
            input: inputs.iter().map(|i| i.to_string()).collect(),
            output: vec![output.into()],
            op_type: op.into(),
            ..NodeProto::default()
        }
    }

    fn graph(nodes: Vec<NodeProto>) -> GraphProto {
        GraphProto {
            node: nodes,
            input: vec![ValueInfoProto {
                name: "X".into(),
                r#type: None,
            }],
            initializer: vec![TensorProto {
                name: "w".into(),
                dims: vec![2],
                data_type: DOUBLE,
                double_data: vec![1.0, 2.0],
                ..TensorProto::default()
            }],
            ..GraphProto::default()
        }
    }

    #[test]
    fn a_chain_in_order_passes() {
        let g = graph(vec![
            node("Sub", &["X", "w"], "a"),
            node("Div", &["a", "w"], "b"),
        ]);
        assert_eq!(check(&g), Ok(()));
    }

    #[test]
    fn a_cycle_or_a_value_read_before_it_is_made_is_refused() {
        let g = graph(vec![
            node("Sub", &["X", "b"], "a"),
            node("Div", &["a", "w"], "b"),
        ]);
        assert_eq!(
            check(&g).unwrap_err(),
            "node 0 (Sub, domain ai.onnx): it reads b, which node 1 makes after it: the nodes \
             are not in topological order, or the graph has a cycle"
        );
        let g = graph(vec![node("Add", &["X", "a"], "a")]);
        assert_eq!(
            check(&g).unwrap_err(),
            "node 0 (Add, domain ai.onnx): it reads its own output a: the graph has a cycle"
        );
        let g = graph(vec![node("Add", &["X", "nowhere"], "a")]);
        assert_eq!(
            check(&g).unwrap_err(),
            "node 0 (Add, domain ai.onnx): it reads nowhere, which is no graph input, \
             initializer or node output"
        );
    }

    #[test]
    fn a_name_used_twice_is_refused() {
        let mut g = graph(vec![]);
        g.input.push(g.input[0].clone());
        assert_eq!(
            check(&g).unwrap_err(),
            "the graph input X is declared twice; each input needs its own name"
        );
        let g = graph(vec![
            node("Sub", &["X", "w"], "a"),
            node("Div", &["a", "w"], "a"),
        ]);
        assert_eq!(
            check(&g).unwrap_err(),
            "node 1 (Div, domain ai.onnx): its output a is already made by the node 0 (Sub, \
             domain ai.onnx); each value is assigned once"
        );
    }

    #[test]
    fn an_initializer_that_does_not_fill_its_dimensions_is_refused() {
        let mut g = graph(vec![]);
        g.initializer[0].dims = vec![1 << 40, 1 << 40];
        assert_eq!(
            check(&g).unwrap_err(),
            "the initializer w declares dimensions [1099511627776, 1099511627776] but holds 2 \
             elements; the file is corrupt"
        );
        g.initializer[0].raw_data = vec![0; 12];
        g.initializer[0].dims = vec![2];
        assert_eq!(
            check(&g).unwrap_err(),
            "the initializer w declares dimensions [2] but holds 12 bytes of 8-byte elements; \
             the file is corrupt"
        );
    }
}
