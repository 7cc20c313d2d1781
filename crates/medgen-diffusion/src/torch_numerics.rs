//! PyTorch's float32 CPU kernels that diffusers builds its noise schedules with, reproduced bit
//! for bit.
//!
//! diffusers computes betas and `alphas_cumprod` in float32 with `torch.linspace`,
//! `torch.sigmoid` and `torch.cumprod`. Plain f64 arithmetic differs from those values by up to
//! 4·10⁻⁷ in `alphas_cumprod`, so a recipe ported from diffusers would not reproduce its numbers.
//! Each function below follows the float32 operation order of the corresponding CPU kernel
//! (PyTorch 2.x built with FMA, as the official x86-64 wheels are), and was checked to agree
//! exactly with diffusers 0.42's schedules.

/// `torch.linspace(start, end, steps, dtype=torch.float32)` on the CPU.
///
/// With `step = (end − start) / (steps − 1)` in float32, element `i` is
/// `fma(step, i, start)` for `i < steps / 2` and `fma(−step, steps − 1 − i, end)` otherwise
/// (the compiler fuses PyTorch's `start + step * i` into one rounding).
/// `start` and `end` are first rounded to float32. `steps = 1` gives `[start]`.
pub(crate) fn linspace_f32(start: f64, end: f64, steps: usize) -> Vec<f32> {
    let (start, end) = (start as f32, end as f32);
    if steps == 1 {
        return vec![start];
    }
    let step = (end - start) / (steps - 1) as f32;
    let halfway = steps / 2;
    (0..steps)
        .map(|i| {
            if i < halfway {
                step.mul_add(i as f32, start)
            } else {
                (-step).mul_add((steps - 1 - i) as f32, end)
            }
        })
        .collect()
}

/// `torch.sigmoid` on a float32 CPU tensor: `1 / (1 + exp(−x))` in float32, where `exp` is
/// SLEEF's `expf_u10` (the vectorised exponential PyTorch uses; it is not always correctly
/// rounded, and diffusers' sigmoid betas depend on its last bit).
pub(crate) fn sigmoid_f32(x: f32) -> f32 {
    1.0 / (1.0 + sleef_expf_u10(-x))
}

/// SLEEF's `expf_u10` (error ≤ 1 ulp) with fused multiply-adds, as in its AVX2 build:
/// `exp(d) = 2^q · p(s)` with `q = rint(d / ln 2)`, `s = d − q·ln 2` (ln 2 split in two parts)
/// and a degree-7 polynomial `p`.
#[allow(clippy::excessive_precision)] // SLEEF's constants, written as SLEEF writes them
fn sleef_expf_u10(d: f32) -> f32 {
    const R_LN2: f32 = std::f32::consts::LOG2_E;
    const L2U: f32 = 0.693_145_751_953_125;
    const L2L: f32 = 1.428_606_765_330_187e-6;
    const COEFFICIENTS: [f32; 5] = [
        0.001_393_043_552_525_341_5,
        0.008_333_360_776_305_199,
        0.041_666_485_369_205_475,
        0.166_666_671_633_720_4,
        0.5,
    ];
    if d < -104.0 {
        return 0.0;
    }
    if d > 100.0 {
        return f32::INFINITY;
    }
    let q = (d * R_LN2).round_ties_even();
    let mut s = q.mul_add(-L2U, d);
    s = q.mul_add(-L2L, s);
    let mut u: f32 = 0.000_198_527_617_612_853_65;
    for c in COEFFICIENTS {
        u = u.mul_add(s, c);
    }
    u = 1.0 + (s * s).mul_add(u, s);
    // 2^q, split in two factors so that neither over- nor underflows for |q| ≤ 150.
    let q = q as i32;
    let half = q / 2;
    u * pow2(half) * pow2(q - half)
}

/// `2^k` for `k` in the normal float32 exponent range.
fn pow2(k: i32) -> f32 {
    f32::from_bits(((k + 127) as u32) << 23)
}

/// `torch.cumprod` of a float32 CPU tensor: the running product is accumulated in f64
/// (PyTorch's CPU accumulation type for float) and each prefix is rounded to float32.
pub(crate) fn cumprod_f32(values: &[f32]) -> Vec<f32> {
    let mut acc = 1.0f64;
    values
        .iter()
        .map(|&v| {
            acc *= f64::from(v);
            acc as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linspace_hits_both_ends_exactly() {
        let v = linspace_f32(-6.0, 6.0, 1000);
        assert_eq!(v.len(), 1000);
        assert_eq!(v[0], -6.0);
        assert_eq!(v[999], 6.0);
        assert_eq!(linspace_f32(0.5, 2.0, 1), vec![0.5]);
        // Symmetric range: the halves mirror each other exactly.
        for i in 0..500 {
            assert_eq!(v[i], -v[999 - i]);
        }
    }

    #[test]
    fn sleef_exp_is_within_one_ulp_of_exact() {
        for i in -600..=600 {
            let x = i as f32 * 0.01;
            let got = sleef_expf_u10(x);
            let exact = f64::from(x).exp();
            let ulp = f64::from(f32::EPSILON) * exact;
            assert!((f64::from(got) - exact).abs() <= ulp, "exp({x})");
        }
        assert_eq!(sleef_expf_u10(0.0), 1.0);
        assert_eq!(sleef_expf_u10(-200.0), 0.0);
        assert_eq!(sleef_expf_u10(200.0), f32::INFINITY);
    }

    #[test]
    fn cumprod_accumulates_in_double() {
        let values = [0.5f32, 0.25, 3.0];
        assert_eq!(cumprod_f32(&values), vec![0.5, 0.125, 0.375]);
        let sigmoid = sigmoid_f32(0.0);
        assert_eq!(sigmoid, 0.5);
    }
}
