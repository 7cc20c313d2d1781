//! DICOM RLE Lossless decoding (PS3.5 Annex G), for grey-scale images of 8, 16 or 32 bits.
//!
//! medgen decodes RLE itself rather than through `dicom-pixeldata`: that decoder reads 8 and 16
//! bits only and panics (index out of bounds) on a segment that decodes short, which a damaged
//! file must turn into an error instead.
//!
//! Each frame is one fragment: a 64-byte header (the number of segments `S`, then 15 `u32`
//! offsets from the fragment's start), then `S` segments. Segment `b` holds byte `b` of every
//! sample, most significant first, PackBits-encoded: a control byte `n` (as `i8`) is followed
//! by `n + 1` literal bytes when `0 ≤ n ≤ 127`, by one byte repeated `1 − n` times when
//! `−127 ≤ n ≤ −1`, and by nothing when `n = −128`.

use std::path::Path;

use super::dicom_error::DicomError;

/// The transfer syntax UID of RLE Lossless.
pub(crate) const RLE_LOSSLESS: &str = "1.2.840.10008.1.2.5";

/// The size of a frame's RLE header.
const HEADER: usize = 64;

/// Decodes `frames` frames of `pixels` samples of `width` bytes (1, 2 or 4) from `fragments`
/// (one per frame) into native-endian samples, frame after frame.
///
/// Fails with [`DicomError::Truncated`] when a segment decodes to fewer than `pixels` bytes and
/// [`DicomError::Corrupt`] for a header that does not match the image.
pub(crate) fn decode_rle(
    fragments: &[Vec<u8>],
    frames: usize,
    pixels: usize,
    width: usize,
    path: &Path,
) -> Result<Vec<u8>, DicomError> {
    let corrupt = |reason: String| DicomError::Corrupt { path: path.into(), reason };
    if fragments.len() != frames {
        return Err(corrupt(format!(
            "{} RLE fragments for {frames} frames (RLE needs one fragment per frame)",
            fragments.len()
        )));
    }
    let mut out = vec![0u8; frames * pixels * width];
    for (f, fragment) in fragments.iter().enumerate() {
        let frame = &mut out[f * pixels * width..(f + 1) * pixels * width];
        if fragment.len() < HEADER {
            return Err(DicomError::Truncated {
                path: path.into(),
                reason: format!(
                    "RLE frame {f} is {} bytes, shorter than its header",
                    fragment.len()
                ),
            });
        }
        let word = |k: usize| {
            u32::from_le_bytes([
                fragment[4 * k],
                fragment[4 * k + 1],
                fragment[4 * k + 2],
                fragment[4 * k + 3],
            ]) as usize
        };
        let segments = word(0);
        if segments != width {
            return Err(corrupt(format!(
                "RLE frame {f} has {segments} segments, {width}-byte grey-scale samples need {width}"
            )));
        }
        for b in 0..width {
            let start = word(1 + b);
            let end = if b + 1 < width { word(2 + b) } else { fragment.len() };
            if start < HEADER || start > end || end > fragment.len() {
                return Err(corrupt(format!(
                    "RLE frame {f} segment {b} spans bytes {start}..{end} of {}",
                    fragment.len()
                )));
            }
            let decoded = unpack_bits(&fragment[start..end], pixels);
            if decoded.len() < pixels {
                return Err(DicomError::Truncated {
                    path: path.into(),
                    reason: format!(
                        "RLE frame {f} segment {b} decodes to {} of {pixels} bytes",
                        decoded.len()
                    ),
                });
            }
            // Segment 0 is the most significant byte.
            let at = if cfg!(target_endian = "little") { width - 1 - b } else { b };
            for (p, &byte) in decoded.iter().enumerate() {
                frame[p * width + at] = byte;
            }
        }
    }
    Ok(out)
}

/// PackBits-decodes `segment`, stopping at `limit` bytes (a segment may carry padding).
fn unpack_bits(segment: &[u8], limit: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(limit);
    let mut at = 0;
    while out.len() < limit && at < segment.len() {
        let control = segment[at] as i8;
        at += 1;
        if control >= 0 {
            let count = control as usize + 1;
            let end = (at + count).min(segment.len());
            out.extend_from_slice(&segment[at..end]);
            at = end;
        } else if control != -128 {
            let Some(&byte) = segment.get(at) else { break };
            at += 1;
            out.extend(std::iter::repeat_n(byte, 1 + (-(control as i16)) as usize));
        }
    }
    out.truncate(limit);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packbits_literals_runs_and_no_ops() {
        // 3 literals, a run of 4, a no-op, 1 literal.
        let segment = [2, 10, 11, 12, (-3i8) as u8, 7, (-128i8) as u8, 0, 9];
        assert_eq!(unpack_bits(&segment, 100), vec![10, 11, 12, 7, 7, 7, 7, 9]);
        assert_eq!(unpack_bits(&segment, 5), vec![10, 11, 12, 7, 7]);
        // A literal cut short and a run without its byte decode what is there.
        assert_eq!(unpack_bits(&[5, 1, 2], 10), vec![1, 2]);
        assert_eq!(unpack_bits(&[(-4i8) as u8], 10), Vec::<u8>::new());
    }

    fn frame(segments: &[Vec<u8>]) -> Vec<u8> {
        let mut header = vec![0u8; HEADER];
        header[..4].copy_from_slice(&(segments.len() as u32).to_le_bytes());
        let mut offset = HEADER;
        for (k, s) in segments.iter().enumerate() {
            header[4 + 4 * k..8 + 4 * k].copy_from_slice(&(offset as u32).to_le_bytes());
            offset += s.len();
        }
        header.extend(segments.iter().flatten());
        header
    }

    #[test]
    fn sixteen_bit_samples_are_reassembled_most_significant_segment_first() {
        // Two pixels 0x0102 and 0x0304: MSB segment [1, 3], LSB segment [2, 4].
        let fragment = frame(&[vec![1, 1, 3], vec![1, 2, 4]]);
        let out = decode_rle(&[fragment], 1, 2, 2, Path::new("t.dcm")).unwrap();
        let values: Vec<u16> = out.chunks(2).map(|c| u16::from_ne_bytes([c[0], c[1]])).collect();
        assert_eq!(values, vec![0x0102, 0x0304]);
    }

    #[test]
    fn short_segments_and_bad_headers_are_errors() {
        let path = Path::new("t.dcm");
        let short = frame(&[vec![0, 1]]);
        assert!(matches!(decode_rle(&[short], 1, 2, 1, path), Err(DicomError::Truncated { .. })));
        let two = frame(&[vec![1, 1, 3], vec![1, 2, 4]]);
        assert!(matches!(
            decode_rle(std::slice::from_ref(&two), 1, 2, 1, path),
            Err(DicomError::Corrupt { .. })
        ));
        assert!(matches!(decode_rle(&[two], 2, 2, 2, path), Err(DicomError::Corrupt { .. })));
        let mut bad_offset = frame(&[vec![1, 1, 3]]);
        bad_offset[4..8].copy_from_slice(&9999u32.to_le_bytes());
        assert!(matches!(
            decode_rle(&[bad_offset], 1, 2, 1, path),
            Err(DicomError::Corrupt { .. })
        ));
        assert!(matches!(
            decode_rle(&[vec![1; 10]], 1, 2, 1, path),
            Err(DicomError::Truncated { .. })
        ));
    }
}
