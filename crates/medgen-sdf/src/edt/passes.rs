//! The parabola passes of the separable transform, along every axis after the first.
//!
//! The last axis is contiguous: each line is copied once into a scratch buffer and
//! transformed back in place. A strided axis is handled in blocks of [`BLOCK`] neighbouring
//! lines, gathered into contiguous scratch (reading `BLOCK` adjacent elements per row, so
//! every cache line fetched is used) and scattered back the same way; no transposed copy of
//! the array is ever made. Scratch is allocated once per thread and pass, and each pass is
//! cut into several pieces per thread (see [`pieces_for_threads`]).

use super::envelope::Envelope;
use super::panel::{AxisView, paired_panels};
use super::parallel::{for_each_item, pieces_for_threads};

/// Number of neighbouring lines of a strided axis gathered together.
const BLOCK: usize = 16;

/// `dist[x] ← min_q dist[x with axis = q] + s²·(x_axis − q)²` along a strided axis laid out
/// as `view` (with `view.inner > 1`), updating `nearest` alongside.
pub(super) fn envelope_strided(
    view: AxisView,
    spacing: f64,
    dist: &mut [f64],
    nearest: Option<&mut [usize]>,
    threads: usize,
) {
    let pieces = view.pieces_for(pieces_for_threads(threads));
    let work = paired_panels(dist, nearest, view, pieces);
    let tracking = work.first().is_some_and(|(_, n)| n.is_some());
    let n = view.len;
    let w2 = spacing * spacing;
    let scratch = || {
        let tracked = if tracking { BLOCK * n } else { 0 };
        StridedScratch {
            envelope: Envelope::new(n),
            lines: vec![0.0; BLOCK * n],
            out: vec![0.0; BLOCK * n],
            from: vec![0; tracked],
            to: vec![0; tracked],
        }
    };
    for_each_item(work, threads, scratch, |s, (mut dist, mut nearest)| {
        let width = dist.rows[0].len();
        for start in (0..width).step_by(BLOCK) {
            let count = BLOCK.min(width - start);
            gather(&dist.rows, start, count, &mut s.lines);
            if let Some(nearest) = &nearest {
                gather(&nearest.rows, start, count, &mut s.from);
            }
            for b in 0..count {
                let line = b * n..(b + 1) * n;
                let track =
                    nearest.is_some().then(|| (&s.from[line.clone()], &mut s.to[line.clone()]));
                s.envelope.transform::<false>(&s.lines[line.clone()], w2, &mut s.out[line], track);
            }
            scatter(&s.out, start, count, &mut dist.rows);
            if let Some(nearest) = &mut nearest {
                scatter(&s.to, start, count, &mut nearest.rows);
            }
        }
    });
}

/// Per-thread buffers of [`envelope_strided`]: a block of gathered lines, their transforms,
/// and the nearest-element indices in and out (empty when not tracked).
struct StridedScratch {
    envelope: Envelope,
    lines: Vec<f64>,
    out: Vec<f64>,
    from: Vec<usize>,
    to: Vec<usize>,
}

/// The parabola pass along the last (contiguous) axis of length `len`, which is the final
/// pass: it leaves the Euclidean distance itself (the square root) in `dist`.
pub(super) fn envelope_last_axis(
    len: usize,
    spacing: f64,
    dist: &mut [f64],
    nearest: Option<&mut [usize]>,
    threads: usize,
) {
    let lines = dist.len() / len;
    let pieces = pieces_for_threads(threads).clamp(1, lines.max(1));
    let chunk = lines.div_ceil(pieces) * len;
    let work: Vec<(&mut [f64], Option<&mut [usize]>)> = match nearest {
        Some(nearest) => dist.chunks_mut(chunk).zip(nearest.chunks_mut(chunk).map(Some)).collect(),
        None => dist.chunks_mut(chunk).map(|d| (d, None)).collect(),
    };
    let w2 = spacing * spacing;
    let scratch = || (Envelope::new(len), vec![0.0; len], vec![0usize; len]);
    for_each_item(work, threads, scratch, |(envelope, line_copy, from), (dist, nearest)| {
        match nearest {
            Some(nearest) => {
                for (line, idx) in dist.chunks_exact_mut(len).zip(nearest.chunks_exact_mut(len)) {
                    line_copy.copy_from_slice(line);
                    from.copy_from_slice(idx);
                    envelope.transform::<true>(line_copy, w2, line, Some((from, idx)));
                }
            }
            None => {
                for line in dist.chunks_exact_mut(len) {
                    line_copy.copy_from_slice(line);
                    envelope.transform::<true>(line_copy, w2, line, None);
                }
            }
        }
    });
}

/// Copies columns `start..start + count` of `rows` into `lines`, line after line:
/// `lines[b·n + i] = rows[i][start + b]` with `n = rows.len()`.
///
/// Line by line, so the writes are contiguous; the reads touch the same few cache lines of
/// each row for every `b` and stay in L1.
fn gather<T: Copy>(rows: &[&mut [T]], start: usize, count: usize, lines: &mut [T]) {
    let n = rows.len();
    for (b, line) in lines.chunks_exact_mut(n).take(count).enumerate() {
        for (value, row) in line.iter_mut().zip(rows) {
            *value = row[start + b];
        }
    }
}

/// The inverse of [`gather`]: `rows[i][start + b] = lines[b·n + i]`, row by row, so the
/// writes into the array are contiguous.
fn scatter<T: Copy>(lines: &[T], start: usize, count: usize, rows: &mut [&mut [T]]) {
    let n = rows.len();
    for (i, row) in rows.iter_mut().enumerate() {
        for (b, value) in row[start..start + count].iter_mut().enumerate() {
            *value = lines[b * n + i];
        }
    }
}
