//! Butcher tableaux of the explicit Runge–Kutta methods medgen integrates with.

/// An explicit Runge–Kutta method, written as its Butcher tableau `(c, A, b)` and, for
/// embedded pairs, the error weights `e = b - b̂`.
///
/// One step of size `h` from `(t, x)` computes the stages
/// `k_i = f(t + c_i h, x + h Σ_{j<i} a_ij k_j)` for `i = 1..s`, the new state
/// `x' = x + h Σ_i b_i k_i` and, for an embedded pair, the local error estimate
/// `err = h Σ_i e_i k_i` (the difference between the order-`p` solution and the embedded
/// lower-order one). The built-in methods are associated constants; the integrators in this
/// module run all of them through one generic step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ButcherTableau {
    name: &'static str,
    order: usize,
    c: &'static [f64],
    a: &'static [&'static [f64]],
    b: &'static [f64],
    error: Option<&'static [f64]>,
}

impl ButcherTableau {
    /// Forward Euler: `x' = x + h f(t, x)`. Order 1, one evaluation per step.
    pub const EULER: Self =
        Self { name: "Euler", order: 1, c: &[0.0], a: &[&[]], b: &[1.0], error: None };

    /// The explicit midpoint rule: `x' = x + h f(t + h/2, x + (h/2) f(t, x))`. Order 2, two
    /// evaluations per step.
    pub const MIDPOINT: Self = Self {
        name: "Midpoint",
        order: 2,
        c: &[0.0, 0.5],
        a: &[&[], &[0.5]],
        b: &[0.0, 1.0],
        error: None,
    };

    /// Heun's method (explicit trapezoidal rule):
    /// `x' = x + (h/2) (f(t, x) + f(t + h, x + h f(t, x)))`. Order 2, two evaluations per step.
    pub const HEUN: Self = Self {
        name: "Heun",
        order: 2,
        c: &[0.0, 1.0],
        a: &[&[], &[1.0]],
        b: &[0.5, 0.5],
        error: None,
    };

    /// The classical fourth-order Runge–Kutta method:
    /// `x' = x + (h/6)(k1 + 2 k2 + 2 k3 + k4)` with stages at `t, t + h/2, t + h/2, t + h`.
    /// Order 4, four evaluations per step.
    pub const RK4: Self = Self {
        name: "RK4",
        order: 4,
        c: &[0.0, 0.5, 0.5, 1.0],
        a: &[&[], &[0.5], &[0.0, 0.5], &[0.0, 0.0, 1.0]],
        b: &[1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0],
        error: None,
    };

    /// Dormand–Prince 5(4) (Dormand & Prince 1980; Hairer, Nørsett & Wanner, *Solving ODEs I*,
    /// table II.5.2): seven stages, a fifth-order solution propagated (local extrapolation),
    /// an embedded fourth-order solution for the error estimate, and first-same-as-last
    /// (the seventh stage is `f(t + h, x')`, reused as the first stage of the next step).
    pub const DOPRI5: Self = Self {
        name: "Dopri5",
        order: 5,
        c: &[0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0, 1.0],
        a: &[
            &[],
            &[1.0 / 5.0],
            &[3.0 / 40.0, 9.0 / 40.0],
            &[44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0],
            &[19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0],
            &[9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0, -5103.0 / 18656.0],
            DOPRI5_B_FIRST_SIX,
        ],
        b: &[35.0 / 384.0, 0.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0, 0.0],
        error: Some(&[
            35.0 / 384.0 - 5179.0 / 57600.0,
            0.0,
            500.0 / 1113.0 - 7571.0 / 16695.0,
            125.0 / 192.0 - 393.0 / 640.0,
            -2187.0 / 6784.0 + 92097.0 / 339200.0,
            11.0 / 84.0 - 187.0 / 2100.0,
            -1.0 / 40.0,
        ]),
    };

    /// The method's name, e.g. `"RK4"`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The order `p` of the propagated solution: the global error is `O(h^p)`.
    pub fn order(&self) -> usize {
        self.order
    }

    /// The number of stages `s`, i.e. the evaluations of `f` per step (one fewer for a
    /// first-same-as-last method after its first step).
    pub fn stages(&self) -> usize {
        self.b.len()
    }

    /// The nodes `c_i` (fractions of the step at which the stages are evaluated).
    pub fn nodes(&self) -> &'static [f64] {
        self.c
    }

    /// Row `i` of the strictly lower-triangular matrix `A` (it has `i` entries).
    pub fn row(&self, i: usize) -> &'static [f64] {
        self.a[i]
    }

    /// The weights `b_i` of the propagated solution.
    pub fn weights(&self) -> &'static [f64] {
        self.b
    }

    /// The error weights `e_i = b_i - b̂_i` of an embedded pair, `None` for a fixed-step method.
    pub fn error_weights(&self) -> Option<&'static [f64]> {
        self.error
    }

    /// Whether the last stage is evaluated at the new state (`c_s = 1`, last row of `A` equal
    /// to `b`, `b_s = 0`), so that it can serve as the next step's first stage (FSAL).
    pub fn is_fsal(&self) -> bool {
        let s = self.stages();
        s >= 2 && self.c[s - 1] == 1.0 && self.b[s - 1] == 0.0 && self.a[s - 1] == &self.b[..s - 1]
    }
}

/// The fifth-order weights of Dopri5 without the trailing zero: the last row of its `A`.
const DOPRI5_B_FIRST_SIX: &[f64] =
    &[35.0 / 384.0, 0.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0];

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [ButcherTableau; 5] = [
        ButcherTableau::EULER,
        ButcherTableau::MIDPOINT,
        ButcherTableau::HEUN,
        ButcherTableau::RK4,
        ButcherTableau::DOPRI5,
    ];

    /// `A c` as a vector (`Σ_j a_ij c_j`).
    fn a_times(tab: &ButcherTableau, v: &[f64]) -> Vec<f64> {
        (0..tab.stages()).map(|i| tab.row(i).iter().zip(v).map(|(a, x)| a * x).sum()).collect()
    }

    fn dot(u: &[f64], v: &[f64]) -> f64 {
        u.iter().zip(v).map(|(a, b)| a * b).sum()
    }

    /// The order conditions up to order 4 (Butcher trees with at most four nodes), checked
    /// for the weights `w`; returns the highest order whose conditions all hold.
    fn satisfied_order(tab: &ButcherTableau, w: &[f64]) -> usize {
        let c = tab.nodes();
        let c2: Vec<f64> = c.iter().map(|x| x * x).collect();
        let c3: Vec<f64> = c.iter().map(|x| x * x * x).collect();
        let ac = a_times(tab, c);
        let ac2 = a_times(tab, &c2);
        let aac = a_times(tab, &ac);
        let c_ac: Vec<f64> = c.iter().zip(&ac).map(|(x, y)| x * y).collect();
        let close = |x: f64, y: f64| (x - y).abs() < 1e-12;
        let ones = vec![1.0; tab.stages()];
        let conditions: [&[(f64, f64)]; 4] = [
            &[(dot(w, &ones), 1.0)],
            &[(dot(w, c), 0.5)],
            &[(dot(w, &c2), 1.0 / 3.0), (dot(w, &ac), 1.0 / 6.0)],
            &[
                (dot(w, &c3), 0.25),
                (dot(w, &c_ac), 1.0 / 8.0),
                (dot(w, &ac2), 1.0 / 12.0),
                (dot(w, &aac), 1.0 / 24.0),
            ],
        ];
        conditions.iter().take_while(|conds| conds.iter().all(|&(x, y)| close(x, y))).count()
    }

    #[test]
    fn rows_sum_to_nodes_and_shapes_agree() {
        for tab in ALL {
            let s = tab.stages();
            assert_eq!(tab.nodes().len(), s, "{}", tab.name());
            for i in 0..s {
                assert_eq!(tab.row(i).len(), i, "{} row {i}", tab.name());
                let sum: f64 = tab.row(i).iter().sum();
                assert!((sum - tab.nodes()[i]).abs() < 1e-12, "{} row {i}", tab.name());
            }
        }
    }

    #[test]
    fn weights_satisfy_the_order_conditions() {
        for tab in ALL {
            let expected = tab.order().min(4);
            assert_eq!(satisfied_order(&tab, tab.weights()), expected, "{}", tab.name());
        }
        // Dopri5's fifth-order quadrature condition and its embedded fourth-order solution.
        let tab = ButcherTableau::DOPRI5;
        let c4: Vec<f64> = tab.nodes().iter().map(|x| x.powi(4)).collect();
        assert!((dot(tab.weights(), &c4) - 0.2).abs() < 1e-12);
        let errors = tab.error_weights().unwrap();
        let b_hat: Vec<f64> = tab.weights().iter().zip(errors).map(|(b, e)| b - e).collect();
        assert_eq!(satisfied_order(&tab, &b_hat), 4);
        assert!((dot(&b_hat, &c4) - 0.2).abs() > 1e-6, "b̂ is only fourth order");
    }

    #[test]
    fn only_dopri5_is_fsal() {
        for tab in ALL {
            assert_eq!(tab.is_fsal(), tab.name() == "Dopri5", "{}", tab.name());
        }
    }
}
