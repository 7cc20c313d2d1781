//! An 8-bit RGB raster that grids and plots are drawn on, and its PNG encoding.

use std::io::{self, Write};
use std::path::Path;

use crate::write_atomically;
use medgen_core::error::{CoreError, Result};

/// An RGB colour, 8 bits per channel.
pub type Rgb = [u8; 3];

/// A `width × height` RGB image stored row-major, 3 bytes per pixel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RgbImage {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

impl RgbImage {
    /// An image filled with `color`.
    pub fn new(width: usize, height: usize, color: Rgb) -> Self {
        Self { width, height, pixels: color.repeat(width * height) }
    }

    /// The width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The raw bytes, row-major RGB.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// The colour at column `x`, row `y`, or `None` outside the image.
    pub fn get(&self, x: usize, y: usize) -> Option<Rgb> {
        (x < self.width && y < self.height).then(|| {
            let i = 3 * (y * self.width + x);
            [self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]]
        })
    }

    /// Sets the pixel at `(x, y)`; coordinates outside the image are ignored, so shapes may
    /// be drawn partly off the canvas.
    pub fn put(&mut self, x: i64, y: i64, color: Rgb) {
        if let (Ok(x), Ok(y)) = (usize::try_from(x), usize::try_from(y))
            && x < self.width
            && y < self.height
        {
            let i = 3 * (y * self.width + x);
            self.pixels[i..i + 3].copy_from_slice(&color);
        }
    }

    /// Copies `src` with its top-left corner at `(x0, y0)` (clipped to this image).
    pub fn blit(&mut self, src: &RgbImage, x0: usize, y0: usize) {
        let w = src.width.min(self.width.saturating_sub(x0));
        for y in 0..src.height.min(self.height.saturating_sub(y0)) {
            let from = 3 * y * src.width;
            let to = 3 * ((y0 + y) * self.width + x0);
            self.pixels[to..to + 3 * w].copy_from_slice(&src.pixels[from..from + 3 * w]);
        }
    }

    /// The image enlarged `factor` times by repeating pixels (nearest neighbour), so that
    /// 28 × 28 images stay crisp when viewed large.
    ///
    /// # Panics
    /// Panics if the upscaled size overflows `usize` (a factor no image could be drawn at;
    /// [`GridBuilder::render`](super::GridBuilder::render) checks it first).
    #[track_caller]
    pub fn upscale(&self, factor: usize) -> RgbImage {
        if factor <= 1 {
            return self.clone();
        }
        let side = |n: usize| n.checked_mul(factor).expect("upscaled image size overflows usize");
        let mut out = RgbImage::new(side(self.width), side(self.height), [0; 3]);
        for y in 0..out.height {
            for x in 0..out.width {
                let i = 3 * ((y / factor) * self.width + x / factor);
                let o = 3 * (y * out.width + x);
                out.pixels[o..o + 3].copy_from_slice(&self.pixels[i..i + 3]);
            }
        }
        out
    }

    /// Writes the image as an 8-bit RGB PNG to `out`.
    pub fn write_png(&self, out: &mut dyn Write) -> io::Result<()> {
        let dims = (u32::try_from(self.width), u32::try_from(self.height));
        let (Ok(width), Ok(height)) = dims else {
            return Err(io::Error::other("image too large for PNG"));
        };
        if width == 0 || height == 0 {
            return Err(io::Error::other("PNG images must not be empty"));
        }
        let mut encoder = png::Encoder::new(out, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(io::Error::other)?;
        writer.write_image_data(&self.pixels).map_err(io::Error::other)?;
        writer.finish().map_err(io::Error::other)
    }

    /// Saves the image as a PNG file, atomically (a viewer watching the file never sees a
    /// half-written image).
    pub fn save_png(&self, path: impl AsRef<Path>) -> Result<()> {
        if self.width == 0 || self.height == 0 {
            return Err(CoreError::Empty { what: "image to save".into() });
        }
        write_atomically(path.as_ref(), |out| self.write_png(out))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Decodes an 8-bit RGB PNG file into an [`RgbImage`].
    pub(crate) fn read_png(path: &Path) -> RgbImage {
        let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgb);
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        buf.truncate(info.buffer_size());
        RgbImage { width: info.width as usize, height: info.height as usize, pixels: buf }
    }

    #[test]
    fn png_round_trip_and_drawing() {
        let mut image = RgbImage::new(3, 2, [10, 20, 30]);
        image.put(2, 1, [255, 0, 0]);
        image.put(-1, 0, [1, 1, 1]);
        image.put(3, 0, [1, 1, 1]);
        let mut patch = RgbImage::new(2, 2, [0, 0, 255]);
        patch.put(0, 0, [0, 255, 0]);
        image.blit(&patch, 2, 0);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.png");
        image.save_png(&path).unwrap();
        let back = read_png(&path);
        assert_eq!(back, image);
        assert_eq!(back.get(2, 0), Some([0, 255, 0]));
        assert_eq!(back.get(2, 1), Some([0, 0, 255]));
        assert_eq!(back.get(0, 1), Some([10, 20, 30]));
        assert_eq!(back.get(3, 0), None);
        let big = image.upscale(2);
        assert_eq!((big.width(), big.height()), (6, 4));
        assert_eq!(big.get(5, 1), Some([0, 255, 0]));
        assert!(RgbImage::new(0, 4, [0; 3]).save_png(&path).is_err());
    }
}
