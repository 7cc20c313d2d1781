//! Exact linear assignment: the minimum-cost matching of rows to columns.

use medgen_core::CoreError;

use super::cost::CostMatrix;
use crate::error::Result;

/// Solves the linear assignment problem `min_π Σᵢ C_{i, π(i)}` over injective maps `π` from
/// the rows to the columns of `cost` (`rows ≤ cols`; a permutation when square), as
/// `scipy.optimize.linear_sum_assignment`. Returns `π` as `assignment[i] = π(i)`.
///
/// The algorithm is the shortest-augmenting-path method with dual potentials (Kuhn–Munkres
/// in the form of Jonker and Volgenant): rows are added one at a time; each addition runs a
/// Dijkstra search over reduced costs `C_ij − uᵢ − v_j ≥ 0` from the new row to a free column,
/// updates the potentials by the search distances (which keeps every reduced cost
/// non-negative and every matched edge tight) and flips the augmenting path. It takes
/// `O(rows² · cols)` time and is exact in `f64` up to rounding of the sums.
///
/// # Errors
/// [`CoreError::InvalidConfig`] if there are more rows than columns.
pub fn linear_sum_assignment(cost: &CostMatrix) -> Result<Vec<usize>> {
    let (n, m) = (cost.rows(), cost.cols());
    if n > m {
        return Err(CoreError::config(
            "cost matrix",
            format!("an assignment needs rows <= columns, got {n} × {m}"),
        )
        .into());
    }
    // 1-based indices; column 0 is a virtual column that holds the row being inserted.
    let mut u = vec![0.0f64; n + 1];
    let mut v = vec![0.0f64; m + 1];
    let mut row_of = vec![0usize; m + 1];
    let mut previous = vec![0usize; m + 1];
    for row in 1..=n {
        row_of[0] = row;
        let mut column = 0usize;
        let mut distance = vec![f64::INFINITY; m + 1];
        let mut done = vec![false; m + 1];
        loop {
            done[column] = true;
            let current_row = row_of[column];
            let mut delta = f64::INFINITY;
            let mut next = 0usize;
            for j in 1..=m {
                if done[j] {
                    continue;
                }
                let reduced = cost.at(current_row - 1, j - 1) - u[current_row] - v[j];
                if reduced < distance[j] {
                    distance[j] = reduced;
                    previous[j] = column;
                }
                if distance[j] < delta {
                    delta = distance[j];
                    next = j;
                }
            }
            for j in 0..=m {
                if done[j] {
                    u[row_of[j]] += delta;
                    v[j] -= delta;
                } else {
                    distance[j] -= delta;
                }
            }
            column = next;
            if row_of[column] == 0 {
                break;
            }
        }
        while column != 0 {
            let before = previous[column];
            row_of[column] = row_of[before];
            column = before;
        }
    }
    let mut assignment = vec![0usize; n];
    for j in 1..=m {
        if row_of[j] != 0 {
            assignment[row_of[j] - 1] = j - 1;
        }
    }
    Ok(assignment)
}

/// The total cost `Σᵢ C_{i, assignment[i]}` of an assignment.
///
/// # Errors
/// [`CoreError::InvalidConfig`] naming `assignment` when it has more entries than `cost` has
/// rows or names a column outside `cost`.
pub fn assignment_cost(cost: &CostMatrix, assignment: &[usize]) -> Result<f64> {
    assignment
        .iter()
        .enumerate()
        .map(|(i, &j)| {
            cost.get(i, j).ok_or_else(|| {
                CoreError::config(
                    "assignment",
                    format!(
                        "entry {i} → column {j} lies outside the {}×{} cost matrix",
                        cost.rows(),
                        cost.cols()
                    ),
                )
                .into()
            })
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use medgen_core::seeded_rng;
    use rand::RngExt;

    /// The minimum of `Σᵢ C_{i, π(i)}` over all injective maps, by enumeration.
    fn brute_force_minimum(cost: &CostMatrix) -> f64 {
        fn search(cost: &CostMatrix, row: usize, used: &mut Vec<bool>, acc: f64, best: &mut f64) {
            if row == cost.rows() {
                *best = best.min(acc);
                return;
            }
            for j in 0..cost.cols() {
                if !used[j] {
                    used[j] = true;
                    search(cost, row + 1, used, acc + cost.at(row, j), best);
                    used[j] = false;
                }
            }
        }
        let mut best = f64::INFINITY;
        search(cost, 0, &mut vec![false; cost.cols()], 0.0, &mut best);
        best
    }

    fn random_cost(rows: usize, cols: usize, seed: u64) -> CostMatrix {
        let mut rng = seeded_rng(seed);
        let values = (0..rows * cols).map(|_| rng.random_range(-3.0..10.0)).collect();
        CostMatrix::new(rows, cols, values).unwrap()
    }

    #[test]
    fn assignment_cost_equals_brute_force_minimum() {
        for n in 1..=6 {
            for seed in 0..8 {
                let cost = random_cost(n, n, 100 * n as u64 + seed);
                let assignment = linear_sum_assignment(&cost).unwrap();
                let mut sorted = assignment.clone();
                sorted.sort_unstable();
                assert_eq!(sorted, (0..n).collect::<Vec<_>>(), "not a permutation");
                let got = assignment_cost(&cost, &assignment).unwrap();
                let expected = brute_force_minimum(&cost);
                assert!((got - expected).abs() < 1e-9, "n={n}: {got} vs {expected}");
            }
        }
    }

    #[test]
    fn rectangular_and_degenerate_costs() {
        for seed in 0..5 {
            let cost = random_cost(3, 5, seed);
            let assignment = linear_sum_assignment(&cost).unwrap();
            let got = assignment_cost(&cost, &assignment).unwrap();
            assert!((got - brute_force_minimum(&cost)).abs() < 1e-9);
        }
        // All costs equal: any permutation is optimal.
        let flat = CostMatrix::new(4, 4, vec![1.0; 16]).unwrap();
        let assignment = linear_sum_assignment(&flat).unwrap();
        assert_eq!(assignment_cost(&flat, &assignment).unwrap(), 4.0);
        let tall = random_cost(3, 2, 0);
        assert!(linear_sum_assignment(&tall).is_err());
    }
}
