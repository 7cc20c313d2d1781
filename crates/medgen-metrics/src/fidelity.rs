//! Fidelity and diversity of generated samples in feature space: precision, recall,
//! density, coverage, and nearest-training-neighbour distances.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, get_global_parallelism};
use medgen_core::CoreError;

use crate::error::Result;
use crate::features::FeatureMatrix;

/// Precision, recall, density and coverage of Naeem et al. (2020), from [`prdc`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prdc {
    /// Fraction of fake samples inside some real k-NN ball: fidelity.
    pub precision: f64,
    /// Fraction of real samples inside some fake k-NN ball: diversity.
    pub recall: f64,
    /// `(1/(kM)) Σ_j Σ_i 1[‖y_j − x_i‖ < r_i]`: how many real balls a fake sample falls in,
    /// normalised so that identical distributions give about 1 (can exceed 1).
    pub density: f64,
    /// Fraction of real samples whose k-NN ball holds at least one fake sample.
    pub coverage: f64,
}

/// Precision, recall, density and coverage (Naeem et al. 2020, the `prdc` package) of fake
/// features `y_j` (`M × d`) against real features `x_i` (`N × d`) with `k` nearest
/// neighbours: `r_i` is the distance from `x_i` to its `k`-th nearest other real sample
/// (`r'_j` likewise among fakes), and with strict inequalities as the reference code,
///
/// - precision `= (1/M) Σ_j 1[∃i: ‖y_j − x_i‖ < r_i]`,
/// - recall `= (1/N) Σ_i 1[∃j: ‖x_i − y_j‖ < r'_j]`,
/// - density `= (1/(kM)) Σ_j Σ_i 1[‖y_j − x_i‖ < r_i]`,
/// - coverage `= (1/N) Σ_i 1[min_j ‖x_i − y_j‖ < r_i]`.
///
/// Distances are Euclidean, from `f64` Gram matrices (`O((N + M)² d)` time, `O((N + M)²)`
/// memory).
///
/// # Errors
/// [`CoreError::ShapeMismatch`] if the dimensions differ, [`CoreError::InvalidConfig`]
/// unless `1 <= k < min(N, M)`.
pub fn prdc(real: FeatureMatrix<'_>, fake: FeatureMatrix<'_>, k: usize) -> Result<Prdc> {
    real.ensure_same_cols(&fake, "fake features")?;
    let (n, m) = (real.rows(), fake.rows());
    if k == 0 || k >= n.min(m) {
        return Err(CoreError::config(
            "k",
            format!("must be in [1, min(N, M) − 1 = {}], got {k}", n.min(m) - 1),
        )
        .into());
    }
    let real_radii = kth_neighbour_radii(&distances(real, real), k);
    let fake_radii = kth_neighbour_radii(&distances(fake, fake), k);
    let cross = distances(real, fake); // N × M
    let mut inside_real = vec![0usize; m];
    let mut covered = 0usize;
    let mut recalled = 0usize;
    for (i, &radius) in real_radii.iter().enumerate() {
        let mut nearest_fake = f64::INFINITY;
        let mut in_fake_ball = false;
        for (j, (count, &fake_radius)) in inside_real.iter_mut().zip(&fake_radii).enumerate() {
            let d = cross[(i, j)];
            *count += usize::from(d < radius);
            nearest_fake = nearest_fake.min(d);
            in_fake_ball |= d < fake_radius;
        }
        covered += usize::from(nearest_fake < radius);
        recalled += usize::from(in_fake_ball);
    }
    let (n, m) = (n as f64, m as f64);
    Ok(Prdc {
        precision: inside_real.iter().filter(|c| **c > 0).count() as f64 / m,
        recall: recalled as f64 / n,
        density: inside_real.iter().sum::<usize>() as f64 / (k as f64 * m),
        coverage: covered as f64 / n,
    })
}

/// For every query row, the distance to and index of its nearest reference row, from
/// [`nearest_neighbour_distances`].
#[derive(Clone, Debug, PartialEq)]
pub struct NearestNeighbours {
    /// `min_i ‖q_j − x_i‖` per query `j`.
    pub distances: Vec<f64>,
    /// The `argmin` (first on ties) per query.
    pub indices: Vec<usize>,
}

/// Nearest-training-neighbour distances: for every generated sample `q_j` (rows of
/// `queries`, `M × d`), the Euclidean distance to the nearest training sample `x_i` (rows
/// of `reference`, `N × d`) and its index. Small distances flag copies of training images
/// (memorisation); a histogram of them compared with held-out real data flags mode collapse.
///
/// # Errors
/// [`CoreError::ShapeMismatch`] if the dimensions differ.
pub fn nearest_neighbour_distances(
    queries: FeatureMatrix<'_>,
    reference: FeatureMatrix<'_>,
) -> Result<NearestNeighbours> {
    reference.ensure_same_cols(&queries, "query features")?;
    let d = distances(queries, reference);
    let (mut distances, mut indices) =
        (Vec::with_capacity(d.nrows()), Vec::with_capacity(d.nrows()));
    for j in 0..d.nrows() {
        let (index, distance) = (0..d.ncols())
            .map(|i| (i, d[(j, i)]))
            .fold((0, f64::INFINITY), |best, next| if next.1 < best.1 { next } else { best });
        distances.push(distance);
        indices.push(index);
    }
    Ok(NearestNeighbours { distances, indices })
}

/// Pairwise Euclidean distances `‖a_i − b_j‖ = √max(0, ‖a_i‖² + ‖b_j‖² − 2 a_iᵀb_j)`.
fn distances(a: FeatureMatrix<'_>, b: FeatureMatrix<'_>) -> Mat<f64> {
    let (fa, fb) = (a.to_faer(), b.to_faer());
    let mut gram = Mat::<f64>::zeros(a.rows(), b.rows());
    matmul(
        gram.as_mut(),
        Accum::Replace,
        fa.as_ref(),
        fb.transpose(),
        1.0,
        get_global_parallelism(),
    );
    let norm = |m: FeatureMatrix<'_>, i: usize| m.row(i).iter().map(|v| v * v).sum::<f64>();
    let na: Vec<f64> = (0..a.rows()).map(|i| norm(a, i)).collect();
    let nb: Vec<f64> = (0..b.rows()).map(|j| norm(b, j)).collect();
    Mat::from_fn(a.rows(), b.rows(), |i, j| (na[i] + nb[j] - 2.0 * gram[(i, j)]).max(0.0).sqrt())
}

/// The `k`-th smallest entry of every row of a square distance matrix, counting the
/// row's own zero as the 0-th (`np.partition(d, k)[:, k]`).
fn kth_neighbour_radii(d: &Mat<f64>, k: usize) -> Vec<f64> {
    (0..d.nrows())
        .map(|i| {
            let mut row: Vec<f64> = d.row(i).iter().copied().collect();
            let (_, kth, _) = row.select_nth_unstable_by(k, f64::total_cmp);
            *kth
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_dimensional_sets_match_hand_computation() {
        // Real on a line 0, 1, 2, 3 with k = 1: radii 1 each.
        let real = [0.0, 1.0, 2.0, 3.0];
        // Fake: 0.5 (inside balls of 0 and 1), 10 and 11 (far away, radii 1 among themselves).
        let fake = [0.5, 10.0, 11.0];
        let r = FeatureMatrix::new(&real, 4, 1, "real").unwrap();
        let f = FeatureMatrix::new(&fake, 3, 1, "fake").unwrap();
        let p = prdc(r, f, 1).unwrap();
        assert_eq!(p.precision, 1.0 / 3.0);
        assert_eq!(p.density, 2.0 / 3.0);
        // Fake radii: 0.5 → 9.5, 10 → 1, 11 → 1; real 0..3 are within 9.5 of 0.5.
        assert_eq!(p.recall, 1.0);
        // Coverage: real 0 and 1 have the fake 0.5 within radius 1.
        assert_eq!(p.coverage, 2.0 / 4.0);
        assert!(prdc(r, f, 3).is_err());
        let nn = nearest_neighbour_distances(f, r).unwrap();
        assert_eq!(nn.indices, vec![0, 3, 3]);
        assert_eq!(nn.distances, vec![0.5, 7.0, 8.0]);
    }
}
