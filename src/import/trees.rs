//! An ONNX graph around one `ai.onnx.ml.TreeEnsembleRegressor` (opset 1 and 3), read into a
//! [`TreeEnsemble`].
//!
//! The graphs are those skl2onnx writes for DecisionTreeRegressor, RandomForestRegressor,
//! ExtraTreesRegressor and GradientBoostingRegressor, and onnxmltools for LightGBM's
//! LGBMRegressor: from one input `X` of shape `[N, p]`, optional `Identity` and `Cast` nodes,
//! the regressor, then optional `Identity`, `Cast` or `Reshape` to `[-1, 1]`. Thresholds, leaf
//! weights and base values come from the float attributes or, when present, the double
//! `*_as_tensor` ones. Features are compared as float32 when the input is float or is cast to
//! float before the trees, as onnxruntime compares them; the leaves are summed in f64 (a Cast
//! of the prediction is not applied: it would only round it).
//!
//! Each tree is walked from its root (its first node in the file) and renumbered in preorder,
//! so the model file's layout holds whatever the graph's ids were; a node id that names no
//! node, a node reached twice (a cycle), a feature past the input's width, a leaf without a
//! weight and every size are refused with the tree and node named.

use std::collections::HashMap;

use crate::import::inputs::tensor_input;
use crate::import::linear::{domain_name, elements};
use crate::import::onnx::{AttributeProto, GraphProto, NodeProto, TensorProto, DOUBLE, FLOAT};
use crate::model::trees::{kind, Aggregate, TreeEnsemble, MAX_NODES};

/// A tree ensemble read from a graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    /// The graph input's name.
    pub input: String,
    /// The graph output's name.
    pub output: String,
    /// The number of input columns.
    pub width: usize,
    /// The trees.
    pub ensemble: TreeEnsemble,
    /// The operators, in order, as `domain.op_type`.
    pub operators: Vec<String>,
}

/// What the refusal of an operator adds: what is supported.
const SUPPORTED: &str = "import supports one ai.onnx.ml TreeEnsembleRegressor (opset 1 or 3), \
                         with ai.onnx Identity and Cast before it and Identity, Cast and Reshape \
                         after it";

/// Whether `graph` holds a tree ensemble, and so is read here rather than folded as linear.
pub fn is_tree_graph(graph: &GraphProto) -> bool {
    graph.node.iter().any(|n| {
        domain_name(&n.domain) == "ai.onnx.ml"
            && matches!(n.op_type.as_str(), "TreeEnsembleRegressor" | "TreeEnsemble")
    })
}

/// Reads the one tree ensemble of `graph`, or says, in words, why it cannot.
pub fn read(graph: &GraphProto) -> Result<Read, String> {
    let constants: HashMap<&str, &TensorProto> = graph
        .initializer
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    let input = tensor_input(graph)?;
    let width = input.width;
    let mut float_features = input.float;
    let mut current = input.name;
    let mut operators = Vec::with_capacity(graph.node.len());
    let mut ensemble = None;
    for (index, node) in graph.node.iter().enumerate() {
        let domain = domain_name(&node.domain);
        let name = format!("node {index} ({}, domain {domain})", node.op_type);
        operators.push(format!("{domain}.{}", node.op_type));
        let op = (domain, node.op_type.as_str());
        let known = matches!(
            op,
            ("ai.onnx", "Identity" | "Cast" | "Reshape") | ("ai.onnx.ml", "TreeEnsembleRegressor")
        );
        if !known {
            let hint = if op == ("ai.onnx.ml", "TreeEnsemble") {
                "; export with ai.onnx.ml opset 3 or lower, which writes TreeEnsembleRegressor"
                    .to_string()
            } else {
                format!("; {SUPPORTED}")
            };
            return Err(format!(
                "{name}: operator {} of domain {domain} is not supported{hint}",
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
        let attribute = |key: &str| node.attribute.iter().find(|a| a.name == key);
        match (op.1, ensemble.is_some()) {
            ("Identity", _) => {}
            ("Cast", after_trees) => {
                let to = attribute("to").map_or(0, |a| a.i);
                if to != i64::from(FLOAT) && to != i64::from(DOUBLE) {
                    return Err(format!(
                        "{name}: a cast to ONNX type {to}; float (1) and double (11) are \
                         supported"
                    ));
                }
                // Before the trees, a cast to float rounds what they compare; after them, a
                // cast only rounds the prediction, which is kept in f64.
                if !after_trees && to == i64::from(FLOAT) {
                    float_features = true;
                }
            }
            ("Reshape", true) => {
                let shape = node
                    .input
                    .get(1)
                    .and_then(|s| constants.get(s.as_str()))
                    .map(|t| elements(t));
                if node.input.len() != 2 || !matches!(shape, Some(Ok(ref s)) if s == &[-1.0, 1.0]) {
                    return Err(format!(
                        "{name}: only a reshape to [-1, 1] (one prediction per row) is supported"
                    ));
                }
            }
            ("TreeEnsembleRegressor", false) => {
                if node.input.len() != 1 {
                    return Err(format!(
                        "{name}: it has {} inputs; one is supported",
                        node.input.len()
                    ));
                }
                let mut trees = ensemble_of(node, &name, width)?;
                trees.float_features = float_features;
                ensemble = Some(trees);
            }
            (op, _) => {
                return Err(format!(
                    "{name}: {op} is not supported {} the trees; {SUPPORTED}",
                    if ensemble.is_some() {
                        "after"
                    } else {
                        "before"
                    }
                ));
            }
        }
        current = output;
    }
    let [output] = &graph.output[..] else {
        return Err(format!(
            "the graph has {} outputs; one is supported",
            graph.output.len()
        ));
    };
    match ensemble {
        Some(ensemble) if output.name == current => Ok(Read {
            input: input.name.to_string(),
            output: output.name.clone(),
            width,
            ensemble,
            operators,
        }),
        _ => Err(format!(
            "the graph output {} is not the tree ensemble's prediction; {SUPPORTED}",
            output.name
        )),
    }
}

/// A node's attributes, read with its name for messages.
struct Attributes<'a> {
    node: &'a NodeProto,
    name: &'a str,
}

impl Attributes<'_> {
    fn get(&self, key: &str) -> Option<&AttributeProto> {
        self.node.attribute.iter().find(|a| a.name == key)
    }

    /// The integers of `key`; none when absent.
    fn ints(&self, key: &str) -> &[i64] {
        self.get(key).map_or(&[], |a| &a.ints[..])
    }

    /// The string of `key`, or `default` when absent.
    fn string(&self, key: &str, default: &str) -> String {
        self.get(key).map_or(default.into(), |a| {
            String::from_utf8_lossy(&a.s).into_owned()
        })
    }

    /// The numbers of `key_as_tensor` (double, opset 3) when present, else of `key` (float).
    fn numbers(&self, key: &str) -> Result<Vec<f64>, String> {
        let tensor_key = format!("{key}_as_tensor");
        match self.get(&tensor_key).and_then(|a| a.t.as_ref()) {
            Some(tensor) => {
                elements(tensor).map_err(|m| format!("{}: attribute {tensor_key}: {m}", self.name))
            }
            None => Ok(self
                .get(key)
                .map_or(vec![], |a| a.floats.iter().map(|&f| f64::from(f)).collect())),
        }
    }
}

/// The kind of a node mode's name (`BRANCH_LEQ`), without missing-value tracking.
fn kind_of(mode: &[u8]) -> Option<u8> {
    Some(match mode {
        b"LEAF" => kind::LEAF,
        b"BRANCH_LEQ" => kind::LEQ,
        b"BRANCH_LT" => kind::LT,
        b"BRANCH_GTE" => kind::GTE,
        b"BRANCH_GT" => kind::GT,
        b"BRANCH_EQ" => kind::EQ,
        b"BRANCH_NEQ" => kind::NEQ,
        _ => return None,
    })
}

/// The trees of one `TreeEnsembleRegressor` node over `width` input columns.
fn ensemble_of(node: &NodeProto, name: &str, width: usize) -> Result<TreeEnsemble, String> {
    let a = Attributes { node, name };
    let targets = a.get("n_targets").map_or(1, |t| t.i);
    if targets != 1 {
        return Err(format!(
            "{name}: n_targets is {targets}; one target is supported"
        ));
    }
    let post = a.string("post_transform", "NONE");
    if post != "NONE" {
        return Err(format!(
            "{name}: post_transform is {post}; only NONE is supported"
        ));
    }
    let aggregate = match a.string("aggregate_function", "SUM").as_str() {
        "SUM" => Aggregate::Sum,
        "AVERAGE" => Aggregate::Average,
        other => {
            return Err(format!(
                "{name}: aggregate_function is {other}; SUM and AVERAGE are supported"
            ))
        }
    };
    let base = match a.numbers("base_values")?[..] {
        [] => 0.0,
        [b] => b,
        ref more => {
            return Err(format!(
                "{name}: {} base values; one is supported",
                more.len()
            ))
        }
    };
    let tree_ids = a.ints("nodes_treeids");
    let node_ids = a.ints("nodes_nodeids");
    let feature_ids = a.ints("nodes_featureids");
    let true_ids = a.ints("nodes_truenodeids");
    let false_ids = a.ints("nodes_falsenodeids");
    let missing = a.ints("nodes_missing_value_tracks_true");
    let modes = &a.get("nodes_modes").map_or(&[][..], |m| &m.strings[..]);
    let values = a.numbers("nodes_values")?;
    let n = tree_ids.len();
    if n == 0 {
        return Err(format!("{name}: it has no nodes"));
    }
    if n > MAX_NODES {
        return Err(format!("{name}: {n} nodes, over the limit of {MAX_NODES}"));
    }
    let sizes = [
        ("nodes_nodeids", node_ids.len()),
        ("nodes_featureids", feature_ids.len()),
        ("nodes_modes", modes.len()),
        ("nodes_values", values.len()),
        ("nodes_truenodeids", true_ids.len()),
        ("nodes_falsenodeids", false_ids.len()),
    ];
    for (key, len) in sizes {
        if len != n {
            return Err(format!(
                "{name}: {key} has {len} entries for {n} nodes in nodes_treeids"
            ));
        }
    }
    if !missing.is_empty() && missing.len() != n {
        return Err(format!(
            "{name}: nodes_missing_value_tracks_true has {} entries for {n} nodes",
            missing.len()
        ));
    }
    // Each (tree, node) id pair names one position; trees in the order they first appear.
    let mut position = HashMap::with_capacity(n);
    let mut roots: Vec<usize> = Vec::new();
    let mut tree_index = HashMap::new();
    for i in 0..n {
        if position.insert((tree_ids[i], node_ids[i]), i).is_some() {
            return Err(format!(
                "{name}: tree {} has node {} twice",
                tree_ids[i], node_ids[i]
            ));
        }
        tree_index.entry(tree_ids[i]).or_insert_with(|| {
            roots.push(i);
            roots.len() - 1
        });
    }
    // Leaf weights, summed per leaf as onnxruntime sums them.
    let target_trees = a.ints("target_treeids");
    let target_nodes = a.ints("target_nodeids");
    let target_ids = a.ints("target_ids");
    let weights = a.numbers("target_weights")?;
    let t = target_trees.len();
    if target_nodes.len() != t || target_ids.len() != t || weights.len() != t {
        return Err(format!(
            "{name}: target_treeids, target_nodeids, target_ids and target_weights differ in \
             length ({t}, {}, {}, {})",
            target_nodes.len(),
            target_ids.len(),
            weights.len()
        ));
    }
    let mut leaf_value: HashMap<usize, f64> = HashMap::with_capacity(t);
    for k in 0..t {
        if target_ids[k] != 0 {
            return Err(format!(
                "{name}: target {k} is for target id {}; one target (0) is supported",
                target_ids[k]
            ));
        }
        let Some(&i) = position.get(&(target_trees[k], target_nodes[k])) else {
            return Err(format!(
                "{name}: target {k} names tree {} node {}, which does not exist",
                target_trees[k], target_nodes[k]
            ));
        };
        *leaf_value.entry(i).or_insert(0.0) += weights[k];
    }
    let mut ensemble = TreeEnsemble {
        float_features: false,
        aggregate,
        base,
        roots: Vec::with_capacity(roots.len()),
        kinds: Vec::with_capacity(n),
        features: Vec::with_capacity(n),
        values: Vec::with_capacity(n),
        yes: Vec::with_capacity(n),
        no: Vec::with_capacity(n),
    };
    let mut visited = vec![false; n];
    for &root in &roots {
        let tree = tree_ids[root];
        ensemble.roots.push(ensemble.kinds.len() as u32);
        // (position, parent's new index and whether this is its yes child)
        let mut stack = vec![(root, None::<(usize, bool)>)];
        while let Some((i, parent)) = stack.pop() {
            let here = ensemble.kinds.len();
            if visited[i] {
                return Err(format!(
                    "{name}: tree {tree}: node {} is reached twice (a cycle or a shared \
                     subtree)",
                    node_ids[i]
                ));
            }
            visited[i] = true;
            match parent {
                Some((p, true)) => ensemble.yes[p] = here as u32,
                Some((p, false)) => ensemble.no[p] = here as u32,
                None => {}
            }
            let Some(k) = kind_of(&modes[i]) else {
                return Err(format!(
                    "{name}: tree {tree}: node {} has mode {}; BRANCH_LEQ, BRANCH_LT, \
                     BRANCH_GTE, BRANCH_GT, BRANCH_EQ, BRANCH_NEQ and LEAF are supported",
                    node_ids[i],
                    String::from_utf8_lossy(&modes[i])
                ));
            };
            if k == kind::LEAF {
                let Some(&value) = leaf_value.get(&i) else {
                    return Err(format!(
                        "{name}: tree {tree}: leaf {} has no target weight",
                        node_ids[i]
                    ));
                };
                ensemble.kinds.push(kind::LEAF);
                ensemble.features.push(0);
                ensemble.values.push(value);
                ensemble.yes.push(0);
                ensemble.no.push(0);
                continue;
            }
            if leaf_value.contains_key(&i) {
                return Err(format!(
                    "{name}: tree {tree}: node {} is a branch with a target weight",
                    node_ids[i]
                ));
            }
            let feature = feature_ids[i];
            if feature < 0 || feature as usize >= width {
                return Err(format!(
                    "{name}: tree {tree}: node {} tests feature {feature}, past the input's \
                     {width} columns",
                    node_ids[i]
                ));
            }
            let tracks = missing.get(i).copied().unwrap_or(0) != 0;
            ensemble
                .kinds
                .push(if tracks { k | kind::MISSING_YES } else { k });
            ensemble.features.push(feature as u32);
            ensemble.values.push(values[i]);
            ensemble.yes.push(0);
            ensemble.no.push(0);
            let child = |id: i64| {
                position.get(&(tree, id)).copied().ok_or_else(|| {
                    format!(
                        "{name}: tree {tree}: node {} has child {id}, which is not a node of \
                         the tree",
                        node_ids[i]
                    )
                })
            };
            let (yes, no) = (child(true_ids[i])?, child(false_ids[i])?);
            // The yes child is popped first: preorder, yes subtree before no subtree.
            stack.push((no, Some((here, false))));
            stack.push((yes, Some((here, true))));
        }
    }
    ensemble
        .validate(width)
        .map_err(|m| format!("{name}: {m}"))?;
    Ok(ensemble)
}
