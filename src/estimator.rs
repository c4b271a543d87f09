//! The estimators: rows (or their sufficient statistics) in; coefficients and intercept on the
//! original feature scale out, so that scoring is `x · w + b` whatever was fitted.
//!
//! | algorithm     | solver                                                           |
//! |---------------|------------------------------------------------------------------|
//! | `ols`         | QR least squares on `[X | 1]` (linfa-linear `LinearRegression`) at full rank, else the SVD's minimum-norm solution |
//! | `ols --streaming` | the centered normal equations ([`Moments`]), minimum norm by eigendecomposition and Cholesky |
//! | `ridge`       | Cholesky on the centered normal equations ([`Moments`])          |
//! | `lasso`, `elastic-net` | coordinate descent (linfa-elasticnet) on centered data  |
//!
//! Every estimator fits the intercept the way scikit-learn does: centre `X` and `y`, fit `w`
//! without an intercept, then `b = ȳ − x̄ · w`. With `--standardize` the centered features are
//! also divided by their population standard deviation (scikit-learn's `StandardScaler`, which
//! leaves a constant column's scale at 1), and `w` is divided by the same scales afterwards.

use linfa::traits::Fit as _;
use linfa::Dataset;
use linfa_elasticnet::ElasticNetParams;
use linfa_linalg::cholesky::Cholesky;
use linfa_linalg::eigh::Eigh;
use linfa_linalg::svd::SVD;
use linfa_linalg::triangular::{SolveTriangular, UPLO};
use linfa_linear::LinearRegression;
use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2, Axis};

use crate::model::{Algorithm, FitMetrics, Solver};

/// A fitted model, on the original feature scale.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// One coefficient per feature.
    pub coefficients: Array1<f64>,
    /// The intercept.
    pub intercept: f64,
    /// How the coefficients were computed.
    pub solver: Solver,
}

/// Why a fit failed, in words for a data error about the training file.
pub type FitError = String;

/// Fits `algorithm` to the rows `x` (one column per feature, named `features`) and target `y`.
pub fn fit(
    algorithm: Algorithm,
    standardize: bool,
    x: ArrayView2<f64>,
    y: ArrayView1<f64>,
    features: &[String],
) -> Result<Fit, FitError> {
    match algorithm {
        Algorithm::Ols => fit_ols(standardize, x, y),
        Algorithm::Ridge { alpha } => {
            let mut moments = Moments::new(x.ncols() + 1);
            let mut xy = Array2::zeros((x.nrows(), x.ncols() + 1));
            xy.slice_mut(s![.., ..x.ncols()]).assign(&x);
            xy.column_mut(x.ncols()).assign(&y);
            moments.add_rows(xy.view());
            let fit = moments.solve(alpha, standardize, features, false)?;
            finite(fit)
        }
        Algorithm::Lasso {
            alpha,
            tol,
            max_iter,
        } => fit_elastic_net(alpha, 1.0, tol, max_iter, standardize, x, y),
        Algorithm::ElasticNet {
            alpha,
            l1_ratio,
            tol,
            max_iter,
        } => fit_elastic_net(alpha, l1_ratio, tol, max_iter, standardize, x, y),
        Algorithm::Imported => Err("an imported model is not fitted here; import it again".into()),
    }
}

/// The relative cutoff below which a singular value of the centered `n × p` features counts as
/// zero: `eps · max(n, p)`, `numpy.linalg.lstsq`'s default `rcond`. A fixed, deterministic
/// function of the shape, so the same data always gets the same rank. (scikit-learn 1.5 leaves
/// `scipy.linalg.lstsq`'s default, `eps`, which is below the rounding of a zero singular value
/// in an SVD, ours included; where the two cutoffs differ, its answer is the unstable one.)
pub fn singular_value_cutoff(rows: usize, columns: usize) -> f64 {
    f64::EPSILON * rows.max(columns) as f64
}

/// The rank of centered features with singular values `singular` (any order) over `rows`
/// rows: how many exceed [`singular_value_cutoff`] times the largest, and never more than
/// `rows − 1`, which is all that centering leaves (with fewer rows than features, the one
/// singular value that centering makes zero would otherwise be decided by rounding).
pub fn least_squares_rank(singular: ArrayView1<f64>, rows: usize, columns: usize) -> usize {
    let largest = singular.iter().fold(0.0_f64, |a, &b| a.max(b));
    let cutoff = singular_value_cutoff(rows, columns) * largest;
    let above = singular.iter().filter(|&&v| v > cutoff).count();
    above.min(rows.saturating_sub(1))
}

/// Ordinary least squares, as scikit-learn's `LinearRegression`: the minimum-norm solution of
/// the centered problem. The rank comes from the SVD of the centered (and, with
/// `--standardize`, scaled) features. At full rank the solution is unique and QR (linfa-linear)
/// on the raw or standardized features finds it, as the shipped model was made; below full
/// rank the SVD's pseudo-inverse gives the minimum-norm one, so a constant column gets 0 and
/// two copies of a column share its weight.
fn fit_ols(standardize: bool, x: ArrayView2<f64>, y: ArrayView1<f64>) -> Result<Fit, FitError> {
    let (n, p) = x.dim();
    let (mean, scale) = column_scales(x);
    let scale = if standardize { scale } else { Array1::ones(p) };
    let centered = (&x - &mean) / &scale;
    let (_, singular, _) = centered
        .svd(false, false)
        .map_err(|e| format!("cannot fit: {e}"))?;
    let rank = least_squares_rank(singular.view(), n, p);
    let solver = Solver::LeastSquares { rank: rank as u32 };
    if rank < p {
        let y_mean = y.mean().expect("training has at least one row");
        let y_centered = &y - y_mean;
        let (u, singular, vt) = centered
            .svd(true, true)
            .map_err(|e| format!("cannot fit: {e}"))?;
        let (u, vt) = (u.expect("asked for U"), vt.expect("asked for V'"));
        let cutoff = singular_value_cutoff(n, p) * singular.iter().fold(0.0_f64, |a, &b| a.max(b));
        // The `rank` largest singular values are the ones kept (the SVD is not sorted).
        let mut order: Vec<usize> = (0..singular.len()).collect();
        order.sort_by(|&a, &b| singular[b].total_cmp(&singular[a]));
        let mut w = Array1::zeros(p);
        for &i in order.iter().take(rank) {
            if singular[i] > cutoff {
                w.scaled_add(u.column(i).dot(&y_centered) / singular[i], &vt.row(i));
            }
        }
        let coefficients = w / &scale;
        let intercept = y_mean - mean.dot(&coefficients);
        return finite(Fit {
            coefficients,
            intercept,
            solver,
        });
    }
    let (records, shift) = if standardize {
        (centered, mean)
    } else {
        (x.to_owned(), Array1::zeros(p))
    };
    let dataset = Dataset::new(records, y.to_owned());
    let fitted = LinearRegression::new()
        .fit(&dataset)
        .map_err(|e| format!("cannot fit: {e}"))?;
    let coefficients = fitted.params() / &scale;
    let intercept = fitted.intercept() - shift.dot(&coefficients);
    finite(Fit {
        coefficients,
        intercept,
        solver,
    })
}

/// Lasso (`l1_ratio` 1) and elastic net by linfa-elasticnet's coordinate descent.
///
/// linfa-elasticnet minimises `1/(2n)·‖y − Xw‖² + penalty·l1_ratio·‖w‖₁ +
/// penalty·(1 − l1_ratio)/2·‖w‖²`, scikit-learn's `ElasticNet` objective term for term, so
/// `penalty = alpha` and `l1_ratio = l1_ratio` pass through unchanged (lasso is `l1_ratio = 1`).
/// Its `tolerance` is scikit-learn's `tol` (stop when the duality gap is below
/// `tol · ‖y − ȳ‖²`) and `max_iterations` its `max_iter`.
///
/// With `with_intercept(true)` linfa-elasticnet 0.8.1 centres `y` but not `X`, which gives a
/// different (wrong) model whenever the features do not have mean zero; so we centre both
/// ourselves and fit without an intercept, as scikit-learn does.
fn fit_elastic_net(
    alpha: f64,
    l1_ratio: f64,
    tol: f64,
    max_iter: u32,
    standardize: bool,
    x: ArrayView2<f64>,
    y: ArrayView1<f64>,
) -> Result<Fit, FitError> {
    let (mean, scale) = column_scales(x);
    let scale = if standardize {
        scale
    } else {
        Array1::ones(x.ncols())
    };
    let y_mean = y.mean().expect("training has at least one row");
    let y_centered = &y - y_mean;
    let total = y_centered.dot(&y_centered);
    if total == 0.0 {
        // A constant target: w = 0 is the exact optimum (and the duality gap test, relative to
        // ‖y − ȳ‖² = 0, could never pass).
        return Ok(Fit {
            coefficients: Array1::zeros(x.ncols()),
            intercept: y_mean,
            solver: Solver::CoordinateDescent {
                iterations: 0,
                duality_gap: 0.0,
            },
        });
    }
    let records = (&x - &mean) / &scale;
    let fitted = ElasticNetParams::new()
        .penalty(alpha)
        .l1_ratio(l1_ratio)
        .with_intercept(false)
        .tolerance(tol)
        .max_iterations(max_iter)
        .fit(&Dataset::new(records, y_centered))
        .map_err(|e| format!("cannot fit: {e}"))?;
    // Soft thresholding leaves `-0.0` for some dropped features; `+ 0.0` makes them `0`.
    let coefficients = (fitted.hyperplane() / &scale).mapv(|c| c + 0.0);
    let intercept = y_mean - mean.dot(&coefficients);
    finite(Fit {
        coefficients,
        intercept,
        solver: Solver::CoordinateDescent {
            iterations: fitted.n_steps(),
            duality_gap: fitted.duality_gap() / total,
        },
    })
}

/// Refuses a fit with NaN or infinite coefficients.
fn finite(fit: Fit) -> Result<Fit, FitError> {
    if fit.coefficients.iter().all(|c| c.is_finite()) && fit.intercept.is_finite() {
        Ok(fit)
    } else {
        Err(
            "the fit gave non-finite coefficients: are some feature columns constant or \
             copies of others?"
                .into(),
        )
    }
}

/// Column means and `StandardScaler` scales (population standard deviation; 1 for a column
/// whose variance is within rounding of zero, with scikit-learn's bound).
fn column_scales(x: ArrayView2<f64>) -> (Array1<f64>, Array1<f64>) {
    let n = x.nrows() as f64;
    let mean = x.mean_axis(Axis(0)).expect("training has at least one row");
    let variance = (&x - &mean).mapv(|d| d * d).sum_axis(Axis(0)) / n;
    let scale = ndarray::Zip::from(&variance)
        .and(&mean)
        .map_collect(|&v, &m| standard_scale(v, m, n));
    (mean, scale)
}

/// The scale `StandardScaler` gives a column of variance `variance` and mean `mean` over `n`
/// rows: its standard deviation, or 1 when the variance is rounding noise
/// (`sklearn.preprocessing._data._is_constant_feature`).
fn standard_scale(variance: f64, mean: f64, n: f64) -> f64 {
    let eps = f64::EPSILON;
    let bound = n * eps * variance + (n * mean * eps).powi(2);
    if variance <= bound {
        1.0
    } else {
        variance.sqrt()
    }
}

/// Count, means and centered cross-products of the columns `[x₁ … x_p | y]`: the sufficient
/// statistics of least squares and ridge with an intercept, in `O(p²)` memory whatever the rows.
///
/// Batches are merged with Chan, Golub and LeVeque's pairwise update: each batch's means and
/// co-moments are computed about the batch's own mean, then combined with
/// `C = C_a + C_b + δδᵀ·n_a·n_b/n` (`δ` the difference of the means). Raw sums such as `Σx²`
/// would lose every digit that the mean shares with the values; centered ones do not.
#[derive(Debug, Clone, PartialEq)]
pub struct Moments {
    rows: u64,
    mean: Array1<f64>,
    comoment: Array2<f64>,
}

impl Moments {
    /// No rows yet, of `columns` columns (features and the target last).
    pub fn new(columns: usize) -> Moments {
        Moments {
            rows: 0,
            mean: Array1::zeros(columns),
            comoment: Array2::zeros((columns, columns)),
        }
    }

    /// The rows seen.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// `Σ(z − z̄)²` of column `j`.
    pub fn sum_of_squares(&self, j: usize) -> f64 {
        self.comoment[(j, j)]
    }

    /// Adds a batch of rows (target last).
    pub fn add_rows(&mut self, rows: ArrayView2<f64>) {
        if rows.nrows() == 0 {
            return;
        }
        let mean = rows.mean_axis(Axis(0)).expect("a non-empty batch");
        let centered = &rows - &mean;
        let batch = Moments {
            rows: rows.nrows() as u64,
            mean,
            comoment: centered.t().dot(&centered),
        };
        self.merge(&batch);
    }

    /// Adds another set of rows' statistics to these.
    pub fn merge(&mut self, other: &Moments) {
        if other.rows == 0 {
            return;
        }
        let (na, nb) = (self.rows as f64, other.rows as f64);
        let n = na + nb;
        let delta = &other.mean - &self.mean;
        self.mean.scaled_add(nb / n, &delta);
        let d = delta.view().insert_axis(Axis(1));
        self.comoment += &other.comoment;
        self.comoment += &(d.dot(&d.t()) * (na * nb / n));
        self.rows += other.rows;
    }

    /// Solves ridge (`alpha > 0`) or least squares (`alpha = 0`) with an intercept:
    /// `(Sxx + alpha·I) w = Sxy` on the centered statistics, `b = ȳ − x̄ · w`.
    ///
    /// This is scikit-learn's `Ridge(solver="cholesky")` (what its `"auto"` picks for dense
    /// data): its objective `‖y − Xw − b‖² + alpha·‖w‖²` has no `1/n`, so `alpha` enters the
    /// normal equations as is. (In linfa-elasticnet's `1/(2n)` objective the same model would be
    /// `l1_ratio = 0, penalty = alpha/n`, but coordinate descent only approaches it, where this
    /// closed form is exact to rounding: we want 1e-9 agreement, and the same code for
    /// `--streaming`.) Before the Cholesky factorisation the system is scaled to a unit
    /// diagonal, so features of very different magnitudes (TAX in hundreds, NOX below 1) do not
    /// cost digits; a diagonal entry of the factor near zero names a feature that is (nearly)
    /// a linear combination of the ones before it.
    ///
    /// Least squares (`alpha = 0`) gives scikit-learn's minimum-norm answer when `Sxx` is
    /// singular (a constant column, copies, more features than rows): the null space found by
    /// [`Moments::rank`] is pinned to zero by solving `(Sxx + c·NNᵀ) w = Sxy` instead (`N` the
    /// null space's orthonormal basis, `c` the largest eigenvalue). `Sxy` lies in the range of
    /// `Sxx`, so `w` is a least-squares solution, and `Nᵀw = 0` makes it the one of least norm;
    /// the Cholesky factorisation keeps the accuracy of the unit-diagonal scaling.
    /// `streamed` is recorded in the [`Solver`].
    pub fn solve(
        &self,
        alpha: f64,
        standardize: bool,
        features: &[String],
        streamed: bool,
    ) -> Result<Fit, FitError> {
        let p = self.mean.len() - 1;
        assert_eq!(features.len(), p, "one name per feature column");
        let n = self.rows as f64;
        let sxx = self.comoment.slice(s![..p, ..p]);
        let sxy = self.comoment.slice(s![..p, p]);
        let scale: Array1<f64> = if standardize {
            (0..p)
                .map(|j| standard_scale(sxx[(j, j)] / n, self.mean[j], n))
                .collect()
        } else {
            Array1::ones(p)
        };
        // The system in the (possibly standardized) feature scale.
        let mut a = &sxx / &scale.view().insert_axis(Axis(1)) / &scale;
        let rhs = &sxy / &scale;
        let solver = if alpha == 0.0 {
            let (rank, largest, null) = Moments::rank(a.view(), self.rows)?;
            a += &(null.dot(&null.t()) * largest.max(1.0));
            Solver::NormalEquations {
                rank: rank as u32,
                streamed,
            }
        } else {
            a.diag_mut().mapv_inplace(|d| d + alpha);
            Solver::Cholesky { streamed }
        };
        // Column scaling to a unit diagonal.
        let mut unit = Array1::zeros(p);
        for j in 0..p {
            let d = a[(j, j)];
            if d <= 0.0 {
                return Err(format!(
                    "feature {} is constant, so least squares cannot tell its coefficient from \
                     the intercept; leave it out with --features, or use ridge",
                    features[j]
                ));
            }
            unit[j] = d.sqrt();
        }
        let a = &a / &unit.view().insert_axis(Axis(1)) / &unit;
        let rhs = (&rhs / &unit).insert_axis(Axis(1));
        let l = a.cholesky().map_err(|_| {
            // Only on failure: the first leading block that does not factor names the feature.
            let j = (1..=p).find(|&k| a.slice(s![..k, ..k]).cholesky().is_err());
            collinear(features, j.map(|k| k - 1))
        })?;
        if let Some(j) = (0..p).find(|&j| l[(j, j)] * l[(j, j)] < 1e-12) {
            return Err(collinear(features, Some(j)));
        }
        let z = l
            .solve_triangular(&rhs, UPLO::Lower)
            .map_err(|_| collinear(features, None))?;
        let u = l
            .t()
            .solve_triangular(&z, UPLO::Upper)
            .map_err(|_| collinear(features, None))?;
        let coefficients = u.column(0).to_owned() / &unit / &scale;
        let intercept = self.mean[p] - self.mean.slice(s![..p]).dot(&coefficients);
        Ok(Fit {
            coefficients,
            intercept,
            solver,
        })
    }

    /// The rank of the centered `X'X` (`sxx`, of `rows` rows), its largest eigenvalue, and an
    /// orthonormal basis of its null space (one column per dimension).
    ///
    /// The eigenvalues of `X'X` are the squared singular values of `X`, but rounding in forming
    /// and decomposing `X'X` leaves a zero one near `eps · λ_max`, far above the square of
    /// scikit-learn's singular value cutoff. So the cutoff is applied to the eigenvalues
    /// directly: `λ ≤ eps · max(n, p) · λ_max` counts as zero ([`singular_value_cutoff`] on
    /// `λ` rather than on `σ = √λ`), and, as in memory, the rank is at most `n − 1`. This is
    /// deterministic, but coarser than in memory: a direction with `σ / σ_max` between
    /// `eps · max(n, p)` and its square root counts as zero here and not there.
    pub fn rank(sxx: ArrayView2<f64>, rows: u64) -> Result<(usize, f64, Array2<f64>), FitError> {
        let p = sxx.nrows();
        let (values, vectors) = sxx
            .eigh()
            .map_err(|e| format!("cannot decompose X'X: {e}"))?;
        let largest = values.iter().fold(0.0_f64, |a, &b| a.max(b));
        let rows = usize::try_from(rows).unwrap_or(usize::MAX);
        let cutoff = singular_value_cutoff(rows, p) * largest;
        let mut order: Vec<usize> = (0..p).collect();
        order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
        let rank = order
            .iter()
            .filter(|&&i| values[i] > cutoff)
            .count()
            .min(rows.saturating_sub(1));
        let null = vectors.select(Axis(1), &order[rank..]);
        Ok((rank, largest, null))
    }

    /// MSE and R² of `x · w + b` on these rows, from the statistics alone:
    /// `SSE = Syy − 2·w·Sxy + wᵀ·Sxx·w + n·(ȳ − b − x̄·w)²`. The subtraction loses about
    /// `log10(Syy/SSE)` digits, negligible unless R² is within 1e-6 of 1; a negative result
    /// of that rounding is clamped to 0.
    pub fn metrics(&self, coefficients: &Array1<f64>, intercept: f64) -> FitMetrics {
        let p = self.mean.len() - 1;
        let n = self.rows as f64;
        let sxx = self.comoment.slice(s![..p, ..p]);
        let sxy = self.comoment.slice(s![..p, p]);
        let syy = self.comoment[(p, p)];
        let bias = self.mean[p] - intercept - self.mean.slice(s![..p]).dot(coefficients);
        let sse = (syy - 2.0 * coefficients.dot(&sxy)
            + coefficients.dot(&sxx.dot(coefficients))
            + n * bias * bias)
            .max(0.0);
        FitMetrics {
            rows: self.rows,
            mse: sse / n,
            r2: r2(sse, syy),
        }
    }
}

/// R² from the residual and total sums of squares, as scikit-learn's `r2_score`: 1 when a
/// constant target is predicted exactly, 0 when it is not.
pub fn r2(ss_res: f64, ss_tot: f64) -> f64 {
    if ss_tot > 0.0 {
        1.0 - ss_res / ss_tot
    } else if ss_res == 0.0 {
        1.0
    } else {
        0.0
    }
}

fn collinear(features: &[String], at: Option<usize>) -> FitError {
    let which = match at {
        Some(j) => format!(
            "feature {} is (nearly) a linear combination of the features before it",
            features[j]
        ),
        None => "the features are collinear".to_string(),
    };
    format!(
        "{which}, so least squares has no unique solution; leave redundant features out with \
         --features, or use ridge"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn names(p: usize) -> Vec<String> {
        (0..p).map(|j| format!("x{j}")).collect()
    }

    fn assert_near(a: f64, b: f64, eps: f64) {
        assert!((a - b).abs() <= eps, "{a} vs {b}");
    }

    #[test]
    fn moments_merged_batch_by_batch_equal_moments_of_all_rows() {
        let rows = array![
            [1.0, 2.0, 3.0],
            [4.0, 0.5, -1.0],
            [2.0, 2.0, 2.0],
            [7.0, -3.0, 0.0]
        ];
        let mut whole = Moments::new(3);
        whole.add_rows(rows.view());
        let mut batched = Moments::new(3);
        batched.add_rows(rows.slice(s![..1, ..]));
        batched.add_rows(rows.slice(s![1..3, ..]));
        batched.add_rows(rows.slice(s![3.., ..]));
        assert_eq!(batched.rows(), 4);
        for (a, b) in whole.comoment.iter().zip(&batched.comoment) {
            assert_near(*a, *b, 1e-12);
        }
        // Σ(x₀ − 3.5)² = 6.25 + 0.25 + 2.25 + 12.25
        assert_near(whole.comoment[(0, 0)], 21.0, 1e-12);
        assert_near(whole.mean[0], 3.5, 0.0);
    }

    #[test]
    fn moments_keep_their_digits_far_from_zero() {
        // Raw sums of squares of 1e9 + {0, 1, 2} lose the variance entirely in f64.
        let rows = array![[1e9, 0.0], [1e9 + 1.0, 1.0], [1e9 + 2.0, 2.0]];
        let mut m = Moments::new(2);
        for i in 0..3 {
            m.add_rows(rows.slice(s![i..i + 1, ..]));
        }
        assert_eq!(m.comoment[(0, 0)], 2.0);
        assert_eq!(m.comoment[(0, 1)], 2.0);
    }

    #[test]
    fn least_squares_from_moments_recovers_an_exact_line() {
        // y = 2·a − b + 1
        let rows = array![
            [0.0, 0.0, 1.0],
            [1.0, 0.0, 3.0],
            [0.0, 1.0, 0.0],
            [2.0, 3.0, 2.0]
        ];
        let mut m = Moments::new(3);
        m.add_rows(rows.view());
        let Fit {
            coefficients: w,
            intercept: b,
            solver,
        } = m.solve(0.0, false, &names(2), false).unwrap();
        assert_eq!(
            solver,
            Solver::NormalEquations {
                rank: 2,
                streamed: false
            }
        );
        assert_near(w[0], 2.0, 1e-12);
        assert_near(w[1], -1.0, 1e-12);
        assert_near(b, 1.0, 1e-12);
        let metrics = m.metrics(&w, b);
        assert_near(metrics.mse, 0.0, 1e-12);
        assert_near(metrics.r2, 1.0, 1e-12);
    }

    #[test]
    fn ridge_shrinks_as_worked_out_by_hand() {
        // x = (−1, 0, 1), y = (−2, 0, 2): Sxx = 2, Sxy = 4, so w = 4 / (2 + alpha).
        let rows = array![[-1.0, -2.0], [0.0, 0.0], [1.0, 2.0]];
        let mut m = Moments::new(2);
        m.add_rows(rows.view());
        let fit = m.solve(2.0, false, &names(1), false).unwrap();
        let (w, b) = (fit.coefficients, fit.intercept);
        assert_near(w[0], 1.0, 1e-15);
        assert_near(b, 0.0, 1e-15);
        // Standardized, the scale is s = sqrt(2/3): Szz = 2/s² = 3, Szy = 4/s, so the
        // standardized coefficient is (4/s)/(3 + 2) and w = that/s = 4/(5·s²) = 1.2.
        let ws = m.solve(2.0, true, &names(1), true).unwrap().coefficients;
        assert_near(ws[0], 1.2, 1e-15);
    }

    /// OLS in memory and from moments on `x`, `y`: each fit's coefficients, intercept and rank.
    fn both_ols(x: &Array2<f64>, y: &Array1<f64>) -> [(Array1<f64>, f64, Option<u32>); 2] {
        let p = x.ncols();
        let memory = fit(Algorithm::Ols, false, x.view(), y.view(), &names(p)).unwrap();
        let mut m = Moments::new(p + 1);
        let mut xy = Array2::zeros((x.nrows(), p + 1));
        xy.slice_mut(s![.., ..p]).assign(x);
        xy.column_mut(p).assign(y);
        m.add_rows(xy.view());
        let streamed = m.solve(0.0, false, &names(p), true).unwrap();
        [memory, streamed].map(|f| (f.coefficients, f.intercept, f.solver.rank()))
    }

    #[test]
    fn a_constant_feature_gets_coefficient_zero_as_in_scikit_learn() {
        // y = x₀ + 1 exactly, beside a constant column: w = (1, 0), b = 1, rank 1.
        let x = array![[1.0, 5.0], [2.0, 5.0], [3.0, 5.0], [7.0, 5.0]];
        let y = array![2.0, 3.0, 4.0, 8.0];
        for (w, b, rank) in both_ols(&x, &y) {
            assert_near(w[0], 1.0, 1e-12);
            assert_near(w[1], 0.0, 1e-12);
            assert_near(b, 1.0, 1e-12);
            assert_eq!(rank, Some(1));
        }
    }

    #[test]
    fn copies_of_a_feature_share_its_weight_and_a_multiple_takes_its_share_by_norm() {
        // y = 2·a: with a copied, the minimum-norm answer is (1, 1); with the second column
        // 3·a, it is the w minimising w₀² + w₁² subject to w₀ + 3·w₁ = 2: (0.2, 0.6).
        let a = array![1.0, 2.0, 4.0, 3.0, 6.0];
        let y = &a * 2.0 + 0.5;
        for (multiple, expected) in [(1.0, [1.0, 1.0]), (3.0, [0.2, 0.6])] {
            let mut x = Array2::zeros((5, 2));
            x.column_mut(0).assign(&a);
            x.column_mut(1).assign(&(&a * multiple));
            for (w, b, rank) in both_ols(&x, &y) {
                assert_near(w[0], expected[0], 1e-12);
                assert_near(w[1], expected[1], 1e-12);
                assert_near(b, 0.5, 1e-12);
                assert_eq!(rank, Some(1));
            }
        }
    }

    #[test]
    fn more_features_than_rows_fit_the_rows_exactly_with_the_least_norm() {
        // Two rows, three features: centered, one direction d = x₁ − x₀ = (1, 2, 2) is left;
        // w = d · (y₁ − y₀) / ‖d‖² = d · 9 / 9.
        let x = array![[0.0, 0.0, 0.0], [1.0, 2.0, 2.0]];
        let y = array![1.0, 10.0];
        for (w, b, rank) in both_ols(&x, &y) {
            for (got, want) in w.iter().zip([1.0, 2.0, 2.0]) {
                assert_near(*got, want, 1e-12);
            }
            assert_near(b, 1.0, 1e-12);
            assert_eq!(rank, Some(1));
        }
    }

    #[test]
    fn the_rank_cutoff_counts_singular_values_above_eps_times_the_larger_dimension() {
        let s = array![
            10.0,
            10.0 * f64::EPSILON * 50.0,
            10.0 * f64::EPSILON * 200.0
        ];
        assert_eq!(least_squares_rank(s.view(), 100, 3), 2);
        assert_eq!(least_squares_rank(s.view(), 2, 3), 1);
        assert_eq!(least_squares_rank(array![0.0, 0.0].view(), 5, 2), 0);
    }

    #[test]
    fn lasso_soft_thresholds_a_single_feature() {
        // One centered feature: w = S(x·y/n, alpha) / (x·x/n). Here x·x/n = 2/3, x·y/n = 4/3.
        let x = array![[-1.0], [0.0], [1.0]];
        let y = array![-2.0, 0.0, 2.0];
        let lasso = Algorithm::Lasso {
            alpha: 0.5,
            tol: 1e-12,
            max_iter: 1000,
        };
        let fitted = fit(lasso, false, x.view(), y.view(), &names(1)).unwrap();
        assert_near(
            fitted.coefficients[0],
            (4.0 / 3.0 - 0.5) / (2.0 / 3.0),
            1e-12,
        );
        let big = Algorithm::Lasso {
            alpha: 2.0,
            tol: 1e-12,
            max_iter: 1000,
        };
        let fitted = fit(big, false, x.view(), y.view(), &names(1)).unwrap();
        assert_eq!(fitted.coefficients[0], 0.0);
    }

    #[test]
    fn the_intercept_is_right_for_features_far_from_zero() {
        // linfa-elasticnet alone would centre y but not x and get this wrong.
        let x = array![[100.0], [101.0], [102.0]];
        let y = array![1.0, 3.0, 5.0];
        let net = Algorithm::ElasticNet {
            alpha: 1e-9,
            l1_ratio: 0.5,
            tol: 1e-14,
            max_iter: 10_000,
        };
        let fitted = fit(net, false, x.view(), y.view(), &names(1)).unwrap();
        assert_near(fitted.coefficients[0], 2.0, 1e-6);
        assert_near(fitted.intercept, -199.0, 1e-4);
    }

    #[test]
    fn a_constant_target_fits_the_mean_without_iterating() {
        let x = array![[1.0], [2.0], [3.0]];
        let y = array![4.0, 4.0, 4.0];
        let lasso = Algorithm::Lasso {
            alpha: 0.1,
            tol: 1e-12,
            max_iter: 1000,
        };
        let fitted = fit(lasso, false, x.view(), y.view(), &names(1)).unwrap();
        assert_eq!((fitted.coefficients[0], fitted.intercept), (0.0, 4.0));
    }

    #[test]
    fn standardized_ols_is_the_same_model() {
        let x = array![[1.0, 10.0], [2.0, 30.0], [4.0, 20.0], [3.0, 50.0]];
        let y = array![1.0, 2.0, 5.0, 3.0];
        let plain = fit(Algorithm::Ols, false, x.view(), y.view(), &names(2)).unwrap();
        let scaled = fit(Algorithm::Ols, true, x.view(), y.view(), &names(2)).unwrap();
        for (a, b) in plain.coefficients.iter().zip(&scaled.coefficients) {
            assert_near(*a, *b, 1e-12);
        }
        assert_near(plain.intercept, scaled.intercept, 1e-12);
    }

    #[test]
    fn standard_scale_is_one_for_a_constant_column() {
        assert_eq!(standard_scale(0.0, 5.0, 3.0), 1.0);
        assert_eq!(standard_scale(4.0, 5.0, 3.0), 2.0);
    }
}
