//! 2D and 3D simplex noise (gradient noise on a simplex lattice).
//!
//! Implemented from the description in S. Gustavson, *Simplex noise demystified* (2005): the
//! input is skewed onto a lattice of simplices (triangles in 2D, tetrahedra in 3D); each of
//! the simplex's corners carries a pseudo-random gradient `g` chosen by hashing the corner's
//! lattice coordinates through a permutation table, and contributes
//! `(r² - |d|²)₊⁴ · (g · d)`, where `d` is the offset from the corner and `r² = 1/2`. The sum is
//! scaled to lie within `[-1, 1]`. With `r² = 1/2` each kernel vanishes before reaching the
//! next simplex, so the noise is continuous with a continuous gradient, and it is exactly 0
//! at every lattice vertex.

use rand::Rng;
use rand::seq::SliceRandom;

/// The number of distinct lattice hashes along each lattice axis.
const PERIOD: usize = 256;

/// The squared radius of each corner's kernel.
const RADIUS_SQUARED: f64 = 0.5;

/// 2D skew factor `(√3 - 1)/2`: `(x, y) + (x + y) F2` maps the triangle lattice to the square
/// lattice.
const SKEW_2D: f64 = 0.366_025_403_784_438_6;
/// 2D unskew factor `(3 - √3)/6`.
const UNSKEW_2D: f64 = 0.211_324_865_405_187_1;
/// 3D skew factor `1/3`.
const SKEW_3D: f64 = 1.0 / 3.0;
/// 3D unskew factor `1/6`.
const UNSKEW_3D: f64 = 1.0 / 6.0;

/// Scales the 2D sum into `[-1, 1]`: the largest raw magnitude with these gradients and
/// kernels, found by a dense search with local refinement, is about `0.00984`.
const SCALE_2D: f64 = 100.0;
/// Scales the 3D sum into `[-1, 1]`: the largest raw magnitude is about `0.01301`.
const SCALE_3D: f64 = 76.0;

/// Twelve unit gradients at multiples of 30° for 2D.
const GRADIENTS_2D: [[f64; 2]; 12] = [
    [1.0, 0.0],
    [0.866_025_403_784_438_6, 0.5],
    [0.5, 0.866_025_403_784_438_6],
    [0.0, 1.0],
    [-0.5, 0.866_025_403_784_438_6],
    [-0.866_025_403_784_438_6, 0.5],
    [-1.0, 0.0],
    [-0.866_025_403_784_438_6, -0.5],
    [-0.5, -0.866_025_403_784_438_6],
    [0.0, -1.0],
    [0.5, -0.866_025_403_784_438_6],
    [0.866_025_403_784_438_6, -0.5],
];

/// The twelve edge midpoints of the cube `[-1, 1]³` as 3D gradients.
const GRADIENTS_3D: [[f64; 3]; 12] = [
    [1.0, 1.0, 0.0],
    [-1.0, 1.0, 0.0],
    [1.0, -1.0, 0.0],
    [-1.0, -1.0, 0.0],
    [1.0, 0.0, 1.0],
    [-1.0, 0.0, 1.0],
    [1.0, 0.0, -1.0],
    [-1.0, 0.0, -1.0],
    [0.0, 1.0, 1.0],
    [0.0, -1.0, 1.0],
    [0.0, 1.0, -1.0],
    [0.0, -1.0, -1.0],
];

/// A simplex-noise lattice: a random permutation of `0..256` (drawn from the caller's
/// generator) that assigns a gradient to every lattice vertex.
///
/// [`SimplexLattice::noise_2d`] and [`SimplexLattice::noise_3d`] evaluate the noise at a
/// point given in lattice units (one unit ≈ one feature size). The noise repeats under
/// lattice translations by multiples of 256 cells, e.g. by `(256, -256)` in 2D or
/// `(256, -256, 0)` in 3D (directions along which the skew is zero).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimplexLattice {
    /// The permutation, stored twice so that `perm[i + perm[j]]` needs no wrap-around.
    perm: Vec<u8>,
}

impl SimplexLattice {
    /// A lattice whose permutation table is shuffled by `rng`.
    pub fn new(rng: &mut (impl Rng + ?Sized)) -> Self {
        let mut table: Vec<u8> = (0..=u8::MAX).collect();
        table.shuffle(rng);
        let perm = table.iter().chain(&table).copied().collect();
        Self { perm }
    }

    fn permute(&self, i: usize) -> usize {
        usize::from(self.perm[i])
    }

    /// The gradient index of the 2D vertex `(i, j)`.
    fn hash_2d(&self, i: i64, j: i64) -> usize {
        self.permute(wrap(i) + self.permute(wrap(j))) % GRADIENTS_2D.len()
    }

    /// The gradient index of the 3D vertex `(i, j, k)`.
    fn hash_3d(&self, i: i64, j: i64, k: i64) -> usize {
        let inner = self.permute(wrap(j) + self.permute(wrap(k)));
        self.permute(wrap(i) + inner) % GRADIENTS_3D.len()
    }

    /// 2D simplex noise at `(x, y)` (lattice units), in `[-1, 1]`.
    pub fn noise_2d(&self, x: f64, y: f64) -> f64 {
        // Skew to find the square cell, then unskew its origin back.
        let s = (x + y) * SKEW_2D;
        let (i, j) = ((x + s).floor(), (y + s).floor());
        let t = (i + j) * UNSKEW_2D;
        let (x0, y0) = (x - (i - t), y - (j - t));
        // The lower or upper triangle of the cell decides the middle corner.
        let (i1, j1) = if x0 > y0 { (1.0, 0.0) } else { (0.0, 1.0) };
        let corners = [
            (0.0, 0.0, x0, y0),
            (i1, j1, x0 - i1 + UNSKEW_2D, y0 - j1 + UNSKEW_2D),
            (1.0, 1.0, x0 - 1.0 + 2.0 * UNSKEW_2D, y0 - 1.0 + 2.0 * UNSKEW_2D),
        ];
        let (i, j) = (i as i64, j as i64);
        let sum: f64 = corners
            .iter()
            .map(|&(di, dj, dx, dy)| {
                let weight = RADIUS_SQUARED - dx * dx - dy * dy;
                if weight <= 0.0 {
                    return 0.0;
                }
                let g = GRADIENTS_2D[self.hash_2d(i + di as i64, j + dj as i64)];
                weight.powi(4) * (g[0] * dx + g[1] * dy)
            })
            .sum();
        SCALE_2D * sum
    }

    /// 3D simplex noise at `(x, y, z)` (lattice units), in `[-1, 1]`.
    pub fn noise_3d(&self, x: f64, y: f64, z: f64) -> f64 {
        let s = (x + y + z) * SKEW_3D;
        let (i, j, k) = ((x + s).floor(), (y + s).floor(), (z + s).floor());
        let t = (i + j + k) * UNSKEW_3D;
        let d0 = [x - (i - t), y - (j - t), z - (k - t)];
        // The order of the offsets picks one of the cube's six tetrahedra: walk from the
        // origin corner along the largest offset, then the second largest.
        let (first, second) = tetrahedron_steps(d0);
        let mut middle = [0.0; 3];
        middle[first] = 1.0;
        let mut upper = middle;
        upper[second] = 1.0;
        let (i, j, k) = (i as i64, j as i64, k as i64);
        let sum: f64 = [[0.0; 3], middle, upper, [1.0; 3]]
            .iter()
            .enumerate()
            .map(|(n, c)| {
                // Corner n of the simplex lies at c - n·G3 relative to the cell origin.
                let shift = n as f64 * UNSKEW_3D;
                let d = [d0[0] - c[0] + shift, d0[1] - c[1] + shift, d0[2] - c[2] + shift];
                let weight = RADIUS_SQUARED - d[0] * d[0] - d[1] * d[1] - d[2] * d[2];
                if weight <= 0.0 {
                    return 0.0;
                }
                let g =
                    GRADIENTS_3D[self.hash_3d(i + c[0] as i64, j + c[1] as i64, k + c[2] as i64)];
                weight.powi(4) * (g[0] * d[0] + g[1] * d[1] + g[2] * d[2])
            })
            .sum();
        SCALE_3D * sum
    }
}

/// The axes of the largest and second-largest components of `d`.
fn tetrahedron_steps(d: [f64; 3]) -> (usize, usize) {
    let [x, y, z] = d;
    if x >= y {
        if y >= z {
            (0, 1)
        } else if x >= z {
            (0, 2)
        } else {
            (2, 0)
        }
    } else if y < z {
        (2, 1)
    } else if x < z {
        (1, 2)
    } else {
        (1, 0)
    }
}

/// A lattice coordinate reduced to `0..PERIOD`.
fn wrap(i: i64) -> usize {
    i.rem_euclid(PERIOD as i64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::seeded_rng;
    use rand::RngExt;

    #[test]
    fn vanishes_at_lattice_vertices() {
        let lattice = SimplexLattice::new(&mut seeded_rng(1));
        // Vertex (i, j) of the skewed lattice sits at (i, j) - (i + j) G2 in input space.
        for (i, j) in [(0.0, 0.0), (3.0, -2.0), (17.0, 5.0)] {
            let t: f64 = (i + j) * UNSKEW_2D;
            assert!(lattice.noise_2d(i - t, j - t).abs() < 1e-12);
        }
        for (i, j, k) in [(0.0, 0.0, 0.0), (4.0, -1.0, 9.0)] {
            let t: f64 = (i + j + k) * UNSKEW_3D;
            assert!(lattice.noise_3d(i - t, j - t, k - t).abs() < 1e-12);
        }
    }

    #[test]
    fn bounded_centred_and_continuous() {
        let lattice = SimplexLattice::new(&mut seeded_rng(2));
        let mut rng = seeded_rng(3);
        let n = 20_000;
        let (mut sum2, mut sum3, mut max2, mut max3) = (0.0, 0.0, 0.0f64, 0.0f64);
        for _ in 0..n {
            let p: [f64; 3] = std::array::from_fn(|_| rng.random_range(-50.0..50.0));
            let (v2, v3) = (lattice.noise_2d(p[0], p[1]), lattice.noise_3d(p[0], p[1], p[2]));
            sum2 += v2;
            sum3 += v3;
            max2 = max2.max(v2.abs());
            max3 = max3.max(v3.abs());
            // Lipschitz: a step of 1e-6 changes the value by far less than 1e-3.
            let h = 1e-6;
            assert!((lattice.noise_2d(p[0] + h, p[1] - h) - v2).abs() < 1e-4);
            assert!((lattice.noise_3d(p[0] + h, p[1], p[2] - h) - v3).abs() < 1e-4);
        }
        assert!(max2 <= 1.0 && max2 > 0.5, "2D max {max2}");
        assert!(max3 <= 1.0 && max3 > 0.5, "3D max {max3}");
        assert!((sum2 / n as f64).abs() < 0.05, "2D mean {}", sum2 / n as f64);
        assert!((sum3 / n as f64).abs() < 0.05, "3D mean {}", sum3 / n as f64);
    }

    #[test]
    fn repeats_with_the_lattice_period() {
        let lattice = SimplexLattice::new(&mut seeded_rng(4));
        let p = PERIOD as f64;
        for (x, y, z) in [(0.3, 1.7, 2.2), (-5.1, 9.9, 0.01)] {
            assert!((lattice.noise_2d(x, y) - lattice.noise_2d(x + p, y - p)).abs() < 1e-9);
            assert!((lattice.noise_3d(x, y, z) - lattice.noise_3d(x, y + p, z - p)).abs() < 1e-9);
            // A shift along one input axis alone is not a lattice translation.
            assert!((lattice.noise_3d(x, y, z) - lattice.noise_3d(x, y + p, z)).abs() > 1e-6);
        }
    }
}
