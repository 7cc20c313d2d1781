//! Splitting a row-major array into disjoint rectangles of lines along one axis, so that
//! independent lines can be processed by several threads without copying or `unsafe`.

/// How an array of shape `[outer, len, inner]` (row-major) is seen along its middle axis:
/// `outer · inner` independent lines of `len` elements, with stride `inner`.
#[derive(Clone, Copy, Debug)]
pub(super) struct AxisView {
    /// Product of the dimensions before the axis.
    pub outer: usize,
    /// Length of the axis.
    pub len: usize,
    /// Product of the dimensions after the axis (the stride of the axis).
    pub inner: usize,
}

impl AxisView {
    /// The view of `shape` along `axis`.
    pub(super) fn new(shape: &[usize], axis: usize) -> Self {
        Self {
            outer: shape[..axis].iter().product(),
            len: shape[axis],
            inner: shape[axis + 1..].iter().product(),
        }
    }

    /// Into how many column pieces each outer block is cut so that `parts` workers get one
    /// panel each (at least one piece, at most one per column).
    pub(super) fn pieces_for(&self, parts: usize) -> usize {
        if self.outer >= parts { 1 } else { parts.div_ceil(self.outer).min(self.inner).max(1) }
    }
}

/// A rectangle of lines: `rows[i][c]` is element `i` of line `c`, at flat index
/// `first + i · view.inner + c`.
pub(super) struct Panel<'a, T> {
    /// One segment per position along the axis, all of the same width.
    pub rows: Vec<&'a mut [T]>,
    /// Flat index of `rows[0][0]`.
    pub first: usize,
}

/// Cuts `data` (laid out as `view`) into `view.outer · pieces` panels: each outer block
/// split into `pieces` column ranges of near-equal width, in memory order.
pub(super) fn panels<T>(data: &mut [T], view: AxisView, pieces: usize) -> Vec<Panel<'_, T>> {
    let block_len = view.len * view.inner;
    let mut out = Vec::with_capacity(view.outer * pieces);
    for (b, block) in data.chunks_exact_mut(block_len).enumerate() {
        let start = out.len();
        for p in 0..pieces {
            out.push(Panel {
                rows: Vec::with_capacity(view.len),
                first: b * block_len + p * view.inner / pieces,
            });
        }
        for row in block.chunks_exact_mut(view.inner) {
            let mut rest = row;
            for (p, panel) in out[start..].iter_mut().enumerate() {
                let width = (p + 1) * view.inner / pieces - p * view.inner / pieces;
                let (segment, tail) = rest.split_at_mut(width);
                panel.rows.push(segment);
                rest = tail;
            }
        }
    }
    out
}

/// The distance panels of `dist` and, when tracking, the matching panels of `nearest`.
pub(super) fn paired_panels<'a>(
    dist: &'a mut [f64],
    nearest: Option<&'a mut [usize]>,
    view: AxisView,
    pieces: usize,
) -> Vec<(Panel<'a, f64>, Option<Panel<'a, usize>>)> {
    let dist_panels = panels(dist, view, pieces);
    match nearest {
        Some(nearest) => dist_panels
            .into_iter()
            .zip(panels(nearest, view, pieces).into_iter().map(Some))
            .collect(),
        None => dist_panels.into_iter().map(|p| (p, None)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panels_cover_every_element_once_at_its_flat_index() {
        let shape = [3, 4, 5];
        for axis in 0..3 {
            for pieces in 1..=5 {
                let view = AxisView::new(&shape, axis);
                let pieces = pieces.min(view.inner);
                let mut data: Vec<usize> = (0..60).collect();
                let mut seen = 0;
                for panel in panels(&mut data, view, pieces) {
                    assert_eq!(panel.rows.len(), view.len);
                    for (i, row) in panel.rows.iter().enumerate() {
                        for (c, &v) in row.iter().enumerate() {
                            assert_eq!(v, panel.first + i * view.inner + c);
                            seen += 1;
                        }
                    }
                }
                assert_eq!(seen, 60);
            }
        }
    }
}
