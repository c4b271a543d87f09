//! Tree ensembles: their layout in the model file, the checks that make any file safe to walk,
//! and the predict kernel.
//!
//! All trees' nodes sit in flat arrays (one per field), tree after tree, each tree in preorder
//! from its root (`roots[t]`): a branch's children always come after it and inside its tree.
//! [`TreeEnsemble::validate`] holds every loaded file to that, so a walk only moves forward
//! and ends within a tree's length, whatever the file says, and every index is in bounds.
//!
//! A batch is scored tree by tree (the tree stays in cache while every row walks it), each
//! row's leaves added in tree order to an f64 sum that starts at the base value: the order
//! scikit-learn's gradient boosting adds its stages in, and the same for any batch size or
//! thread count.
//!
//! Shallow ensembles of `x <= t` branches (most exports) are laid out again as
//! [`CompleteTrees`] when a model is loaded, and scored 64 rows at a time by the vector kernel
//! of [`crate::model::trees_avx512`] where the CPU has AVX-512, by the block kernel of
//! [`crate::model::trees_block`] elsewhere (trees up to 6 deep), or walked without branches;
//! every way gives the same bits.

use ndarray::{ArrayView2, ArrayViewMut1};
use serde::{Deserialize, Serialize};

use crate::model::trees_avx512::VectorTrees;
use crate::model::trees_block::BlockTrees;

/// The most nodes an ensemble may have: each takes at most 24 bytes in the payload, so the
/// largest ensemble stays well within [`crate::model::MAX_PAYLOAD`].
pub const MAX_NODES: usize = 2_000_000;

/// A node's kind: a leaf, or a branch and the test that sends a row to its `yes` child. A
/// branch whose missing values go the `yes` way has `MISSING_YES` added.
pub mod kind {
    /// A leaf: its value is the tree's prediction.
    pub const LEAF: u8 = 0;
    /// `x <= threshold`.
    pub const LEQ: u8 = 1;
    /// `x < threshold`.
    pub const LT: u8 = 2;
    /// `x >= threshold`.
    pub const GTE: u8 = 3;
    /// `x > threshold`.
    pub const GT: u8 = 4;
    /// `x == threshold`.
    pub const EQ: u8 = 5;
    /// `x != threshold`.
    pub const NEQ: u8 = 6;
    /// Added to a branch's kind when a missing value (NaN) goes the `yes` way.
    pub const MISSING_YES: u8 = 8;
}

/// How the trees' leaves make one prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Aggregate {
    /// `base + Σ leaves`.
    Sum,
    /// `base + (Σ leaves) / trees`.
    Average,
}

/// Trees that predict one number together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreeEnsemble {
    /// True when features are rounded to float32 before each comparison (a float graph, or a
    /// Cast to float before the trees), as onnxruntime compares them.
    pub float_features: bool,
    /// How the leaves combine.
    pub aggregate: Aggregate,
    /// Added to every prediction.
    pub base: f64,
    /// Each tree's first node (its root); the first is 0, and they increase.
    pub roots: Vec<u32>,
    /// Each node's kind (see [`kind`]).
    pub kinds: Vec<u8>,
    /// A branch's feature (a column of the model's features); 0 for a leaf.
    pub features: Vec<u32>,
    /// A branch's threshold, or a leaf's value.
    pub values: Vec<f64>,
    /// A branch's child where its test holds (or a missing value goes, with `MISSING_YES`).
    pub yes: Vec<u32>,
    /// A branch's other child.
    pub no: Vec<u32>,
}

impl TreeEnsemble {
    /// The number of trees.
    pub fn trees(&self) -> usize {
        self.roots.len()
    }

    /// The nodes of tree `t`, as a range of indices.
    fn span(&self, t: usize) -> std::ops::Range<usize> {
        let end = self
            .roots
            .get(t + 1)
            .map_or(self.kinds.len(), |&r| r as usize);
        self.roots[t] as usize..end
    }

    /// The number of leaves of all trees.
    pub fn leaves(&self) -> usize {
        self.kinds.iter().filter(|&&k| k == kind::LEAF).count()
    }

    /// The deepest leaf's depth (a lone leaf is depth 0), over all trees.
    pub fn max_depth(&self) -> usize {
        let mut depth = vec![0usize; self.kinds.len()];
        let mut deepest = 0;
        // Preorder: a node's depth is known before its children are reached.
        for i in 0..self.kinds.len() {
            deepest = deepest.max(depth[i]);
            if self.kinds[i] != kind::LEAF {
                depth[self.yes[i] as usize] = depth[i] + 1;
                depth[self.no[i] as usize] = depth[i] + 1;
            }
        }
        deepest
    }

    /// The features some branch tests, as indices into the model's features, ascending.
    pub fn features_used(&self) -> Vec<usize> {
        let mut used: Vec<usize> = (0..self.kinds.len())
            .filter(|&i| self.kinds[i] != kind::LEAF)
            .map(|i| self.features[i] as usize)
            .collect();
        used.sort_unstable();
        used.dedup();
        used
    }

    /// Checks every size and index, so that [`TreeEnsemble::predict_into`] on rows of `width`
    /// columns stays in bounds and every walk ends: children after their branch and within its
    /// tree, features below `width`, known kinds, finite leaves and base, no NaN threshold.
    pub fn validate(&self, width: usize) -> Result<(), String> {
        let n = self.kinds.len();
        if [
            self.features.len(),
            self.values.len(),
            self.yes.len(),
            self.no.len(),
        ]
        .iter()
        .any(|&len| len != n)
        {
            return Err("the tree ensemble's node arrays differ in length".into());
        }
        if n > MAX_NODES {
            return Err(format!(
                "the tree ensemble has {n} nodes, over the limit of {MAX_NODES}"
            ));
        }
        if self.roots.is_empty() {
            return Err("the tree ensemble has no trees".into());
        }
        if self.roots[0] != 0 || self.roots.windows(2).any(|w| w[0] >= w[1]) {
            return Err("the tree ensemble's tree starts are not increasing from 0".into());
        }
        if self.roots[self.roots.len() - 1] as usize >= n {
            return Err("a tree of the ensemble has no nodes".into());
        }
        if !self.base.is_finite() {
            return Err(format!(
                "the base value is {}, not a finite number",
                self.base
            ));
        }
        for t in 0..self.trees() {
            let span = self.span(t);
            for i in span.clone() {
                let value = self.values[i];
                let k = self.kinds[i];
                if k == kind::LEAF {
                    if !value.is_finite() {
                        return Err(format!(
                            "tree {t}: node {} is a leaf of value {value}, not a finite number",
                            i - span.start
                        ));
                    }
                    continue;
                }
                if !(kind::LEQ..=kind::NEQ).contains(&(k & !kind::MISSING_YES)) {
                    return Err(format!(
                        "tree {t}: node {} has unknown kind {k}",
                        i - span.start
                    ));
                }
                let feature = self.features[i] as usize;
                if feature >= width {
                    return Err(format!(
                        "tree {t}: node {} tests feature {feature}, past the {width} features",
                        i - span.start
                    ));
                }
                if value.is_nan() {
                    return Err(format!(
                        "tree {t}: node {} has a NaN threshold",
                        i - span.start
                    ));
                }
                for child in [self.yes[i] as usize, self.no[i] as usize] {
                    if child <= i || child >= span.end {
                        return Err(format!(
                            "tree {t}: node {} has child {}, not after it in its tree",
                            i - span.start,
                            child as i64 - span.start as i64
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Predicts every row of `x` (one column per model feature) into `out`.
    pub fn predict_into(&self, x: ArrayView2<f64>, mut out: ArrayViewMut1<f64>) {
        let start = match self.aggregate {
            Aggregate::Sum => self.base,
            Aggregate::Average => 0.0,
        };
        out.fill(start);
        for t in 0..self.trees() {
            let root = self.roots[t] as usize;
            for (row, sum) in x.outer_iter().zip(out.iter_mut()) {
                let row = row.as_slice().expect("a batch's rows are contiguous");
                *sum += if self.float_features {
                    self.walk::<true>(root, row)
                } else {
                    self.walk::<false>(root, row)
                };
            }
        }
        if self.aggregate == Aggregate::Average {
            let trees = self.trees() as f64;
            out.mapv_inplace(|sum| sum / trees + self.base);
        }
    }

    /// The leaf value `row` reaches from `root`. Every step moves forward within the tree
    /// ([`TreeEnsemble::validate`]), so the walk ends.
    #[inline(always)]
    fn walk<const FLOAT: bool>(&self, root: usize, row: &[f64]) -> f64 {
        let mut i = root;
        loop {
            let k = self.kinds[i];
            let threshold = self.values[i];
            if k == kind::LEAF {
                return threshold;
            }
            let mut x = row[self.features[i] as usize];
            if FLOAT {
                x = f64::from(x as f32);
            }
            let yes = match k & !kind::MISSING_YES {
                kind::LEQ => x <= threshold,
                kind::LT => x < threshold,
                kind::GTE => x >= threshold,
                kind::GT => x > threshold,
                kind::EQ => x == threshold,
                _ => x != threshold,
            } || (k & kind::MISSING_YES != 0 && x.is_nan());
            i = if yes { self.yes[i] } else { self.no[i] } as usize;
        }
    }
}

/// The deepest trees [`TreeEnsemble::complete`] lays out as complete trees (`2^depth` leaves
/// each).
const COMPLETE_DEPTH: usize = 8;

/// A tree ensemble whose branches are all `x <= threshold` (missing values the other way), as
/// complete trees of one depth: shallower leaves are repeated down to it, under branches that
/// lead to the same value either way. A row then walks each tree in exactly `depth` steps with
/// no branch to mispredict: `i = 2i + 1 + (x > t)`. Built when a model is loaded, not stored;
/// its predictions are the same bits as [`TreeEnsemble::predict_into`]'s (same leaves, same
/// order of the sum). Trees of depth up to [`crate::model::trees_avx512::MAX_DEPTH`] are scored
/// 64 rows at a time instead, with the same bits: by the vector kernel of
/// [`crate::model::trees_avx512`] where the CPU has AVX-512, else by the block kernel of
/// [`crate::model::trees_block`] (unless `BATCH_INFERENCE_CPU=scalar` asks for the walk).
#[derive(Debug, Clone)]
pub struct CompleteTrees {
    ensemble_base: f64,
    aggregate: Aggregate,
    float_features: bool,
    depth: usize,
    trees: usize,
    features: Vec<u32>,
    thresholds: Vec<f64>,
    leaves: Vec<f64>,
    /// The vector kernel's extra view, where it runs.
    vector: Option<VectorTrees>,
    /// The block kernel's view, where the AVX-512 one does not run.
    block: Option<BlockTrees>,
}

impl TreeEnsemble {
    /// The ensemble as [`CompleteTrees`], when its trees are at most `COMPLETE_DEPTH` deep
    /// and every branch is `BRANCH_LEQ` without missing-value tracking, and the complete trees
    /// are at most four times the nodes (so that many shallow trees and one deep one cannot
    /// blow the layout up).
    pub fn complete(&self) -> Option<CompleteTrees> {
        let depth = self.max_depth();
        if depth > COMPLETE_DEPTH || self.trees() << depth > 4 * self.kinds.len() {
            return None;
        }
        let leq_only = self
            .kinds
            .iter()
            .all(|&k| k == kind::LEAF || k == kind::LEQ);
        if depth == 0 || depth > COMPLETE_DEPTH || !leq_only {
            return None;
        }
        let internal = (1 << depth) - 1;
        let mut complete = CompleteTrees {
            ensemble_base: self.base,
            aggregate: self.aggregate,
            float_features: self.float_features,
            depth,
            trees: self.trees(),
            features: vec![0; internal * self.trees()],
            thresholds: vec![f64::INFINITY; internal * self.trees()],
            leaves: vec![0.0; (internal + 1) * self.trees()],
            vector: None,
            block: None,
        };
        for t in 0..self.trees() {
            self.fill(&mut complete, t, self.roots[t] as usize, 0, 0);
        }
        complete.vector = VectorTrees::new(
            depth,
            &complete.features,
            &complete.thresholds,
            self.float_features,
        );
        if complete.vector.is_none() && crate::model::trees_block::runs_here() {
            let avx2 = crate::model::trees_block::cpu_has_avx2();
            complete.block = BlockTrees::new(depth, &complete.features, avx2);
        }
        Some(complete)
    }

    /// Lays node `i` out at `slot` of tree `t`, `level` steps below the root.
    fn fill(&self, out: &mut CompleteTrees, t: usize, i: usize, slot: usize, level: usize) {
        let internal = (1 << out.depth) - 1;
        if level == out.depth {
            // Only a leaf reaches the last level: the depth is the deepest leaf's.
            out.leaves[t * (internal + 1) + slot - internal] = self.values[i];
            return;
        }
        let (yes, no) = if self.kinds[i] == kind::LEAF {
            // Feature 0 against +inf: either way leads to this same leaf.
            (i, i)
        } else {
            out.features[t * internal + slot] = self.features[i];
            out.thresholds[t * internal + slot] = self.values[i];
            (self.yes[i] as usize, self.no[i] as usize)
        };
        self.fill(out, t, yes, 2 * slot + 1, level + 1);
        self.fill(out, t, no, 2 * slot + 2, level + 1);
    }
}

impl CompleteTrees {
    /// Predicts every row of `x` into `out`, as [`TreeEnsemble::predict_into`] does.
    pub fn predict_into(&self, x: ArrayView2<f64>, mut out: ArrayViewMut1<f64>) {
        let start = match self.aggregate {
            Aggregate::Sum => self.ensemble_base,
            Aggregate::Average => 0.0,
        };
        out.fill(start);
        if let Some(vector) = &self.vector {
            // It rounds a float export's features as it copies them into its blocks.
            vector.sum_leaves(
                self.depth,
                self.float_features,
                &self.thresholds,
                &self.leaves,
                x,
                out.view_mut(),
            );
        } else if let Some(block) = &self.block {
            block.sum_leaves(
                self.depth,
                self.float_features,
                &self.thresholds,
                &self.leaves,
                x,
                out.view_mut(),
            );
        } else {
            self.walk_all(x, out.view_mut());
        }
        if self.aggregate == Aggregate::Average {
            let trees = self.trees as f64;
            out.mapv_inplace(|sum| sum / trees + self.ensemble_base);
        }
    }

    /// The same trees without the vector kernel, so that tests and benchmarks reach the scalar
    /// walk on any CPU.
    pub fn without_vector_kernel(mut self) -> CompleteTrees {
        self.vector = None;
        self.block = None;
        self
    }

    /// The same trees scored by the block kernel (its AVX2 copy when `avx2`, which only a CPU
    /// with AVX2 may ask for), whatever the CPU, so that tests reach it.
    pub fn with_block_kernel(mut self, avx2: bool) -> CompleteTrees {
        self.vector = None;
        self.block = BlockTrees::new(self.depth, &self.features, avx2);
        self
    }

    /// Whether [`CompleteTrees::predict_into`] uses the AVX-512 kernel.
    pub fn uses_vector_kernel(&self) -> bool {
        self.vector.is_some()
    }

    /// Whether [`CompleteTrees::predict_into`] uses the block kernel.
    pub fn uses_block_kernel(&self) -> bool {
        self.block.is_some()
    }

    /// Adds each row's leaves to its sum in `out` by the scalar walk.
    fn walk_all(&self, x: ArrayView2<f64>, mut out: ArrayViewMut1<f64>) {
        // A float export compares float32 features: round the batch once, not at every step.
        let rounded = self
            .float_features
            .then(|| x.mapv(|value| f64::from(value as f32)));
        let x = rounded.as_ref().map_or(x.view(), |rounded| rounded.view());
        // A fixed depth lets the compiler unroll each walk into straight-line code.
        match self.depth {
            1 => self.sum_leaves::<1>(x, out.view_mut()),
            2 => self.sum_leaves::<2>(x, out.view_mut()),
            3 => self.sum_leaves::<3>(x, out.view_mut()),
            4 => self.sum_leaves::<4>(x, out.view_mut()),
            5 => self.sum_leaves::<5>(x, out.view_mut()),
            6 => self.sum_leaves::<6>(x, out.view_mut()),
            7 => self.sum_leaves::<7>(x, out.view_mut()),
            _ => self.sum_leaves::<COMPLETE_DEPTH>(x, out.view_mut()),
        }
    }
}

impl CompleteTrees {
    /// Adds each row's leaf of every tree to its sum, trees in order; `DEPTH` is `self.depth`.
    fn sum_leaves<const DEPTH: usize>(&self, x: ArrayView2<f64>, mut out: ArrayViewMut1<f64>) {
        debug_assert_eq!(DEPTH, self.depth);
        let internal = (1 << DEPTH) - 1;
        for t in 0..self.trees {
            let features = &self.features[t * internal..(t + 1) * internal];
            let thresholds = &self.thresholds[t * internal..(t + 1) * internal];
            let leaves = &self.leaves[t * (internal + 1)..(t + 1) * (internal + 1)];
            for (row, sum) in x.outer_iter().zip(out.iter_mut()) {
                let row = row.as_slice().expect("a batch's rows are contiguous");
                let mut i = 0;
                for _ in 0..DEPTH {
                    let value = row[features[i] as usize];
                    // Not `value > t`: a NaN must go the no way, as in the node walk.
                    #[allow(clippy::neg_cmp_op_on_partial_ord)]
                    let no = !(value <= thresholds[i]);
                    i = 2 * i + 1 + usize::from(no);
                }
                *sum += leaves[i - internal];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Rng;
    use ndarray::{array, Array1};

    /// Two trees: `x0 <= 1 ? 10 : (x1 < 5 ? 20 : 30)` and a lone leaf 0.5, base 100.
    fn ensemble() -> TreeEnsemble {
        TreeEnsemble {
            float_features: false,
            aggregate: Aggregate::Sum,
            base: 100.0,
            roots: vec![0, 5],
            kinds: vec![
                kind::LEQ,
                kind::LEAF,
                kind::LT | kind::MISSING_YES,
                kind::LEAF,
                kind::LEAF,
                kind::LEAF,
            ],
            features: vec![0, 0, 1, 0, 0, 0],
            values: vec![1.0, 10.0, 5.0, 20.0, 30.0, 0.5],
            yes: vec![1, 0, 3, 0, 0, 0],
            no: vec![2, 0, 4, 0, 0, 0],
        }
    }

    fn predict(e: &TreeEnsemble, x: ndarray::Array2<f64>) -> Array1<f64> {
        let mut out = Array1::zeros(x.nrows());
        e.predict_into(x.view(), out.view_mut());
        out
    }

    #[test]
    fn each_row_walks_every_tree_and_adds_the_leaves_to_the_base() {
        let x = array![
            [1.0, 0.0],
            [1.5, 4.0],
            [2.0, 5.0],
            [2.0, f64::NAN],
            [f64::NAN, 9.0]
        ];
        assert_eq!(
            predict(&ensemble(), x),
            array![110.5, 120.5, 130.5, 120.5, 130.5]
        );
    }

    #[test]
    fn an_average_divides_the_leaves_by_the_trees_before_the_base() {
        let mut e = ensemble();
        e.aggregate = Aggregate::Average;
        assert_eq!(predict(&e, array![[0.0, 0.0]]), array![105.25]);
    }

    #[test]
    fn float_features_are_rounded_to_float32_before_the_test() {
        let mut e = ensemble();
        // 1.00000001 rounds to 1.0f32, which is <= 1.
        assert_eq!(predict(&e, array![[1.000_000_01, 0.0]]), array![120.5]);
        e.float_features = true;
        assert_eq!(predict(&e, array![[1.000_000_01, 0.0]]), array![110.5]);
    }

    #[test]
    fn complete_trees_predict_the_same_bits_as_the_walk() {
        let mut e = ensemble();
        e.kinds[2] = kind::LEQ;
        e.float_features = true;
        let complete = e.complete().expect("two levels of LEQ");
        let cells = [f64::NAN, 0.0, 1.0, 1.000_000_01, 4.0, 5.0, 6.0, -3.0];
        let x = ndarray::Array2::from_shape_fn((64, 2), |(i, j)| cells[(i >> (3 * j)) % 8]);
        let mut out = Array1::zeros(64);
        complete.predict_into(x.view(), out.view_mut());
        let walked = predict(&e, x);
        assert!(out
            .iter()
            .zip(&walked)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
        e.kinds[2] = kind::LT;
        assert!(e.complete().is_none());
    }

    /// A random tree of `x <= t` branches in preorder at the end of `e`, at most `depth` deep,
    /// exactly `depth` deep along its first path when `deepest`; thresholds and features from
    /// `values`, features below `used`.
    fn grow(e: &mut TreeEnsemble, rng: &mut Rng, depth: usize, deepest: bool, used: u64) -> u32 {
        let i = e.kinds.len();
        let leaf = depth == 0 || (!deepest && rng.one_in(6));
        let value = VALUES[rng.below(VALUES.len() as u64) as usize];
        e.kinds.push(if leaf { kind::LEAF } else { kind::LEQ });
        e.features
            .push(if leaf { 0 } else { rng.below(used) as u32 });
        // A leaf's value must be finite; a threshold may be infinite.
        let leaf_value = (rng.below(2000) as f64 - 1000.0) / 7.0;
        e.values.push(if leaf { leaf_value } else { value });
        e.yes.push(0);
        e.no.push(0);
        if !leaf {
            e.yes[i] = grow(e, rng, depth - 1, deepest, used);
            e.no[i] = grow(e, rng, depth - 1, false, used);
        }
        i as u32
    }

    /// Thresholds and features: equal ones, values a float32 rounding moves onto a threshold,
    /// signed zeros, infinities (and NaN, for features only).
    const VALUES: [f64; 12] = [
        0.0,
        -0.0,
        1.0,
        1.000_000_01,
        0.999_999_99,
        -2.5,
        3.25,
        1e300,
        -1e-310,
        f64::INFINITY,
        f64::NEG_INFINITY,
        7.0,
    ];

    fn random_ensemble(rng: &mut Rng, depth: usize, float: bool, average: bool) -> TreeEnsemble {
        let mut e = TreeEnsemble {
            float_features: float,
            aggregate: if average {
                Aggregate::Average
            } else {
                Aggregate::Sum
            },
            base: (rng.below(100) as f64 - 50.0) / 3.0,
            roots: vec![],
            kinds: vec![],
            features: vec![],
            values: vec![],
            yes: vec![],
            no: vec![],
        };
        for t in 0..1 + rng.below(6) {
            e.roots.push(e.kinds.len() as u32);
            // Features 0..3 of 5: rows are wider than the features the trees test.
            grow(&mut e, rng, depth, t == 0, 3);
        }
        e.validate(5).expect("a valid random ensemble");
        e
    }

    #[test]
    fn the_vector_kernel_and_the_scalar_walk_give_the_node_walk_s_bits() {
        let mut rng = Rng(16);
        let cells = [VALUES.as_slice(), &[f64::NAN, 2.0, -7.0, 1e-8]].concat();
        for depth in 1..=COMPLETE_DEPTH {
            for case in 0..8 {
                let e = random_ensemble(&mut rng, depth, case % 2 == 0, case % 4 >= 2);
                assert_eq!(e.max_depth(), depth);
                let complete = e.complete().expect("complete trees of LEQ branches");
                assert_eq!(
                    complete.uses_vector_kernel(),
                    depth <= crate::model::trees_avx512::MAX_DEPTH
                        && crate::model::trees_avx512::runs_here()
                );
                let block_kernel = depth <= crate::model::trees_avx512::MAX_DEPTH;
                assert_eq!(
                    complete.uses_block_kernel(),
                    block_kernel && !complete.uses_vector_kernel()
                );
                let scalar = complete.clone().without_vector_kernel();
                let block = complete.clone().with_block_kernel(false);
                let avx2 = crate::model::trees_block::cpu_has_avx2()
                    .then(|| complete.clone().with_block_kernel(true));
                assert_eq!(block.uses_block_kernel(), block_kernel);
                for rows in [0, 1, 7, 8, 9, 63, 64, 65, 1000] {
                    let x = ndarray::Array2::from_shape_fn((rows, 5), |_| {
                        cells[rng.below(cells.len() as u64) as usize]
                    });
                    let walked = predict(&e, x.clone());
                    for kernel in [&complete, &scalar, &block].into_iter().chain(&avx2) {
                        let mut out = Array1::from_elem(rows, f64::NAN);
                        kernel.predict_into(x.view(), out.view_mut());
                        let same = out
                            .iter()
                            .zip(&walked)
                            .all(|(a, b)| a.to_bits() == b.to_bits());
                        assert!(
                            same,
                            "depth {depth}, case {case}, {rows} rows: {out} against {walked}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn depth_leaves_and_features_used_are_counted() {
        let e = ensemble();
        assert_eq!((e.trees(), e.leaves(), e.max_depth()), (2, 4, 2));
        assert_eq!(e.features_used(), vec![0, 1]);
    }

    #[test]
    fn a_child_before_its_branch_or_outside_its_tree_is_refused() {
        let mut e = ensemble();
        e.yes[2] = 2;
        assert_eq!(
            e.validate(2).unwrap_err(),
            "tree 0: node 2 has child 2, not after it in its tree"
        );
        let mut e = ensemble();
        e.no[2] = 5;
        assert_eq!(
            e.validate(2).unwrap_err(),
            "tree 0: node 2 has child 5, not after it in its tree"
        );
    }

    #[test]
    fn a_feature_past_the_width_and_broken_arrays_are_refused() {
        assert_eq!(
            ensemble().validate(1).unwrap_err(),
            "tree 0: node 2 tests feature 1, past the 1 features"
        );
        let mut e = ensemble();
        e.no.pop();
        assert_eq!(
            e.validate(2).unwrap_err(),
            "the tree ensemble's node arrays differ in length"
        );
        let mut e = ensemble();
        e.roots = vec![0, 6];
        assert_eq!(
            e.validate(2).unwrap_err(),
            "a tree of the ensemble has no nodes"
        );
        let mut e = ensemble();
        e.kinds[0] = 7;
        assert_eq!(
            e.validate(2).unwrap_err(),
            "tree 0: node 0 has unknown kind 7"
        );
        assert_eq!(ensemble().validate(2), Ok(()));
    }
}
