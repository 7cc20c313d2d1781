//! PNG grids of image batches, central slices of volumes and coloured label maps.
//!
//! ```no_run
//! # use burn::tensor::{Int, Tensor};
//! # use medgen_train::viz::{GridBuilder, VolumeSlice, save_image_grid};
//! # fn demo(samples: Tensor<4>, images: Tensor<4>, masks: Tensor<4, Int>,
//! #         volumes: Tensor<5>) -> medgen_core::Result<()> {
//! // Samples in [-1, 1], 8 per row, 2 px apart.
//! save_image_grid("samples.png", samples, 8, (-1.0, 1.0), 2)?;
//! // Images above their masks, enlarged 4×.
//! GridBuilder::new()
//!     .scale(4)
//!     .image_row(images, (-1.0, 1.0))?
//!     .label_row(masks)?
//!     .save("images_and_masks.png")?;
//! // Central axial slices of volumes.
//! GridBuilder::new()
//!     .volumes(volumes, (-1.0, 1.0), VolumeSlice::central(0), 4)?
//!     .save("volumes.png")?;
//! # Ok(()) }
//! ```

use std::path::Path;

use burn::tensor::kind::Basic;
use burn::tensor::{Int, Tensor};

use super::canvas::{Rgb, RgbImage};
use super::palette::{label_color, read_labels};
use medgen_core::check::ensure_non_empty;
use medgen_core::error::{CoreError, Result};

/// The most pixels a grid may have (2²⁸, 768 MiB of RGB): far beyond any figure, small
/// enough that a mistyped scale or padding fails instead of exhausting memory.
pub const MAX_GRID_PIXELS: usize = 1 << 28;

/// The colour NaN pixels are drawn in (magenta, which no grey image or palette label uses).
pub const NAN_COLOR: Rgb = [255, 0, 255];
/// The default colour between cells.
pub const GRID_BACKGROUND: Rgb = [32, 32, 32];

/// Which 2D slice of each volume `[N, C, D, H, W]` a grid shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VolumeSlice {
    /// The spatial axis cut across: 0 = depth (axial for RAS-ordered volumes), 1 = height,
    /// 2 = width.
    pub axis: usize,
    /// The slice index along `axis`; `None` takes the central slice `size / 2`.
    pub index: Option<usize>,
}

impl VolumeSlice {
    /// The central slice across `axis`.
    pub fn central(axis: usize) -> Self {
        Self { axis, index: None }
    }

    /// Slice `index` across `axis`.
    pub fn at(axis: usize, index: usize) -> Self {
        Self { axis, index: Some(index) }
    }
}

impl Default for VolumeSlice {
    /// The central slice across depth.
    fn default() -> Self {
        Self::central(0)
    }
}

/// Cuts one slice out of each volume `[N, C, D, H, W]`, giving `[N, C, a, b]` (the two
/// remaining spatial axes in order). Runs on the device.
pub fn volume_slices<K: Basic>(volumes: Tensor<5, K>, slice: VolumeSlice) -> Result<Tensor<4, K>> {
    let dims = volumes.dims();
    ensure_non_empty(&dims, "volumes")?;
    if slice.axis > 2 {
        return Err(CoreError::config(
            "slice.axis",
            format!("must be 0 (depth), 1 (height) or 2 (width), got {}", slice.axis),
        ));
    }
    let size = dims[2 + slice.axis];
    let index = slice.index.unwrap_or(size / 2);
    if index >= size {
        return Err(CoreError::config(
            "slice.index",
            format!("{index} is outside axis {} of size {size}", slice.axis),
        ));
    }
    let mut out = [dims[0], dims[1], 0, 0];
    let rest: Vec<usize> = (0..3).filter(|&a| a != slice.axis).map(|a| dims[2 + a]).collect();
    out[2..].copy_from_slice(&rest);
    Ok(volumes.narrow(2 + slice.axis, index, 1).reshape(out))
}

/// Builds a PNG grid row by row from image batches, volumes and label maps.
///
/// Every call adds `ceil(N / ncols)` rows of cells. Cells are laid out on a common pitch (the
/// largest cell), centred in their slot, `padding` pixels apart on a
/// [`GRID_BACKGROUND`] background. Intensities are mapped linearly from the given value range
/// `(low, high)` to 0…255 and clamped; NaN pixels are drawn in [`NAN_COLOR`].
#[derive(Clone, Debug)]
pub struct GridBuilder {
    padding: usize,
    scale: usize,
    background: Rgb,
    rows: Vec<Vec<RgbImage>>,
}

impl Default for GridBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl GridBuilder {
    /// An empty grid: padding 2, scale 1, dark grey background.
    pub fn new() -> Self {
        Self { padding: 2, scale: 1, background: GRID_BACKGROUND, rows: Vec::new() }
    }

    /// Pixels between cells and around the grid.
    pub fn padding(mut self, padding: usize) -> Self {
        self.padding = padding;
        self
    }

    /// Enlarges every cell by an integer factor (nearest neighbour); 0 is treated as 1.
    pub fn scale(mut self, factor: usize) -> Self {
        self.scale = factor.max(1);
        self
    }

    /// The colour between cells.
    pub fn background(mut self, color: Rgb) -> Self {
        self.background = color;
        self
    }

    /// Adds a batch of grey (`C = 1`) or RGB (`C = 3`) images `[N, C, H, W]` with values in
    /// `value_range`, `ncols` per row.
    pub fn images(
        mut self,
        images: Tensor<4>,
        value_range: (f32, f32),
        ncols: usize,
    ) -> Result<Self> {
        check_ncols(ncols)?;
        let cells = image_cells(images, value_range)?;
        self.push_cells(cells, ncols);
        Ok(self)
    }

    /// Adds a batch of images as one row.
    pub fn image_row(self, images: Tensor<4>, value_range: (f32, f32)) -> Result<Self> {
        let n = images.dims()[0].max(1);
        self.images(images, value_range, n)
    }

    /// Adds a batch of label maps `[N, 1, H, W]`, coloured with
    /// [`label_color`], `ncols` per row.
    pub fn labels(mut self, labels: Tensor<4, Int>, ncols: usize) -> Result<Self> {
        check_ncols(ncols)?;
        let cells = label_cells(labels)?;
        self.push_cells(cells, ncols);
        Ok(self)
    }

    /// Adds a batch of label maps as one row.
    pub fn label_row(self, labels: Tensor<4, Int>) -> Result<Self> {
        let n = labels.dims()[0].max(1);
        self.labels(labels, n)
    }

    /// Adds one slice of each volume `[N, C, D, H, W]` (see [`VolumeSlice`]).
    pub fn volumes(
        self,
        volumes: Tensor<5>,
        value_range: (f32, f32),
        slice: VolumeSlice,
        ncols: usize,
    ) -> Result<Self> {
        self.images(volume_slices(volumes, slice)?, value_range, ncols)
    }

    /// Adds one slice of each label volume `[N, 1, D, H, W]`.
    pub fn label_volumes(
        self,
        labels: Tensor<5, Int>,
        slice: VolumeSlice,
        ncols: usize,
    ) -> Result<Self> {
        self.labels(volume_slices(labels, slice)?, ncols)
    }

    fn push_cells(&mut self, cells: Vec<RgbImage>, ncols: usize) {
        let mut cells = cells.into_iter().peekable();
        while cells.peek().is_some() {
            self.rows.push(cells.by_ref().take(ncols).collect());
        }
    }

    /// Draws the grid.
    ///
    /// Fails with [`CoreError::Empty`] if nothing was added, and with
    /// [`CoreError::InvalidConfig`] naming `scale` (and `padding`) if the grid's size overflows
    /// (beyond [`MAX_GRID_PIXELS`]).
    pub fn render(&self) -> Result<RgbImage> {
        let cells = self.rows.iter().flatten();
        let cell_w = cells.clone().map(RgbImage::width).max().unwrap_or(0);
        let cell_h = cells.map(RgbImage::height).max().unwrap_or(0);
        let ncols = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        if ncols == 0 || cell_w == 0 || cell_h == 0 {
            return Err(CoreError::Empty { what: "image grid".into() });
        }
        let scale = self.scale;
        let (Some(cell_w), Some(cell_h)) = (cell_w.checked_mul(scale), cell_h.checked_mul(scale))
        else {
            return Err(CoreError::config(
                "scale",
                format!("{scale} × cells of {cell_w} × {cell_h} pixels overflows"),
            ));
        };
        let pad = self.padding;
        let side =
            |count: usize, cell: usize| cell.checked_add(pad)?.checked_mul(count)?.checked_add(pad);
        let png_fits = |w: usize, h: usize| {
            u32::try_from(w).is_ok()
                && u32::try_from(h).is_ok()
                && w.checked_mul(h).is_some_and(|pixels| pixels <= MAX_GRID_PIXELS)
        };
        let (width, height) = match (side(ncols, cell_w), side(self.rows.len(), cell_h)) {
            (Some(w), Some(h)) if png_fits(w, h) => (w, h),
            _ => {
                return Err(CoreError::config(
                    "scale and padding",
                    format!(
                        "{pad} pixels around {ncols} × {} cells of {cell_w} × {cell_h} pixels \
                         (scale {scale}) make a grid of more than {MAX_GRID_PIXELS} pixels",
                        self.rows.len()
                    ),
                ));
            }
        };
        let mut canvas = RgbImage::new(width, height, self.background);
        for (r, row) in self.rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                let cell = cell.upscale(scale);
                let x = pad + c * (cell_w + pad) + (cell_w - cell.width()) / 2;
                let y = pad + r * (cell_h + pad) + (cell_h - cell.height()) / 2;
                canvas.blit(&cell, x, y);
            }
        }
        Ok(canvas)
    }

    /// Draws the grid and saves it as a PNG file (atomically).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        self.render()?.save_png(path)
    }
}

/// Saves a batch of images `[N, C, H, W]` (`C` = 1 grey or 3 RGB) as a PNG grid with
/// `ncols` images per row, values mapped from `value_range` (e.g. `(-1.0, 1.0)`) to 0…255,
/// `padding` pixels apart. See [`GridBuilder`] for more control.
pub fn save_image_grid(
    path: impl AsRef<Path>,
    images: Tensor<4>,
    ncols: usize,
    value_range: (f32, f32),
    padding: usize,
) -> Result<()> {
    GridBuilder::new().padding(padding).images(images, value_range, ncols)?.save(path)
}

/// Saves one slice (see [`VolumeSlice`]; e.g. `VolumeSlice::central(0)`) of each volume
/// `[N, C, D, H, W]` as a PNG grid, as [`save_image_grid`] does for images.
pub fn save_volume_grid(
    path: impl AsRef<Path>,
    volumes: Tensor<5>,
    slice: VolumeSlice,
    ncols: usize,
    value_range: (f32, f32),
    padding: usize,
) -> Result<()> {
    GridBuilder::new().padding(padding).volumes(volumes, value_range, slice, ncols)?.save(path)
}

fn check_ncols(ncols: usize) -> Result<()> {
    if ncols == 0 { Err(CoreError::config("ncols", "must be at least 1")) } else { Ok(()) }
}

/// Maps `value` from `[low, high]` to a byte, clamping; `None` for NaN.
fn to_byte(value: f32, low: f32, scale: f32) -> Option<u8> {
    if value.is_nan() {
        return None;
    }
    Some(((value - low) * scale).clamp(0.0, 255.0).round() as u8)
}

/// Converts a batch of images to RGB cells (one host read-back).
fn image_cells(images: Tensor<4>, (low, high): (f32, f32)) -> Result<Vec<RgbImage>> {
    if !(low.is_finite() && high.is_finite() && low < high) {
        return Err(CoreError::config(
            "value_range",
            format!("needs finite low < high, got ({low}, {high})"),
        ));
    }
    let [n, c, h, w] = images.dims();
    ensure_non_empty(&[n, c, h, w], "images")?;
    if c != 1 && c != 3 {
        return Err(CoreError::shape("images", "[N, 1 or 3, H, W]", &[n, c, h, w]));
    }
    let values = medgen_core::read_values::<f32, 4, _>(images, "images")?;
    let scale = 255.0 / (high - low);
    let plane = h * w;
    let cells = values
        .chunks_exact(c * plane)
        .map(|item| {
            let mut cell = RgbImage::new(w, h, [0; 3]);
            for p in 0..plane {
                let channel = |k: usize| to_byte(item[(k % c) * plane + p], low, scale);
                let color = match (channel(0), channel(1), channel(2)) {
                    (Some(r), Some(g), Some(b)) => [r, g, b],
                    _ => NAN_COLOR,
                };
                cell.put((p % w) as i64, (p / w) as i64, color);
            }
            cell
        })
        .collect();
    Ok(cells)
}

/// Converts a batch of label maps `[N, 1, H, W]` to coloured cells (one host read-back).
fn label_cells(labels: Tensor<4, Int>) -> Result<Vec<RgbImage>> {
    let [n, c, h, w] = labels.dims();
    ensure_non_empty(&[n, c, h, w], "labels")?;
    if c != 1 {
        return Err(CoreError::shape("labels", "[N, 1, H, W]", &[n, c, h, w]));
    }
    let values = read_labels(labels)?;
    let cells = values
        .chunks_exact(h * w)
        .map(|item| {
            let mut cell = RgbImage::new(w, h, [0; 3]);
            for (p, &label) in item.iter().enumerate() {
                cell.put((p % w) as i64, (p / w) as i64, label_color(label));
            }
            cell
        })
        .collect();
    Ok(cells)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::viz::canvas::tests::read_png;
    use medgen_testing::test_device;

    #[test]
    fn grey_grid_pixels_read_back() {
        let device = test_device();
        // Three 2×2 grey images: [-1, 1; 0, 5], all 1, and one with a NaN.
        let images = Tensor::<4>::from_floats(
            [
                [[[-1.0, 1.0], [0.0, 5.0]]],
                [[[1.0, 1.0], [1.0, 1.0]]],
                [[[f32::NAN, -3.0], [0.5, -0.5]]],
            ],
            &device,
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grid.png");
        save_image_grid(&path, images, 2, (-1.0, 1.0), 1).unwrap();
        let png = read_png(&path);
        // 2 columns and 2 rows of 2×2 cells, 1 px apart: 7 × 7.
        assert_eq!((png.width(), png.height()), (7, 7));
        let grey = |v: u8| Some([v, v, v]);
        assert_eq!(png.get(0, 0), Some(GRID_BACKGROUND));
        assert_eq!(png.get(1, 1), grey(0));
        assert_eq!(png.get(2, 1), grey(255));
        assert_eq!(png.get(1, 2), grey(128));
        assert_eq!(png.get(2, 2), grey(255)); // 5 clamped
        assert_eq!(png.get(4, 1), grey(255));
        assert_eq!(png.get(1, 4), Some(NAN_COLOR));
        assert_eq!(png.get(2, 4), grey(0)); // -3 clamped
        assert_eq!(png.get(1, 5), grey(191)); // 0.5 → 191.25
        assert_eq!(png.get(2, 5), grey(64)); // -0.5 → 63.75
        assert_eq!(png.get(4, 4), Some(GRID_BACKGROUND)); // empty slot
    }

    #[test]
    fn rgb_images_and_labels_share_a_grid() {
        let device = test_device();
        // One 1×2 RGB image: a red and a blue pixel, in [0, 1].
        let rgb = Tensor::<4>::from_floats([[[[1.0, 0.0]], [[0.0, 0.0]], [[0.0, 1.0]]]], &device);
        let labels = Tensor::<4, Int>::from_ints([[[[0, 2]]]], &device);
        let grid = GridBuilder::new()
            .padding(0)
            .scale(2)
            .image_row(rgb, (0.0, 1.0))
            .unwrap()
            .label_row(labels)
            .unwrap()
            .render()
            .unwrap();
        assert_eq!((grid.width(), grid.height()), (4, 4));
        assert_eq!(grid.get(1, 1), Some([255, 0, 0]));
        assert_eq!(grid.get(3, 0), Some([0, 0, 255]));
        assert_eq!(grid.get(0, 2), Some([0, 0, 0]));
        assert_eq!(grid.get(3, 3), Some(label_color(2)));
    }

    #[test]
    fn volumes_show_the_chosen_slice() {
        let device = test_device();
        // One volume 3×2×2 whose voxels equal their depth index.
        let volume = Tensor::<1, Int>::arange(0..3, &device)
            .float()
            .reshape([1, 1, 3, 1, 1])
            .repeat_dim(3, 2)
            .repeat_dim(4, 2);
        let central = volume_slices(volume.clone(), VolumeSlice::central(0)).unwrap();
        assert_eq!(central.dims(), [1, 1, 2, 2]);
        assert_eq!(central.try_into_vec_as::<f32>().unwrap(), [1.0; 4]);
        let sagittal = volume_slices(volume.clone(), VolumeSlice::at(2, 1)).unwrap();
        assert_eq!(sagittal.dims(), [1, 1, 3, 2]);
        assert_eq!(sagittal.try_into_vec_as::<f32>().unwrap(), [0.0, 0.0, 1.0, 1.0, 2.0, 2.0]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vol.png");
        save_volume_grid(&path, volume.clone(), VolumeSlice::default(), 1, (0.0, 2.0), 0).unwrap();
        let png = read_png(&path);
        assert_eq!(png.get(1, 1), Some([128, 128, 128]));
        assert!(volume_slices(volume.clone(), VolumeSlice::at(0, 3)).is_err());
        assert!(volume_slices(volume, VolumeSlice::central(3)).is_err());
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let device = test_device();
        let two_channels = Tensor::<4>::zeros([1, 2, 2, 2], &device);
        assert!(matches!(
            GridBuilder::new().images(two_channels, (-1.0, 1.0), 4),
            Err(CoreError::ShapeMismatch { .. })
        ));
        let ok = Tensor::<4>::zeros([1, 1, 2, 2], &device);
        assert!(GridBuilder::new().images(ok.clone(), (1.0, 1.0), 4).is_err());
        assert!(GridBuilder::new().images(ok, (-1.0, 1.0), 0).is_err());
        let empty = Tensor::<4>::zeros([0, 1, 2, 2], &device);
        assert!(matches!(
            GridBuilder::new().images(empty, (-1.0, 1.0), 4),
            Err(CoreError::Empty { .. })
        ));
        assert!(matches!(GridBuilder::new().render(), Err(CoreError::Empty { .. })));
    }
}
