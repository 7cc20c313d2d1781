//! SSIM of 2-D images in one fused, cache-resident pass.
//!
//! The generic route (`ssim.rs`) filters five full moment maps (`x`, `y`, `x²`, `y²`, `xy`)
//! and then reduces them. For images this pass keeps only a ring of the last `k`
//! horizontally filtered rows of each map (`5·k·(W − k + 1)` values, a few hundred KiB),
//! finishes each output row with the vertical filter and adds its SSIM terms at once, so
//! no full-size map is ever allocated. The output rows are split between two threads for
//! large images. The taps are applied in the same order as the generic route, so both give
//! the same moments bit for bit.

use std::ops::Range;

use super::separable::axpy;

/// Images with at least this many pixels are split between two threads.
const PARALLEL_MIN_LEN: usize = 1 << 16;

/// The per-position SSIM terms from the five local moments.
pub(crate) trait SsimTerms: Sync {
    /// `(ssim, cs)` at one position from `μ_x, μ_y, w⋆x², w⋆y², w⋆xy`.
    fn terms(&self, mx: f64, my: f64, sxx: f64, syy: f64, sxy: f64) -> (f64, f64);
}

/// Sums of the SSIM and contrast-structure maps of the `rows × cols` images `a`, `b` over
/// the valid interior, and the number of interior positions.
pub(crate) fn ssim_sums_2d(
    a: &[f64],
    b: &[f64],
    rows: usize,
    cols: usize,
    kernel: &[f64],
    terms: &impl SsimTerms,
) -> (f64, f64, usize) {
    let k = kernel.len();
    let out_rows = rows - k + 1;
    let count = out_rows * (cols - k + 1);
    let pass = |range: Range<usize>| fused_rows(a, b, cols, kernel, terms, range);
    let (ssim, cs) = if a.len() >= PARALLEL_MIN_LEN && out_rows >= 2 {
        let middle = out_rows / 2;
        std::thread::scope(|scope| {
            let helper = scope.spawn(|| pass(middle..out_rows));
            let (s0, c0) = pass(0..middle);
            let (s1, c1) = helper.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (s0 + s1, c0 + c1)
        })
    } else {
        pass(0..out_rows)
    };
    (ssim, cs, count)
}

/// The five maps of one row: the two images and their three products.
const MAPS: usize = 5;

/// SSIM and cs sums over the output rows `range`.
fn fused_rows(
    a: &[f64],
    b: &[f64],
    cols: usize,
    kernel: &[f64],
    terms: &impl SsimTerms,
    range: Range<usize>,
) -> (f64, f64) {
    let k = kernel.len();
    let m = cols - k + 1;
    // ring[slot][map][j]: horizontally filtered input row `r` lives in slot `r % k`.
    let mut ring = vec![0.0; k * MAPS * m];
    let mut products = vec![0.0; 3 * cols];
    let mut vertical = vec![0.0; MAPS * m];
    let mut filter_row = |r: usize, ring: &mut [f64]| {
        let x = &a[r * cols..(r + 1) * cols];
        let y = &b[r * cols..(r + 1) * cols];
        let (xx, rest) = products.split_at_mut(cols);
        let (yy, xy) = rest.split_at_mut(cols);
        for j in 0..cols {
            xx[j] = x[j] * x[j];
            yy[j] = y[j] * y[j];
            xy[j] = x[j] * y[j];
        }
        let slot = &mut ring[(r % k) * MAPS * m..(r % k + 1) * MAPS * m];
        for (out, source) in slot.chunks_exact_mut(m).zip([x, y, &*xx, &*yy, &*xy]) {
            out.fill(0.0);
            for (t, &w) in kernel.iter().enumerate() {
                axpy(out, w, &source[t..t + m]);
            }
        }
    };
    for r in range.start..range.start + k - 1 {
        filter_row(r, &mut ring);
    }
    let (mut ssim, mut cs) = (0.0, 0.0);
    for i in range {
        filter_row(i + k - 1, &mut ring);
        vertical.fill(0.0);
        for (t, &w) in kernel.iter().enumerate() {
            let slot = (i + t) % k;
            let rows = &ring[slot * MAPS * m..(slot + 1) * MAPS * m];
            for (out, source) in vertical.chunks_exact_mut(m).zip(rows.chunks_exact(m)) {
                axpy(out, w, source);
            }
        }
        let (mx, rest) = vertical.split_at(m);
        let (my, rest) = rest.split_at(m);
        let (sxx, rest) = rest.split_at(m);
        let (syy, sxy) = rest.split_at(m);
        for j in 0..m {
            let (s, c) = terms.terms(mx[j], my[j], sxx[j], syy[j], sxy[j]);
            ssim += s;
            cs += c;
        }
    }
    (ssim, cs)
}
