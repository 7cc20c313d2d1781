//! The first pass of the separable transform, along axis 0, straight from the binary mask:
//! each element's distance to the nearest zero element on its own axis-0 line.
//!
//! For a binary input the one-dimensional transform needs no parabolas: a forward sweep
//! `c[i] = mask[i] ? c[i-1] + 1 : 0` and a backward sweep `c[i] = min(c[i], c[i+1] + 1)` give
//! the count of steps to the nearest zero. The sweeps walk whole rows (contiguous memory), so
//! axis 0 is the cheapest axis to start from.

use super::panel::{AxisView, Panel, paired_panels};
use super::parallel::{for_each_item, pieces_for_threads};

/// What the pass leaves in each element, for axis-0 spacing `s` and step count `c`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SweepOutput {
    /// `(s·c)²`: the input of the next (parabola) pass.
    Squared,
    /// `s·c`: the final distance, when axis 0 is the only axis.
    Distance,
}

/// Writes into `dist` (and the flat index of the nearest zero element on the line into
/// `nearest`) the axis-0 transform of `mask`, seen as `view` with `view.outer == 1`.
///
/// Elements whose line holds no zero get `+∞` (their `nearest` entry is meaningless).
pub(super) fn sweep_axis0(
    mask: &[bool],
    view: AxisView,
    spacing: f64,
    output: SweepOutput,
    dist: &mut [f64],
    nearest: Option<&mut [usize]>,
    threads: usize,
) {
    let pieces = view.pieces_for(pieces_for_threads(threads));
    let work = paired_panels(dist, nearest, view, pieces);
    for_each_item(
        work,
        threads,
        || (),
        |_, (mut dist, mut nearest)| {
            sweep_panel(mask, view.inner, spacing, output, &mut dist, nearest.as_mut());
        },
    );
}

/// Both sweeps over one panel (see the module documentation), then [`finish_row`] on each row.
fn sweep_panel(
    mask: &[bool],
    stride: usize,
    spacing: f64,
    output: SweepOutput,
    dist: &mut Panel<'_, f64>,
    mut nearest: Option<&mut Panel<'_, usize>>,
) {
    let n = dist.rows.len();
    let width = dist.rows[0].len();
    for i in 0..n {
        let row_first = dist.first + i * stride;
        let row_mask = &mask[row_first..row_first + width];
        let (done, rest) = dist.rows.split_at_mut(i);
        let cur = &mut *rest[0];
        match done.last() {
            None => {
                for (d, &m) in cur.iter_mut().zip(row_mask) {
                    *d = if m { f64::INFINITY } else { 0.0 };
                }
            }
            Some(prev) => {
                for ((d, &m), &p) in cur.iter_mut().zip(row_mask).zip(prev.iter()) {
                    *d = if m { p + 1.0 } else { 0.0 };
                }
            }
        }
        if let Some(nearest) = nearest.as_deref_mut() {
            let (done, rest) = nearest.rows.split_at_mut(i);
            let prev = done.last();
            for (c, (idx, &m)) in rest[0].iter_mut().zip(row_mask).enumerate() {
                *idx = match (m, prev) {
                    (true, Some(prev)) => prev[c],
                    _ => row_first + c,
                };
            }
        }
    }
    for i in (0..n.saturating_sub(1)).rev() {
        let (head, tail) = dist.rows.split_at_mut(i + 1);
        let (cur, next) = (&mut *head[i], &mut *tail[0]);
        match nearest.as_deref_mut() {
            Some(nearest) => {
                let (ihead, itail) = nearest.rows.split_at_mut(i + 1);
                let (icur, inext) = (&mut *ihead[i], &*itail[0]);
                for (((d, &dn), idx), &idn) in cur.iter_mut().zip(next.iter()).zip(icur).zip(inext)
                {
                    if dn + 1.0 < *d {
                        *d = dn + 1.0;
                        *idx = idn;
                    }
                }
            }
            None => {
                for (d, &dn) in cur.iter_mut().zip(next.iter()) {
                    *d = d.min(dn + 1.0);
                }
            }
        }
        finish_row(next, spacing, output);
    }
    finish_row(&mut *dist.rows[0], spacing, output);
}

/// Turns step counts into the pass's output.
fn finish_row(row: &mut [f64], spacing: f64, output: SweepOutput) {
    match output {
        SweepOutput::Squared => {
            let s2 = spacing * spacing;
            row.iter_mut().for_each(|d| *d = *d * *d * s2);
        }
        SweepOutput::Distance => row.iter_mut().for_each(|d| *d *= spacing),
    }
}
