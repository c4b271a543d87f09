//! One way to predict with any model kind: what scoring (and any other command) calls, so a new
//! kind of model scores everywhere at once.

use ndarray::{Array1, ArrayView2, ArrayViewMut1};

use crate::model::trees::{CompleteTrees, TreeEnsemble};
use crate::model::{linear, ModelFile};

/// A model ready to predict batches: built once from a [`ModelFile`], shared by the workers.
#[derive(Debug, Clone)]
pub enum Predictor {
    /// `x · weights + intercept`.
    Linear {
        /// One weight per feature.
        weights: Array1<f64>,
        /// The intercept.
        intercept: f64,
    },
    /// A tree ensemble, walked node by node.
    Trees(TreeEnsemble),
    /// A shallow tree ensemble of `x <= t` branches, as complete trees walked without branches
    /// (or scored 64 rows at a time with AVX-512, [`crate::model::trees_avx512`]).
    CompleteTrees(CompleteTrees),
}

impl ModelFile {
    /// The kind of model, as `/metrics` and the Open Inference Protocol's metadata name it.
    pub fn kind(&self) -> &'static str {
        match self.trees {
            Some(_) => "tree ensemble",
            None => "linear",
        }
    }
}

impl Predictor {
    /// The predictor of `model`.
    pub fn new(model: &ModelFile) -> Predictor {
        match &model.trees {
            Some(trees) => match trees.complete() {
                Some(complete) => Predictor::CompleteTrees(complete),
                None => Predictor::Trees(trees.clone()),
            },
            None => Predictor::Linear {
                weights: Array1::from(model.coefficients.clone()),
                intercept: model.intercept,
            },
        }
    }

    /// Predicts every row of `x` (one column per model feature, in the model's order) into
    /// `out`.
    pub fn predict_into(&self, x: ArrayView2<f64>, out: ArrayViewMut1<f64>) {
        match self {
            Predictor::Linear { weights, intercept } => {
                linear::predict_into(x, weights, *intercept, out)
            }
            Predictor::Trees(trees) => trees.predict_into(x, out),
            Predictor::CompleteTrees(trees) => trees.predict_into(x, out),
        }
    }
}
