//! A tiny 5 × 7 bitmap font for axis numbers: digits, `. - + e` and the letters of
//! "step", "loss" and "log".

use super::canvas::{Rgb, RgbImage};

/// Glyph width in pixels.
pub const GLYPH_WIDTH: usize = 5;
/// Glyph height in pixels.
pub const GLYPH_HEIGHT: usize = 7;
/// Horizontal advance per character (glyph plus one blank column).
pub const ADVANCE: usize = GLYPH_WIDTH + 1;

/// The rows of a glyph, top to bottom; bit 4 is the leftmost pixel. Unknown characters are
/// blank.
fn glyph(c: char) -> [u8; GLYPH_HEIGHT] {
    match c {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        '+' => [0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00],
        'e' => [0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E],
        's' => [0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E],
        't' => [0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06],
        'p' => [0x00, 0x00, 0x1E, 0x11, 0x1E, 0x10, 0x10],
        'l' => [0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'o' => [0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E],
        'g' => [0x00, 0x00, 0x0F, 0x11, 0x0F, 0x01, 0x0E],
        _ => [0; GLYPH_HEIGHT],
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
                if bits & (0x10 >> col) != 0 {
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
        let mut canvas = RgbImage::new(12, 7, [0; 3]);
        draw_text(&mut canvas, 0, 0, "1-", [255; 3]);
        // '1': top row has only the centre pixel, bottom row the centre three.
        assert_eq!(canvas.get(2, 0), Some([255; 3]));
        assert_eq!(canvas.get(1, 0), Some([0; 3]));
        assert_eq!(canvas.get(1, 6), Some([255; 3]));
        // '-' starts one advance later, on row 3.
        assert_eq!(canvas.get(ADVANCE, 3), Some([255; 3]));
        assert_eq!(canvas.get(ADVANCE, 2), Some([0; 3]));
        assert_eq!(text_width("1-"), 11);
    }
}
