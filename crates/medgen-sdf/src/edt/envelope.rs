//! The one-dimensional squared distance transform of a sampled function: the lower envelope
//! of parabolas of Felzenszwalb & Huttenlocher ("Distance Transforms of Sampled Functions",
//! Theory of Computing 8, 2012), in linear time.

/// Reusable buffers for [`Envelope::transform`], sized for lines of up to `len` samples, so
/// that a pass over many lines allocates once.
pub(super) struct Envelope {
    /// Positions of the parabolas that form the lower envelope, left to right.
    vertex: Vec<usize>,
    /// `f(q) / w² + q²` of each envelope parabola.
    height: Vec<f64>,
    /// `bound[k]..bound[k + 1]` is the range where parabola `k` is lowest.
    bound: Vec<f64>,
}

impl Envelope {
    /// Buffers for lines of up to `len` samples.
    pub(super) fn new(len: usize) -> Self {
        Self { vertex: vec![0; len], height: vec![0.0; len], bound: vec![0.0; len + 1] }
    }

    /// Computes `out[p] = min_q f[q] + w2 · (p − q)²` for every `p`, where `w2` is the squared
    /// sample spacing.
    ///
    /// Samples with `f[q] = +∞` take no part (they are the points that no background element
    /// reaches yet); where no finite sample is in reach, the output is `+∞` (and `nearest` is
    /// untouched). With `FINAL`, `out[p]` is the square root of that minimum (the last pass of
    /// a separable transform). With `nearest = Some((from, to))`, `to[p] = from[q*]` where
    /// `q*` is the minimising sample: `from` carries the nearest background element of each
    /// sample, so `to` carries it for each output.
    ///
    /// Zeros split the line: for `a < p < b` with `f[a] = f[b] = 0`, any `q <= a` gives
    /// `f[q] + w2·(p − q)² >= w2·(p − a)²`, which sample `a` attains (likewise for `q >= b`), so
    /// each run of nonzero samples is transformed on its own, together with the zeros that
    /// bound it, and zeros are copied through. On masks this skips every background element.
    ///
    /// Exactness: the minimum at each `p` is evaluated from the input, `f[q*] + w2·(p − q*)²`;
    /// rounding can only affect which parabola is picked where two of them are equal to within
    /// rounding (a tie), so the output is the exact minimum up to the rounding of that one
    /// expression (with integer `f` and unit spacing, exact).
    pub(super) fn transform<const FINAL: bool>(
        &mut self,
        f: &[f64],
        w2: f64,
        out: &mut [f64],
        mut nearest: Option<(&[usize], &mut [usize])>,
    ) {
        let len = f.len();
        debug_assert!(out.len() == len && self.vertex.len() >= len);
        let mut p = 0;
        while p < len {
            if f[p] == 0.0 {
                out[p] = 0.0;
                if let Some((from, to)) = nearest.as_mut() {
                    to[p] = from[p];
                }
                p += 1;
                continue;
            }
            let start = p;
            while p < len && f[p] != 0.0 {
                p += 1;
            }
            // Samples start..p are nonzero; the zeros at start - 1 and p (where they exist)
            // bound them.
            let reach = start.saturating_sub(1)..(p + 1).min(len);
            let count = self.build(f, reach, w2);
            self.evaluate::<FINAL>(f, w2, count, start..p, out, nearest.as_mut());
        }
    }

    /// Builds the lower envelope of the parabolas `q ∈ reach` with finite `f[q]` and returns
    /// how many parabolas it has.
    fn build(&mut self, f: &[f64], reach: std::ops::Range<usize>, w2: f64) -> usize {
        let (vertex, height, bound) = (&mut self.vertex, &mut self.height, &mut self.bound);
        // Work in units of w²: parabola q is `w² ((p − q)² + f[q] / w²)`, and two parabolas
        // `v < q` cross at `s = (h_q − h_v) / (2 (q − v))` with `h = f / w² + q²`.
        let inv_w2 = 1.0 / w2;
        let mut count = 0usize;
        for q in reach {
            let fq = f[q];
            if fq == f64::INFINITY {
                continue;
            }
            let qf = q as f64;
            let hq = fq * inv_w2 + qf * qf;
            // Drop parabolas that the new one hides entirely (its crossing with the last one
            // lies left of where that one took over), then record where it takes over. The
            // test `s <= bound` is made without dividing, to keep divisions off the chain of
            // dependent comparisons.
            while count > 0 {
                let k = count - 1;
                let gap = 2.0 * (qf - vertex[k] as f64);
                let rise = hq - height[k];
                if rise <= bound[k] * gap {
                    count -= 1;
                } else {
                    bound[count] = rise / gap;
                    break;
                }
            }
            if count == 0 {
                bound[0] = f64::NEG_INFINITY;
            }
            vertex[count] = q;
            height[count] = hq;
            count += 1;
        }
        bound[count] = f64::INFINITY;
        count
    }

    /// Writes the envelope of [`Envelope::build`] (`count` parabolas) at the positions
    /// `targets`, which must lie within the range it was built over.
    fn evaluate<const FINAL: bool>(
        &self,
        f: &[f64],
        w2: f64,
        count: usize,
        targets: std::ops::Range<usize>,
        out: &mut [f64],
        nearest: Option<&mut (&[usize], &mut [usize])>,
    ) {
        let out = &mut out[targets.clone()];
        if count == 0 {
            out.fill(f64::INFINITY);
            return;
        }
        let (vertex, bound) = (&self.vertex, &self.bound);
        let mut k = 0usize;
        let mut lowest = move |p: usize| {
            let pf = p as f64;
            while bound[k + 1] < pf {
                k += 1;
            }
            let q = vertex[k];
            let d = pf - q as f64;
            (f[q] + w2 * d * d, q)
        };
        let first = targets.start;
        match nearest {
            Some((from, to)) => {
                for (i, (o, t)) in out.iter_mut().zip(&mut to[targets]).enumerate() {
                    let (value, q) = lowest(first + i);
                    *o = value;
                    *t = from[q];
                }
            }
            None => {
                for (i, o) in out.iter_mut().enumerate() {
                    *o = lowest(first + i).0;
                }
            }
        }
        if FINAL {
            // A separate loop, so that the square roots are vectorised.
            out.iter_mut().for_each(|o| *o = o.sqrt());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `min_q f[q] + w2 (p - q)²` by trying every `q`.
    fn brute(f: &[f64], w2: f64) -> Vec<f64> {
        (0..f.len())
            .map(|p| {
                f.iter()
                    .enumerate()
                    .map(|(q, fq)| fq + w2 * (p as f64 - q as f64).powi(2))
                    .fold(f64::INFINITY, f64::min)
            })
            .collect()
    }

    #[test]
    fn matches_brute_force_with_gaps_and_spacing() {
        let inf = f64::INFINITY;
        let lines: [&[f64]; 4] = [
            &[inf, 4.0, inf, inf, 0.0, 9.0, inf, 1.0, inf, inf, inf, 25.0],
            &[0.0, 16.0, 9.0, 4.0, 0.0, 0.0, 1.0, inf, 0.0, 36.0, 49.0, 64.0],
            &[49.0, 36.0, inf, 0.0, inf, 2.0, 0.0],
            &[5.0, 0.0],
        ];
        for (f, w2) in lines.into_iter().flat_map(|f| [1.0, 0.25, 6.25].map(|w2| (f, w2))) {
            let mut out = vec![0.0; f.len()];
            let from: Vec<usize> = (100..100 + f.len()).collect();
            let mut to = vec![0; f.len()];
            let mut env = Envelope::new(f.len());
            env.transform::<false>(f, w2, &mut out, Some((&from, &mut to)));
            assert_eq!(out, brute(f, w2));
            for (p, &t) in to.iter().enumerate() {
                let q = t - 100;
                assert_eq!(f[q] + w2 * (p as f64 - q as f64).powi(2), out[p]);
            }
            env.transform::<true>(f, w2, &mut out, None);
            let expected: Vec<f64> = brute(f, w2).iter().map(|v| v.sqrt()).collect();
            assert_eq!(out, expected);
        }
    }

    #[test]
    fn all_infinite_line_stays_infinite() {
        let f = [f64::INFINITY; 4];
        let mut out = [7.0; 4];
        Envelope::new(4).transform::<false>(&f, 1.0, &mut out, None);
        assert_eq!(out, f);
    }
}
