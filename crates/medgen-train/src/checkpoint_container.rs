//! The byte layout of a medgen checkpoint file: a checksummed JSON header and named,
//! checksummed binary sections.
//!
//! ```text
//! offset  size  field
//! 0       8     magic  b"MEDGENCK"
//! 8       4     format version, u32 little-endian (currently 1)
//! 12      8     header length H, u64 little-endian
//! 20      4     CRC-32 (IEEE, as zlib/PNG) of the header bytes, u32 little-endian
//! 24      H     header: UTF-8 JSON {"meta": <any JSON>,
//!                                   "sections": [{"name": str, "len": u64, "crc32": u32}, …]}
//! 24 + H  …     the section bytes, concatenated in the order of "sections";
//!               the file ends exactly after the last section.
//! ```
//!
//! Every length is checked against the file size before it is used and every CRC is
//! verified, so a truncated, padded or bit-flipped file is reported as
//! [`CoreError::Format`] instead of being half-loaded.

use std::io::{self, Write};
use std::path::Path;

use flate2::Crc;
use serde::{Deserialize, Serialize};

use medgen_core::error::{CoreError, Result};

/// The first eight bytes of every checkpoint file.
pub const CHECKPOINT_MAGIC: &[u8; 8] = b"MEDGENCK";
/// The container version this build writes and reads.
pub const CHECKPOINT_VERSION: u32 = 1;

const PREFIX_LEN: usize = 24;
const FORMAT: &str = "checkpoint";

/// One named blob of a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Section {
    pub name: String,
    pub bytes: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct SectionEntry {
    name: String,
    len: u64,
    crc32: u32,
}

#[derive(Serialize, Deserialize)]
struct Header {
    meta: serde_json::Value,
    sections: Vec<SectionEntry>,
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = Crc::new();
    crc.update(bytes);
    crc.sum()
}

/// Writes `meta` and `sections` in the container layout.
pub(crate) fn encode(
    meta: &serde_json::Value,
    sections: &[Section],
    out: &mut dyn Write,
) -> io::Result<()> {
    let header = Header {
        meta: meta.clone(),
        sections: sections
            .iter()
            .map(|s| SectionEntry {
                name: s.name.clone(),
                len: s.bytes.len() as u64,
                crc32: crc32(&s.bytes),
            })
            .collect(),
    };
    let header = serde_json::to_vec(&header).map_err(io::Error::other)?;
    out.write_all(CHECKPOINT_MAGIC)?;
    out.write_all(&CHECKPOINT_VERSION.to_le_bytes())?;
    out.write_all(&(header.len() as u64).to_le_bytes())?;
    out.write_all(&crc32(&header).to_le_bytes())?;
    out.write_all(&header)?;
    for section in sections {
        out.write_all(&section.bytes)?;
    }
    Ok(())
}

/// Parses and verifies a whole container; `path` only names the file in errors.
pub(crate) fn decode(bytes: &[u8], path: &Path) -> Result<(serde_json::Value, Vec<Section>)> {
    let corrupt = |reason: String| CoreError::format(FORMAT, path, reason);
    if bytes.len() < PREFIX_LEN {
        return Err(corrupt(format!(
            "{} bytes is shorter than the {PREFIX_LEN}-byte prefix (truncated?)",
            bytes.len()
        )));
    }
    if &bytes[..8] != CHECKPOINT_MAGIC {
        return Err(corrupt("not a medgen checkpoint (wrong magic bytes)".into()));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != CHECKPOINT_VERSION {
        return Err(corrupt(format!(
            "container version {version} is not supported (this build reads version \
             {CHECKPOINT_VERSION})"
        )));
    }
    let header_len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
    let header_crc = u32::from_le_bytes(bytes[20..24].try_into().expect("4 bytes"));
    let body = &bytes[PREFIX_LEN..];
    let header_bytes = take(body, 0, header_len)
        .ok_or_else(|| corrupt(format!("header of {header_len} bytes runs past the end")))?;
    if crc32(header_bytes) != header_crc {
        return Err(corrupt("header checksum mismatch".into()));
    }
    let header: Header = serde_json::from_slice(header_bytes)
        .map_err(|err| corrupt(format!("unreadable header: {err}")))?;

    let mut offset = header_len;
    let mut sections = Vec::with_capacity(header.sections.len());
    for entry in header.sections {
        let data = take(body, offset, entry.len).ok_or_else(|| {
            corrupt(format!(
                "section `{}` of {} bytes runs past the end (truncated?)",
                entry.name, entry.len
            ))
        })?;
        if crc32(data) != entry.crc32 {
            return Err(corrupt(format!("section `{}` checksum mismatch", entry.name)));
        }
        if sections.iter().any(|s: &Section| s.name == entry.name) {
            return Err(corrupt(format!("section `{}` appears twice", entry.name)));
        }
        offset += entry.len;
        sections.push(Section { name: entry.name, bytes: data.to_vec() });
    }
    if offset != body.len() as u64 {
        return Err(corrupt(format!(
            "{} unexpected bytes after the last section",
            body.len() as u64 - offset
        )));
    }
    Ok((header.meta, sections))
}

/// `body[offset .. offset + len]`, or `None` if that range is not inside `body`.
fn take(body: &[u8], offset: u64, len: u64) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    let end = usize::try_from(offset.checked_add(len)?).ok()?;
    body.get(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let sections = [
            Section { name: "a".into(), bytes: b"hello".to_vec() },
            Section { name: "b".into(), bytes: vec![0, 1, 2, 255] },
        ];
        let mut out = Vec::new();
        encode(&serde_json::json!({"step": 3}), &sections, &mut out).unwrap();
        out
    }

    fn decode_err(bytes: &[u8]) -> String {
        match decode(bytes, Path::new("x")) {
            Err(CoreError::Format { reason, .. }) => reason,
            other => panic!("expected a format error, got {other:?}"),
        }
    }

    #[test]
    fn round_trip() {
        let bytes = sample();
        assert_eq!(&bytes[..8], CHECKPOINT_MAGIC);
        let (meta, sections) = decode(&bytes, Path::new("x")).unwrap();
        assert_eq!(meta["step"], 3);
        assert_eq!(sections[0].bytes, b"hello");
        assert_eq!(sections[1].name, "b");
        assert_eq!(sections[1].bytes, [0, 1, 2, 255]);
    }

    #[test]
    fn every_kind_of_damage_is_a_format_error() {
        let good = sample();
        assert!(decode_err(&good[..good.len() - 1]).contains("truncated"));
        assert!(decode_err(&good[..10]).contains("prefix"));
        let mut padded = good.clone();
        padded.push(0);
        assert!(decode_err(&padded).contains("after the last section"));
        let mut flipped = good.clone();
        let last = flipped.len() - 2;
        flipped[last] ^= 0x10;
        assert!(decode_err(&flipped).contains("checksum"));
        let mut header_flip = good.clone();
        header_flip[PREFIX_LEN + 3] ^= 0x01;
        assert!(decode_err(&header_flip).contains("header checksum"));
        let mut magic = good.clone();
        magic[0] = b'X';
        assert!(decode_err(&magic).contains("magic"));
        let mut version = good;
        version[8] = 9;
        assert!(decode_err(&version).contains("version 9"));
    }
}
