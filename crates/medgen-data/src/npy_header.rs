//! A screen in front of `npyz`'s `.npy` header parser.
//!
//! `npyz` parses the header (a Python dict literal) with a recursive-descent parser whose
//! running time explodes on deeply nested brackets: the fuzzer found a 157-byte file that
//! takes seconds. The arrays medgen reads have plain dtypes, whose headers numpy writes as
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`: brackets nest two deep.
//! [`screen_header`] reads the preamble and the header itself, refuses headers that are
//! longer than [`MAX_HEADER_BYTES`] or nest brackets deeper than [`MAX_HEADER_NESTING`], and
//! hands the bytes it read back for `npyz` to parse as usual.

use std::io::Read;

/// The longest header accepted (numpy pads headers to a multiple of 64 bytes; a plain
/// dtype's header with a 32-axis shape stays far below this).
pub(crate) const MAX_HEADER_BYTES: usize = 1 << 16;

/// The deepest bracket nesting accepted in a header (`{` of the dict, `(` of the shape; one
/// level of slack).
pub(crate) const MAX_HEADER_NESTING: usize = 3;

/// The `.npy` magic string.
const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Reads the magic, version, header length and header from `reader` and returns those bytes,
/// or the reason the header is refused.
pub(crate) fn screen_header(reader: &mut impl Read) -> Result<Vec<u8>, String> {
    let mut preamble = [0u8; 8];
    reader.read_exact(&mut preamble).map_err(|e| format!("cannot read the preamble: {e}"))?;
    if &preamble[..6] != MAGIC {
        return Err("not a .npy file (bad magic string)".into());
    }
    let length_bytes = match preamble[6] {
        1 => 2,
        2 | 3 => 4,
        major => return Err(format!("unsupported format version {major}")),
    };
    let mut length = [0u8; 4];
    reader
        .read_exact(&mut length[..length_bytes])
        .map_err(|e| format!("cannot read the header length: {e}"))?;
    let header_len = u32::from_le_bytes(length) as usize;
    if header_len > MAX_HEADER_BYTES {
        return Err(format!("header of {header_len} bytes (at most {MAX_HEADER_BYTES})"));
    }
    let mut bytes = Vec::with_capacity(8 + length_bytes + header_len);
    bytes.extend_from_slice(&preamble);
    bytes.extend_from_slice(&length[..length_bytes]);
    let start = bytes.len();
    bytes.resize(start + header_len, 0);
    reader.read_exact(&mut bytes[start..]).map_err(|e| format!("truncated header: {e}"))?;
    let nesting = bracket_nesting(&bytes[start..]);
    if nesting > MAX_HEADER_NESTING {
        return Err(format!(
            "header brackets nest {nesting} deep (plain dtypes need 2, at most \
             {MAX_HEADER_NESTING} accepted)"
        ));
    }
    Ok(bytes)
}

/// The deepest nesting of `{`, `[` and `(` in `header` (closing brackets of any kind close
/// one level; quotes are not special, which only over-counts).
fn bracket_nesting(header: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    for &byte in header {
        match byte {
            b'{' | b'[' | b'(' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy_v1(header: &str) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&[1, 0]);
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(b"data");
        bytes
    }

    #[test]
    fn passes_a_numpy_header_through_and_stops_before_the_data() {
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n";
        let file = npy_v1(header);
        let mut reader = &file[..];
        let read = screen_header(&mut reader).unwrap();
        assert_eq!(read, file[..file.len() - 4]);
        assert_eq!(reader, b"data");
    }

    #[test]
    fn refuses_deep_nesting_long_headers_and_other_files() {
        let deep = npy_v1("{{{{'descr': '<f4'}}}}");
        assert!(screen_header(&mut &deep[..]).unwrap_err().contains("nest 4 deep"));
        let mut long = MAGIC.to_vec();
        long.extend_from_slice(&[2, 0]);
        long.extend_from_slice(&(1u32 << 20).to_le_bytes());
        assert!(screen_header(&mut &long[..]).unwrap_err().contains("header of"));
        assert!(screen_header(&mut &b"PK\x03\x04 not npy"[..]).unwrap_err().contains("magic"));
        assert!(screen_header(&mut &npy_v1("{")[..10]).unwrap_err().contains("truncated"));
        assert_eq!(bracket_nesting(b"{'shape': (2, 3), 'x': [(1,)]}"), 3);
    }
}
