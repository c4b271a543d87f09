//! The complete-tree kernel with AVX-512, one row per lane, where the CPU has it (AVX-512 F and
//! CD); elsewhere, or with `BATCH_INFERENCE_CPU` naming another reader, the same leaf words in
//! plain Rust ([`crate::model::trees_block`]) or, with `BATCH_INFERENCE_CPU=scalar`, the scalar
//! walk of [`crate::model::trees`] run. All give the same bits.
//!
//! The scalar walk spends about 4 ns on a tree and a row, in a chain of dependent loads (node,
//! feature, threshold, next node). Here 64 rows are first copied column by column into a small
//! block (rounded to float32 there, for a float export), and then, tree after tree, every branch
//! of the tree is tested against the 64 rows at once, 8 to a register: no load depends on a
//! comparison. The leaf is found as QuickScorer does: each row keeps a word with a bit per leaf
//! (leaf `j` at bit `63 - j`, all set at first), and a branch whose test sends the row the `no`
//! way clears the leaves of its `yes` subtree. Every leaf left of the row's exit leaf is cleared
//! (by the branch where the two paths part, which the row left the `no` way), the exit leaf never
//! is (a branch above it that clears it sends the row the other way, and the others are not
//! above it), so the exit leaf is the highest bit left: its index is the word's leading zeros.
//! The tree's leaves sit in registers and a permutation by that index fetches each row's leaf,
//! which is added to the row's f64 sum: trees in order for every row, the same order as the walk.
//!
//! A test sends a row the `no` way when `!(x <= t)`: the comparison "not less or equal,
//! unordered", true for NaN, as the walk's `!(value <= t)`.
//!
//! Why `unsafe`: the intrinsics are compiled only inside functions with `#[target_feature]`,
//! which are `unsafe` to call; [`VectorTrees::new`] exists only on a CPU that has the features,
//! so every call through it is sound. The loads read the block through pointers into slices
//! whose bounds are checked first (each says so where it is made).

use std::sync::OnceLock;

use ndarray::{ArrayView2, ArrayViewMut1};

use crate::read::cpu::CPU_VARIABLE;

/// The deepest complete trees the vector kernel takes: their 64 leaves fill a word's bits.
/// Deeper trees would need more than one word a row, and test twice the branches a level for
/// one step more of the walk.
pub const MAX_DEPTH: usize = 6;

/// Rows scored together: 8 registers of 8 lanes.
pub(crate) const BLOCK: usize = 64;

/// Copies `count` rows of `x` from `first` into `block`, column by column (each of the trees'
/// `columns` [`BLOCK`] rows long), each value through `lane`; rows past `count` stay as they
/// were (their lanes are scored and dropped).
#[inline(always)]
pub(crate) fn copy_block<T>(
    x: ArrayView2<f64>,
    first: usize,
    count: usize,
    columns: &[usize],
    block: &mut [T],
    lane: impl Fn(f64) -> T,
) {
    for (r, row) in x.outer_iter().skip(first).take(count).enumerate() {
        let row = row.as_slice().expect("a batch's rows are contiguous");
        for (c, &column) in columns.iter().enumerate() {
            block[c * BLOCK + r] = lane(row[column]);
        }
    }
}

/// What the vector kernel needs beyond the complete trees: the batch columns the trees test, and
/// each branch's column among them. Made only on a CPU that runs the kernel.
#[derive(Debug, Clone)]
pub struct VectorTrees {
    /// The batch columns some branch tests (padding branches test column 0), ascending.
    columns: Vec<usize>,
    /// Each branch's column as an index into `columns`, tree after tree as the thresholds.
    slots: Vec<u32>,
    /// For each branch position in a tree, the leaf bits of its `yes` subtree (cleared when a row
    /// goes the `no` way), as the complement: the word to AND with.
    keep: Vec<u64>,
    /// For a float export's trees of depth up to [`NARROW_DEPTH`], each threshold `t` as the
    /// largest float32 at most `t`: a float32 `x` is at most `t` exactly when it is at most that
    /// (and NaN is neither), so the tests run on float32 lanes, 16 to a register, with 32-bit
    /// leaf words. Empty otherwise.
    narrow: Vec<f32>,
}

/// The deepest trees of a float export scored on float32 lanes: 32 leaves fill a 32-bit word.
pub const NARROW_DEPTH: usize = 5;

/// For each branch position of a complete tree of `depth`, the word that clears the leaf bits of
/// its `yes` subtree (leaf `j` at bit `63 - j`).
pub(crate) fn keep_words(depth: usize) -> Vec<u64> {
    (0..(1usize << depth) - 1)
        .map(|node| {
            // Slot `s` of its level; its yes subtree holds `half` leaves from leaf `2 s half`.
            let level = (node + 1).ilog2() as usize;
            let s = node + 1 - (1 << level);
            let half = 1usize << (depth - level - 1);
            let yes = (2 * s * half..2 * s * half + half).fold(0u64, |m, j| m | 1 << (63 - j));
            !yes
        })
        .collect()
}

/// The batch columns the branches test, ascending, and each branch's column as an index into
/// them.
pub(crate) fn branch_columns(features: &[u32]) -> (Vec<usize>, Vec<u32>) {
    let mut columns: Vec<usize> = features.iter().map(|&f| f as usize).collect();
    columns.sort_unstable();
    columns.dedup();
    let slots = features
        .iter()
        .map(|&f| {
            let slot = columns.binary_search(&(f as usize));
            slot.expect("every feature is among the columns") as u32
        })
        .collect();
    (columns, slots)
}

/// The largest float32 at most `t` (not NaN).
fn f32_at_most(t: f64) -> f32 {
    let near = t as f32;
    match f64::from(near) > t {
        true => near.next_down(),
        false => near,
    }
}

/// Whether the vector kernel runs in this process: the CPU has AVX-512 F and CD, and
/// `BATCH_INFERENCE_CPU` is unset, empty or `avx512` (it names a slower reader to measure or
/// test a slower CPU on this one; a name no reader has is refused by the readers). Decided once.
pub fn runs_here() -> bool {
    static RUNS: OnceLock<bool> = OnceLock::new();
    *RUNS.get_or_init(|| {
        let forced = std::env::var_os(CPU_VARIABLE).is_some_and(|value| {
            let value = value.to_string_lossy();
            let value = value.trim();
            !value.is_empty() && !value.eq_ignore_ascii_case("avx512")
        });
        !forced && cpu_has_features()
    })
}

#[cfg(target_arch = "x86_64")]
fn cpu_has_features() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512cd")
}

#[cfg(not(target_arch = "x86_64"))]
fn cpu_has_features() -> bool {
    false
}

impl VectorTrees {
    /// The kernel's view of complete trees of `depth` whose branches test `features` against
    /// `thresholds` (tree after tree, `2^depth - 1` each), or `None` if the CPU cannot run it or
    /// the trees are deeper than [`MAX_DEPTH`]. `float_features` as the ensemble's.
    pub fn new(
        depth: usize,
        features: &[u32],
        thresholds: &[f64],
        float_features: bool,
    ) -> Option<VectorTrees> {
        if !(1..=MAX_DEPTH).contains(&depth) || !runs_here() {
            return None;
        }
        let (columns, slots) = branch_columns(features);
        let keep = keep_words(depth);
        let narrow = match float_features && depth <= NARROW_DEPTH {
            true => thresholds.iter().map(|&t| f32_at_most(t)).collect(),
            false => Vec::new(),
        };
        Some(VectorTrees {
            columns,
            slots,
            keep,
            narrow,
        })
    }

    /// Adds to each row's sum in `out` its leaf of every tree, trees in order, with rows `x`
    /// (rounded to float32 first when `float_features`); `thresholds` and `leaves` are the
    /// complete trees' of depth `depth` (the one [`VectorTrees::new`] was given).
    pub fn sum_leaves(
        &self,
        depth: usize,
        float_features: bool,
        thresholds: &[f64],
        leaves: &[f64],
        x: ArrayView2<f64>,
        out: ArrayViewMut1<f64>,
    ) {
        #[cfg(target_arch = "x86_64")]
        {
            let trees = Trees {
                vector: self,
                thresholds,
                leaves,
                float_features,
            };
            // SAFETY: a `VectorTrees` exists only where `runs_here` found the features.
            unsafe {
                match depth {
                    1 => x86::sum_leaves::<1>(&trees, x, out),
                    2 => x86::sum_leaves::<2>(&trees, x, out),
                    3 => x86::sum_leaves::<3>(&trees, x, out),
                    4 => x86::sum_leaves::<4>(&trees, x, out),
                    5 => x86::sum_leaves::<5>(&trees, x, out),
                    _ => x86::sum_leaves::<MAX_DEPTH>(&trees, x, out),
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (depth, float_features, thresholds, leaves, x, out);
            unreachable!("a VectorTrees is made only on x86_64");
        }
    }
}

/// One call's view of the trees.
#[cfg(target_arch = "x86_64")]
struct Trees<'a> {
    vector: &'a VectorTrees,
    thresholds: &'a [f64],
    leaves: &'a [f64],
    float_features: bool,
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use ndarray::{ArrayView2, ArrayViewMut1};

    use super::{copy_block, Trees, BLOCK};

    /// Scores `x` in blocks of [`BLOCK`] rows into `out`; `DEPTH` is the trees' depth.
    ///
    /// # Safety
    /// The CPU must have AVX-512 F and CD.
    #[target_feature(enable = "avx512f,avx512cd")]
    pub(super) unsafe fn sum_leaves<const DEPTH: usize>(
        trees: &Trees,
        x: ArrayView2<f64>,
        mut out: ArrayViewMut1<f64>,
    ) {
        let internal = (1 << DEPTH) - 1;
        let width = trees.vector.columns.len();
        let narrow = !trees.vector.narrow.is_empty();
        // One of the two blocks is used: float32 lanes for a narrow view, else f64 ones.
        let mut block = vec![0.0f64; if narrow { 0 } else { width * BLOCK }];
        let mut block32 = vec![0.0f32; if narrow { width * BLOCK } else { 0 }];
        let mut sums = [0.0f64; BLOCK];
        let rows = x.nrows();
        let mut first = 0;
        while first < rows {
            let count = BLOCK.min(rows - first);
            let columns = &trees.vector.columns;
            if narrow {
                copy_block(x, first, count, columns, &mut block32, |v| v as f32);
            } else if trees.float_features {
                copy_block(x, first, count, columns, &mut block, |v| {
                    f64::from(v as f32)
                });
            } else {
                copy_block(x, first, count, columns, &mut block, |v| v);
            }
            for (sum, &start) in sums.iter_mut().zip(out.iter().skip(first).take(count)) {
                *sum = start;
            }
            if narrow {
                block_sums_narrow::<DEPTH>(trees, internal, &block32, &mut sums);
            } else {
                block_sums::<DEPTH>(trees, internal, &block, &mut sums);
            }
            for (sum, out) in sums.iter().zip(out.iter_mut().skip(first).take(count)) {
                *out = *sum;
            }
            first += count;
        }
    }

    /// Adds every tree's leaf to the 64 rows' `sums`, trees in order, the rows in `block`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512cd")]
    fn block_sums<const DEPTH: usize>(
        trees: &Trees,
        internal: usize,
        block: &[f64],
        sums: &mut [f64; BLOCK],
    ) {
        let mut acc = [_mm512_setzero_pd(); BLOCK / 8];
        for (v, acc) in acc.iter_mut().enumerate() {
            // SAFETY: 8 f64 of `sums` from `8 v`, below 64.
            *acc = unsafe { _mm512_loadu_pd(sums.as_ptr().add(8 * v)) };
        }
        let keep = &trees.vector.keep[..internal];
        let tree_count = trees.thresholds.len() / internal;
        for t in 0..tree_count {
            let thresholds = &trees.thresholds[t * internal..(t + 1) * internal];
            let slots = &trees.vector.slots[t * internal..(t + 1) * internal];
            let leaves = &trees.leaves[t << DEPTH..(t + 1) << DEPTH];
            let mut words = [_mm512_set1_epi64(-1); BLOCK / 8];
            for n in 0..internal {
                let threshold = _mm512_set1_pd(thresholds[n]);
                let keep = _mm512_set1_epi64(keep[n] as i64);
                let column = &block[slots[n] as usize * BLOCK..][..BLOCK];
                for (v, word) in words.iter_mut().enumerate() {
                    // SAFETY: 8 f64 of `column` (64 long) from `8 v`, below 64.
                    let x = unsafe { _mm512_loadu_pd(column.as_ptr().add(8 * v)) };
                    let no = _mm512_cmp_pd_mask::<_CMP_NLE_UQ>(x, threshold);
                    *word = _mm512_mask_and_epi64(*word, no, *word, keep);
                }
            }
            let table = LeafTable::<DEPTH>::load(leaves);
            for (word, acc) in words.iter().zip(acc.iter_mut()) {
                let leaf = table.pick(_mm512_lzcnt_epi64(*word));
                *acc = _mm512_add_pd(*acc, leaf);
            }
        }
        for (v, acc) in acc.iter().enumerate() {
            // SAFETY: 8 f64 of `sums` from `8 v`, below 64.
            unsafe { _mm512_storeu_pd(sums.as_mut_ptr().add(8 * v), *acc) };
        }
    }

    /// [`block_sums`] on float32 lanes, 16 rows a register, with 32-bit leaf words (leaf `j` at
    /// bit `31 - j`: the high half of the 64-bit words' bits); for trees of depth up to
    /// [`super::NARROW_DEPTH`] whose thresholds are in `trees.vector.narrow`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512cd")]
    fn block_sums_narrow<const DEPTH: usize>(
        trees: &Trees,
        internal: usize,
        block: &[f32],
        sums: &mut [f64; BLOCK],
    ) {
        let mut acc = [_mm512_setzero_pd(); BLOCK / 8];
        for (v, acc) in acc.iter_mut().enumerate() {
            // SAFETY: 8 f64 of `sums` from `8 v`, below 64.
            *acc = unsafe { _mm512_loadu_pd(sums.as_ptr().add(8 * v)) };
        }
        let keep = &trees.vector.keep[..internal];
        let tree_count = trees.vector.narrow.len() / internal;
        for t in 0..tree_count {
            let thresholds = &trees.vector.narrow[t * internal..(t + 1) * internal];
            let slots = &trees.vector.slots[t * internal..(t + 1) * internal];
            let leaves = &trees.leaves[t << DEPTH..(t + 1) << DEPTH];
            let mut words = [_mm512_set1_epi32(-1); BLOCK / 16];
            for n in 0..internal {
                let threshold = _mm512_set1_ps(thresholds[n]);
                let keep = _mm512_set1_epi32((keep[n] >> 32) as u32 as i32);
                let column = &block[slots[n] as usize * BLOCK..][..BLOCK];
                for (v, word) in words.iter_mut().enumerate() {
                    // SAFETY: 16 f32 of `column` (64 long) from `16 v`, below 64.
                    let x = unsafe { _mm512_loadu_ps(column.as_ptr().add(16 * v)) };
                    let no = _mm512_cmp_ps_mask::<_CMP_NLE_UQ>(x, threshold);
                    *word = _mm512_mask_and_epi32(*word, no, *word, keep);
                }
            }
            let table = LeafTable::<DEPTH>::load(leaves);
            for (w, word) in words.iter().enumerate() {
                let index = _mm512_lzcnt_epi32(*word);
                let low = _mm512_cvtepu32_epi64(_mm512_castsi512_si256(index));
                let high = _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64::<1>(index));
                acc[2 * w] = _mm512_add_pd(acc[2 * w], table.pick(low));
                acc[2 * w + 1] = _mm512_add_pd(acc[2 * w + 1], table.pick(high));
            }
        }
        for (v, acc) in acc.iter().enumerate() {
            // SAFETY: 8 f64 of `sums` from `8 v`, below 64.
            unsafe { _mm512_storeu_pd(sums.as_mut_ptr().add(8 * v), *acc) };
        }
    }

    /// A tree's `2^DEPTH` leaves in registers, 8 to a register.
    struct LeafTable<const DEPTH: usize> {
        parts: [__m512d; 8],
    }

    impl<const DEPTH: usize> LeafTable<DEPTH> {
        /// The leaves of one tree (`2^DEPTH` of them).
        #[inline]
        #[target_feature(enable = "avx512f,avx512cd")]
        fn load(leaves: &[f64]) -> Self {
            let mut parts = [_mm512_setzero_pd(); 8];
            let count = leaves.len();
            debug_assert_eq!(count, 1 << DEPTH);
            for (p, part) in parts.iter_mut().enumerate().take(count.div_ceil(8)) {
                let lanes = (count - 8 * p).min(8);
                let mask = ((1u32 << lanes) - 1) as u8;
                // SAFETY: the mask selects `lanes` f64 from `8 p`, all within `leaves`; masked-off
                // lanes are not read.
                *part = unsafe { _mm512_maskz_loadu_pd(mask, leaves.as_ptr().add(8 * p)) };
            }
            LeafTable { parts }
        }

        /// Each lane's leaf `index` (below `2^DEPTH`).
        #[inline]
        #[target_feature(enable = "avx512f,avx512cd")]
        fn pick(&self, index: __m512i) -> __m512d {
            let p = &self.parts;
            if DEPTH <= 3 {
                return _mm512_permutexvar_pd(index, p[0]);
            }
            // Leaves 16 i to 16 i + 15, by the index's low four bits.
            let pair0 = _mm512_permutex2var_pd(p[0], index, p[1]);
            if DEPTH == 4 {
                return pair0;
            }
            let pair1 = _mm512_permutex2var_pd(p[2], index, p[3]);
            let bit4 = _mm512_test_epi64_mask(index, _mm512_set1_epi64(16));
            let low = _mm512_mask_blend_pd(bit4, pair0, pair1);
            if DEPTH == 5 {
                return low;
            }
            let pair2 = _mm512_permutex2var_pd(p[4], index, p[5]);
            let pair3 = _mm512_permutex2var_pd(p[6], index, p[7]);
            let high = _mm512_mask_blend_pd(bit4, pair2, pair3);
            let bit5 = _mm512_test_epi64_mask(index, _mm512_set1_epi64(32));
            _mm512_mask_blend_pd(bit5, low, high)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_threshold_narrows_to_the_largest_float32_at_most_it() {
        let one_below_one = 1.0f32.next_down();
        let cases: [(f64, f32); 9] = [
            (1.0, 1.0),
            (1.000_000_01, 1.0),
            (0.999_999_99, one_below_one),
            (-0.0, -0.0),
            (-1e-310, -f32::from_bits(1)),
            (1e300, f32::MAX),
            (-1e300, f32::NEG_INFINITY),
            (f64::INFINITY, f32::INFINITY),
            (f64::NEG_INFINITY, f32::NEG_INFINITY),
        ];
        for (t, narrow) in cases {
            assert_eq!(f32_at_most(t).to_bits(), narrow.to_bits(), "{t}");
        }
    }

    #[test]
    fn each_branch_keeps_all_but_the_leaves_of_its_yes_subtree() {
        // Leaves 0 to 3 at bits 63 to 60: the root's yes subtree holds leaves 0 and 1, its
        // children's leaves 0 and 2.
        let top = |bits: u64| bits << 60;
        assert_eq!(keep_words(2), [!top(0b1100), !top(0b1000), !top(0b0010)]);
        assert_eq!(keep_words(6)[62], !2);
    }
}
