//! The linear model's kernel: `x · w + b` for a whole batch, one matrix-vector product. Scoring
//! and training's metrics both predict through it, so they agree to the last bit.

use ndarray::{ArrayBase, ArrayView2, ArrayViewMut1, Data, Ix1};

/// Predicts every row of `x` into `out`: one matrix-vector product, then the intercept, in the
/// order scikit-learn's `X @ coef_ + intercept_` uses.
pub fn predict_into<S: Data<Elem = f64>>(
    x: ArrayView2<f64>,
    weights: &ArrayBase<S, Ix1>,
    intercept: f64,
    mut out: ArrayViewMut1<f64>,
) {
    ndarray::linalg::general_mat_vec_mul(1.0, &x, weights, 0.0, &mut out);
    out += intercept;
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array1};

    #[test]
    fn a_prediction_is_the_dot_product_plus_the_intercept() {
        let x = array![[1.0, 2.0], [0.0, 0.0], [-1.0, 0.5]];
        let w = array![3.0, -1.0];
        let mut out = Array1::zeros(3);
        predict_into(x.view(), &w, 0.5, out.view_mut());
        assert_eq!(out, array![1.5, 0.5, -3.0]);
    }
}
