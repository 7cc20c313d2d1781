//! Loading a folder of PNG images into an [`ImageDataset`] `[N, C, H, W]` in [-1, 1].

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use burn::prelude::*;

use super::dataset::ImageDataset;
use super::intensity::{IntensityMapping, IntensityRange};
use medgen_core::error::{CoreError, Result};

/// How colour PNGs become channels.
#[derive(Config, Debug, PartialEq)]
pub enum ColorMode {
    /// One grey channel: grey as stored, grey+alpha drops alpha, and RGB(A) becomes the
    /// ITU-R BT.601 luminance `Y = 0.299 R + 0.587 G + 0.114 B` (alpha dropped), as PIL's
    /// `convert("L")` (without its rounding).
    Luminance,
    /// Every stored channel, alpha included (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA); all images
    /// must then have the same number of channels.
    KeepChannels,
}

/// Options of [`load_png_folder`].
#[derive(Config, Debug)]
pub struct PngFolderConfig {
    /// How colour images become channels.
    #[config(default = "ColorMode::Luminance")]
    pub color: ColorMode,
    /// How the intensity window is chosen; `DtypeRange` is `[0, 2^bits - 1]` (255 or 65535).
    #[config(default = "IntensityRange::DtypeRange")]
    pub intensity: IntensityRange,
}

/// The images of a PNG folder and the files they came from (index `i` of `dataset` is
/// `files[i]`).
#[derive(Clone, Debug)]
pub struct PngFolder {
    /// Images `[N, C, H, W]` mapped to [-1, 1], with their [`IntensityMapping`].
    pub dataset: ImageDataset,
    /// The files, sorted by name.
    pub files: Vec<PathBuf>,
}

/// One decoded PNG: raw samples (`0..=255` or `0..=65535`) in interleaved `[H, W, C]` order.
#[derive(Clone, Debug, PartialEq)]
pub struct PngImage {
    /// The width `W` in pixels.
    pub width: usize,
    /// The height `H` in pixels.
    pub height: usize,
    /// The channels `C`: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA.
    pub channels: usize,
    /// 8 or 16 (palette and low bit depths are expanded to 8).
    pub bit_depth: u8,
    /// `H · W · C` samples, row-major with interleaved channels.
    pub samples: Vec<f32>,
}

/// Loads every `*.png` (case-insensitive) in `dir`, sorted by file name.
///
/// 8- and 16-bit grey, grey+alpha, RGB and RGBA images (palette and low-bit-depth images are
/// expanded) are read, converted according to `config.color`, and mapped to [-1, 1] with one
/// [`IntensityMapping`] for the whole folder.
///
/// Fails with [`CoreError::Io`] if `dir` cannot be listed, [`CoreError::Empty`] if it has no
/// PNG, [`CoreError::Format`] naming the file for a corrupt PNG or one whose size, channel
/// count or bit depth differs from the first image's.
pub fn load_png_folder(dir: impl AsRef<Path>, config: &PngFolderConfig) -> Result<PngFolder> {
    let dir = dir.as_ref();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| CoreError::io(dir, e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|ext| ext.eq_ignore_ascii_case("png")))
        .collect();
    if files.is_empty() {
        return Err(CoreError::Empty { what: format!("PNG folder {}", dir.display()) });
    }
    files.sort();

    let mut images = Vec::new();
    let mut first: Option<(usize, usize, usize, u8)> = None;
    for path in &files {
        let png = decode_png(path)?;
        let converted = convert_channels(png, config.color == ColorMode::Luminance);
        let layout = (converted.height, converted.width, converted.channels, converted.bit_depth);
        match first {
            None => first = Some(layout),
            Some(expected) if expected != layout => {
                return Err(CoreError::format(
                    "PNG",
                    path,
                    format!(
                        "(height, width, channels, bit depth) = {layout:?} differs from the first \
                         image's {expected:?}"
                    ),
                ));
            }
            Some(_) => {}
        }
        images.extend(interleaved_to_planar(&converted));
    }
    let (height, width, channels, bit_depth) =
        first.ok_or_else(|| CoreError::Empty { what: "PNG folder".into() })?;
    let mapping = match config.intensity {
        IntensityRange::DtypeRange => IntensityMapping::new(0.0, ((1u32 << bit_depth) - 1) as f32)?,
        ref range => IntensityMapping::fit(&images, range, "PNG folder")?,
    };
    mapping.forward_in_place(&mut images, "PNG folder")?;
    let dataset = ImageDataset::new(images, vec![files.len(), channels, height, width])?
        .with_mapping(mapping);
    Ok(PngFolder { dataset, files })
}

/// Decodes the PNG file at `path` (palette and 1/2/4-bit images expanded to 8 bits).
///
/// Fails with [`CoreError::Io`] if the file cannot be read and [`CoreError::Format`] naming
/// it for a corrupt or truncated PNG, or one whose header claims more pixels than its
/// compressed data could hold (see [`PNG_MAX_INFLATION`]).
pub fn decode_png(path: &Path) -> Result<PngImage> {
    let file = File::open(path).map_err(|e| CoreError::io(path, e))?;
    let len = file.metadata().map_err(|e| CoreError::io(path, e))?.len();
    decode_png_from(BufReader::new(file), len, path)
}

/// Decodes a PNG held in memory; `origin` names it in errors.
///
/// Fails with [`CoreError::Format`] as [`decode_png`] does.
pub fn decode_png_bytes(bytes: &[u8], origin: &Path) -> Result<PngImage> {
    decode_png_from(std::io::Cursor::new(bytes), bytes.len() as u64, origin)
}

/// The most decoded bytes per byte of PNG file that [`decode_png`] accepts: deflate expands
/// by at most 1032:1, and palette, low-bit-depth and transparency expansion by at most 32 (a 1-bit palette index to 8-bit RGBA)
/// on top of it. A header that claims more pixels than this cannot be honest; refusing it
/// keeps a 100-byte file from reserving gigabytes before its data is found missing.
pub const PNG_MAX_INFLATION: u64 = 1032 * 32;

/// Decodes the PNG read from `source`, whose length is `len` bytes; `path` names it in errors.
fn decode_png_from(
    source: impl std::io::BufRead + std::io::Seek,
    len: u64,
    path: &Path,
) -> Result<PngImage> {
    let bad = |reason: String| CoreError::format("PNG", path, reason);
    let mut decoder = png::Decoder::new(source);
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().map_err(|e| bad(e.to_string()))?;
    let claimed = reader.output_buffer_size();
    if claimed as u64 > len.saturating_mul(PNG_MAX_INFLATION) {
        return Err(bad(format!(
            "the header claims {claimed} decoded bytes, more than {PNG_MAX_INFLATION} per byte of \
             its {len}-byte file"
        )));
    }
    let mut buffer = vec![0u8; claimed];
    let info = reader.next_frame(&mut buffer).map_err(|e| bad(e.to_string()))?;
    let channels = match info.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => return Err(bad("palette was not expanded".into())),
    };
    let (width, height) = (info.width as usize, info.height as usize);
    let bytes = &buffer[..info.buffer_size()];
    let (bit_depth, samples): (u8, Vec<f32>) = match info.bit_depth {
        png::BitDepth::Sixteen => (
            16,
            bytes.chunks_exact(2).map(|b| f32::from(u16::from_be_bytes([b[0], b[1]]))).collect(),
        ),
        png::BitDepth::Eight => (8, bytes.iter().map(|&b| f32::from(b)).collect()),
        other => {
            return Err(bad(format!("unexpected bit depth {other:?} after expansion")));
        }
    };
    // Rows may carry no padding after EXPAND to 8/16 bits, so the sample count is exact.
    if samples.len() != width * height * channels {
        return Err(bad(format!(
            "decoded {} samples for {width}x{height}x{channels}",
            samples.len()
        )));
    }
    Ok(PngImage { width, height, channels, bit_depth, samples })
}

/// Applies [`ColorMode::Luminance`] (when `to_grey`), else keeps the channels.
fn convert_channels(png: PngImage, to_grey: bool) -> PngImage {
    if !to_grey || png.channels == 1 {
        return png;
    }
    let samples = png
        .samples
        .chunks_exact(png.channels)
        .map(|px| match px.len() {
            2 => px[0],
            _ => 0.299 * px[0] + 0.587 * px[1] + 0.114 * px[2],
        })
        .collect();
    PngImage { channels: 1, samples, ..png }
}

/// `[H, W, C]` interleaved samples to `[C, H, W]` planes.
fn interleaved_to_planar(png: &PngImage) -> Vec<f32> {
    let pixels = png.width * png.height;
    (0..png.channels)
        .flat_map(|c| (0..pixels).map(move |p| png.samples[p * png.channels + c]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_png(
        path: &Path,
        w: u32,
        h: u32,
        color: png::ColorType,
        depth: png::BitDepth,
        data: &[u8],
    ) {
        let file = File::create(path).unwrap();
        let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), w, h);
        encoder.set_color(color);
        encoder.set_depth(depth);
        encoder.write_header().unwrap().write_image_data(data).unwrap();
    }

    #[test]
    fn grey_and_rgb_images_become_luminance_in_minus_one_one() {
        let dir = tempfile::tempdir().unwrap();
        write_png(
            &dir.path().join("b.png"),
            2,
            1,
            png::ColorType::Grayscale,
            png::BitDepth::Eight,
            &[0, 255],
        );
        // One red and one white pixel.
        write_png(
            &dir.path().join("a.png"),
            2,
            1,
            png::ColorType::Rgb,
            png::BitDepth::Eight,
            &[255, 0, 0, 255, 255, 255],
        );
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        let folder = load_png_folder(dir.path(), &PngFolderConfig::new()).unwrap();
        assert_eq!(folder.dataset.shape(), &[2, 1, 1, 2]);
        assert!(folder.files[0].ends_with("a.png"));
        let v = folder.dataset.images();
        let red = 2.0 * 0.299 - 1.0;
        assert!((v[0] - red).abs() < 1e-5 && (v[1] - 1.0).abs() < 1e-5);
        assert_eq!(&v[2..], &[-1.0, 1.0]);
        let m = folder.dataset.mapping();
        assert_eq!((m.low, m.high), (0.0, 255.0));
    }

    #[test]
    fn sixteen_bit_grey_alpha_and_kept_channels() {
        let dir = tempfile::tempdir().unwrap();
        // 16-bit grey: 0, 65535, 32768 (big-endian samples).
        write_png(
            &dir.path().join("g16.png"),
            3,
            1,
            png::ColorType::Grayscale,
            png::BitDepth::Sixteen,
            &[0, 0, 255, 255, 128, 0],
        );
        let folder = load_png_folder(dir.path(), &PngFolderConfig::new()).unwrap();
        let v = folder.dataset.images();
        assert_eq!(v[0], -1.0);
        assert_eq!(v[1], 1.0);
        assert!((v[2] - (2.0 * 32768.0 / 65535.0 - 1.0)).abs() < 1e-6);

        let dir = tempfile::tempdir().unwrap();
        // Grey+alpha, 2x1: (10, 255), (20, 0); channels kept -> planes [10, 20], [255, 0].
        write_png(
            &dir.path().join("ga.png"),
            2,
            1,
            png::ColorType::GrayscaleAlpha,
            png::BitDepth::Eight,
            &[10, 255, 20, 0],
        );
        let cfg = PngFolderConfig::new()
            .with_color(ColorMode::KeepChannels)
            .with_intensity(IntensityRange::MinMax);
        let folder = load_png_folder(dir.path(), &cfg).unwrap();
        assert_eq!(folder.dataset.shape(), &[1, 2, 1, 2]);
        let m = folder.dataset.mapping();
        let raw: Vec<f32> = folder.dataset.images().iter().map(|&y| m.inverse_value(y)).collect();
        for (r, e) in raw.iter().zip([10.0, 20.0, 255.0, 0.0]) {
            assert!((r - e).abs() < 1e-3, "{raw:?}");
        }
        // Grey+alpha as luminance keeps the grey channel.
        let folder = load_png_folder(dir.path(), &PngFolderConfig::new()).unwrap();
        assert_eq!(folder.dataset.shape(), &[1, 1, 1, 2]);
    }

    #[test]
    fn mixed_sizes_corrupt_files_and_empty_folders_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            load_png_folder(dir.path(), &PngFolderConfig::new()),
            Err(CoreError::Empty { .. })
        ));
        write_png(
            &dir.path().join("a.png"),
            2,
            2,
            png::ColorType::Grayscale,
            png::BitDepth::Eight,
            &[1, 2, 3, 4],
        );
        write_png(
            &dir.path().join("b.png"),
            1,
            2,
            png::ColorType::Grayscale,
            png::BitDepth::Eight,
            &[1, 2],
        );
        let err = load_png_folder(dir.path(), &PngFolderConfig::new()).unwrap_err();
        assert!(matches!(err, CoreError::Format { .. }) && err.to_string().contains("b.png"));

        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.png");
        write_png(&good, 4, 4, png::ColorType::Grayscale, png::BitDepth::Eight, &[7; 16]);
        let bytes = std::fs::read(&good).unwrap();
        std::fs::write(dir.path().join("cut.png"), &bytes[..bytes.len() - 20]).unwrap();
        let err = load_png_folder(dir.path(), &PngFolderConfig::new()).unwrap_err();
        assert!(
            matches!(err, CoreError::Format { .. }) && err.to_string().contains("cut.png"),
            "{err}"
        );
        std::fs::remove_file(dir.path().join("cut.png")).unwrap();
        std::fs::write(dir.path().join("junk.png"), b"not a png").unwrap();
        assert!(matches!(
            load_png_folder(dir.path(), &PngFolderConfig::new()),
            Err(CoreError::Format { .. })
        ));
        assert!(matches!(
            load_png_folder("/no/such/dir", &PngFolderConfig::new()),
            Err(CoreError::Io { .. })
        ));
    }
}
