//! The complete-tree kernel for CPUs without AVX-512: the leaf words of
//! [`crate::model::trees_avx512`] (QuickScorer's: a bit per leaf, each branch a row leaves the
//! `no` way clearing its `yes` subtree's leaves, the exit leaf the highest bit left) over blocks
//! of 64 rows copied column by column, in plain Rust that the compiler turns into vector code:
//! with AVX2 where the CPU has it (chosen at run time), with the baseline SSE2 elsewhere. Every
//! branch is tested against the whole block, so no load waits for a comparison as in the walk.
//! The same bits as the walk: each row's leaves are added in tree order, a float export's
//! features are rounded to float32 as they are copied, and `!(x <= t)` sends NaN the `no` way.
//!
//! Why `unsafe`: only to call the AVX2 copy of the kernel, a `#[target_feature]` function, which
//! [`BlockTrees`] does only when the CPU was found to have AVX2 and LZCNT.

use ndarray::{ArrayView2, ArrayViewMut1};

use crate::model::trees_avx512::{branch_columns, copy_block, keep_words, BLOCK, MAX_DEPTH};
use crate::read::cpu::CPU_VARIABLE;

/// What the block kernel needs beyond the complete trees.
#[derive(Debug, Clone)]
pub struct BlockTrees {
    /// The batch columns some branch tests, ascending.
    columns: Vec<usize>,
    /// Each branch's column as an index into `columns`, tree after tree as the thresholds.
    slots: Vec<u32>,
    /// For each branch position in a tree, the word to AND a row's leaf word with when the row
    /// goes the `no` way.
    keep: Vec<u64>,
    /// Whether the AVX2 copy runs.
    avx2: bool,
}

/// Whether the block kernel runs in this process (where the AVX-512 one does not): unless
/// `BATCH_INFERENCE_CPU=scalar` asks for the walk, which measures a CPU without vector code.
pub fn runs_here() -> bool {
    !std::env::var_os(CPU_VARIABLE).is_some_and(|value| {
        value
            .to_string_lossy()
            .trim()
            .eq_ignore_ascii_case("scalar")
    })
}

/// Whether this CPU runs the AVX2 copy of the kernel.
pub fn cpu_has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("lzcnt")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

impl BlockTrees {
    /// The kernel's view of complete trees of `depth` whose branches test `features` (tree after
    /// tree, `2^depth - 1` each), or `None` for trees deeper than [`MAX_DEPTH`]; the AVX2 copy
    /// runs when `avx2` (which only a CPU with AVX2 and LZCNT may ask for).
    pub fn new(depth: usize, features: &[u32], avx2: bool) -> Option<BlockTrees> {
        if !(1..=MAX_DEPTH).contains(&depth) {
            return None;
        }
        assert!(
            !avx2 || cpu_has_avx2(),
            "the AVX2 copy needs a CPU with AVX2"
        );
        let (columns, slots) = branch_columns(features);
        Some(BlockTrees {
            columns,
            slots,
            keep: keep_words(depth),
            avx2,
        })
    }

    /// Adds to each row's sum in `out` its leaf of every tree, trees in order, with rows `x`
    /// (rounded to float32 first when `float_features`); `thresholds` and `leaves` are the
    /// complete trees' of depth `depth` (the one [`BlockTrees::new`] was given).
    pub fn sum_leaves(
        &self,
        depth: usize,
        float_features: bool,
        thresholds: &[f64],
        leaves: &[f64],
        x: ArrayView2<f64>,
        out: ArrayViewMut1<f64>,
    ) {
        let trees = Trees {
            block: self,
            thresholds,
            leaves,
            float_features,
        };
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` is set only where the CPU has AVX2 and LZCNT (checked in `new`).
            unsafe {
                match depth {
                    1 => sum_leaves_avx2::<1>(&trees, x, out),
                    2 => sum_leaves_avx2::<2>(&trees, x, out),
                    3 => sum_leaves_avx2::<3>(&trees, x, out),
                    4 => sum_leaves_avx2::<4>(&trees, x, out),
                    5 => sum_leaves_avx2::<5>(&trees, x, out),
                    _ => sum_leaves_avx2::<MAX_DEPTH>(&trees, x, out),
                }
            }
            return;
        }
        match depth {
            1 => sum_leaves::<1>(&trees, x, out),
            2 => sum_leaves::<2>(&trees, x, out),
            3 => sum_leaves::<3>(&trees, x, out),
            4 => sum_leaves::<4>(&trees, x, out),
            5 => sum_leaves::<5>(&trees, x, out),
            _ => sum_leaves::<MAX_DEPTH>(&trees, x, out),
        }
    }
}

/// One call's view of the trees.
struct Trees<'a> {
    block: &'a BlockTrees,
    thresholds: &'a [f64],
    leaves: &'a [f64],
    float_features: bool,
}

/// [`sum_leaves`] compiled with AVX2 and LZCNT.
///
/// # Safety
/// The CPU must have AVX2 and LZCNT.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,lzcnt")]
unsafe fn sum_leaves_avx2<const DEPTH: usize>(
    trees: &Trees,
    x: ArrayView2<f64>,
    out: ArrayViewMut1<f64>,
) {
    sum_leaves::<DEPTH>(trees, x, out)
}

/// Scores `x` in blocks of [`BLOCK`] rows into `out`; `DEPTH` is the trees' depth.
#[inline(always)]
fn sum_leaves<const DEPTH: usize>(trees: &Trees, x: ArrayView2<f64>, mut out: ArrayViewMut1<f64>) {
    let columns = &trees.block.columns;
    // Rows past the batch in the last block keep earlier values: scored and dropped.
    let mut block = vec![0.0f64; columns.len() * BLOCK];
    let mut sums = [0.0f64; BLOCK];
    let rows = x.nrows();
    let mut first = 0;
    while first < rows {
        let count = BLOCK.min(rows - first);
        match trees.float_features {
            true => copy_block(x, first, count, columns, &mut block, |v| {
                f64::from(v as f32)
            }),
            false => copy_block(x, first, count, columns, &mut block, |v| v),
        }
        for (sum, &start) in sums.iter_mut().zip(out.iter().skip(first).take(count)) {
            *sum = start;
        }
        block_sums::<DEPTH>(trees, &block, &mut sums);
        for (sum, out) in sums.iter().zip(out.iter_mut().skip(first).take(count)) {
            *out = *sum;
        }
        first += count;
    }
}

/// Adds every tree's leaf to the 64 rows' `sums`, trees in order, the rows in `block`.
#[inline(always)]
fn block_sums<const DEPTH: usize>(trees: &Trees, block: &[f64], sums: &mut [f64; BLOCK]) {
    let internal = (1 << DEPTH) - 1;
    let keep = &trees.block.keep[..internal];
    for (t, thresholds) in trees.thresholds.chunks_exact(internal).enumerate() {
        let slots = &trees.block.slots[t * internal..(t + 1) * internal];
        let leaves = &trees.leaves[t << DEPTH..(t + 1) << DEPTH];
        let mut words = [u64::MAX; BLOCK];
        for ((&threshold, &slot), &keep) in thresholds.iter().zip(slots).zip(keep) {
            let column: &[f64; BLOCK] = block[slot as usize * BLOCK..][..BLOCK]
                .try_into()
                .expect("a block column is BLOCK long");
            for (word, &value) in words.iter_mut().zip(column) {
                // Not `value > threshold`: a NaN must go the no way, as in the walk.
                #[allow(clippy::neg_cmp_op_on_partial_ord)]
                let no = !(value <= threshold);
                *word &= if no { keep } else { u64::MAX };
            }
        }
        for (sum, word) in sums.iter_mut().zip(words) {
            // The exit leaf's bit is set and is the highest (see trees_avx512), so its index,
            // the leading zeros, is below 2^DEPTH.
            *sum += leaves[word.leading_zeros() as usize];
        }
    }
}
