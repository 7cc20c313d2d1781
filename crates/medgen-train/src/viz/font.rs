//! An 8 × 8 bitmap font for plot labels and titles: the printable ASCII glyphs of the
//! `font8x8` crate (MIT; Daniel Hepper's public-domain 8 × 8 glyphs), so any label a plot
//! needs (family names, axis titles, numbers) can be drawn without a font rasteriser.

use super::canvas::{Rgb, RgbImage};

/// Glyph width in pixels.
pub const GLYPH_WIDTH: usize = 8;
/// Glyph height in pixels.
pub const GLYPH_HEIGHT: usize = 8;
/// Horizontal advance per character (the glyphs carry their own blank column).
pub const ADVANCE: usize = GLYPH_WIDTH;

/// The rows of a glyph, top to bottom; bit 0 is the leftmost pixel. Characters outside
/// ASCII are blank.
fn glyph(c: char) -> [u8; GLYPH_HEIGHT] {
    let code = c as usize;
    if code < font8x8::legacy::BASIC_LEGACY.len() {
        font8x8::legacy::BASIC_LEGACY[code]
    } else {
        [0; GLYPH_HEIGHT]
    }
}

/// The width in pixels of `text` drawn with [`draw_text`].
pub fn text_width(text: &str) -> usize {
    (text.chars().count() * ADVANCE).saturating_sub(1)
}

/// Draws `text` with its top-left corner at `(x, y)`; pixels off the canvas are clipped.
pub fn draw_text(canvas: &mut RgbImage, x: i64, y: i64, text: &str, color: Rgb) {
    for (i, c) in text.chars().enumerate() {
        let left = x + (i * ADVANCE) as i64;
        for (row, bits) in glyph(c).iter().enumerate() {
            for col in 0..GLYPH_WIDTH {
                if bits & (1 << col) != 0 {
                    canvas.put(left + col as i64, y + row as i64, color);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_known_glyph_pixels() {
        let mut canvas = RgbImage::new(24, 8, [0; 3]);
        draw_text(&mut canvas, 0, 0, "1-A", [255; 3]);
        // '1': rows 0x0C (pixels 2, 3) at the top, 0x3F (pixels 0..6) at the foot.
        assert_eq!(canvas.get(2, 0), Some([255; 3]));
        assert_eq!(canvas.get(1, 0), Some([0; 3]));
        assert_eq!(canvas.get(0, 6), Some([255; 3]));
        assert_eq!(canvas.get(6, 6), Some([0; 3]));
        // '-' starts one advance later, on row 3.
        assert_eq!(canvas.get(ADVANCE, 3), Some([255; 3]));
        assert_eq!(canvas.get(ADVANCE, 2), Some([0; 3]));
        // 'A': its crossbar (0x3F) on row 4.
        assert_eq!(canvas.get(2 * ADVANCE + 5, 4), Some([255; 3]));
        assert_eq!(text_width("1-A"), 23);
    }
}
