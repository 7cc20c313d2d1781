//! Reading and writing NumPy `.npz` archives: a zip file with one `.npy` member per array.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek, Write};
use std::path::{Path, PathBuf};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use super::npy::{NpyArray, member_origin, read_npy_from, write_npy_to};
use medgen_core::error::{CoreError, Result};

/// How the members of a written `.npz` are stored (`numpy.savez` vs `numpy.savez_compressed`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NpzCompression {
    /// No compression, as `numpy.savez`.
    #[default]
    Stored,
    /// Deflate, as `numpy.savez_compressed`.
    Deflated,
}

/// A seekable byte source: a file or bytes in memory.
trait ReadSeek: Read + Seek {}
impl<T: Read + Seek> ReadSeek for T {}

/// An open `.npz` archive whose arrays are read on demand by key.
pub struct NpzReader {
    path: PathBuf,
    archive: ZipArchive<Box<dyn ReadSeek>>,
}

impl std::fmt::Debug for NpzReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NpzReader").field("path", &self.path).field("keys", &self.keys()).finish()
    }
}

impl NpzReader {
    /// Opens the archive at `path` and reads its directory.
    ///
    /// Fails with [`CoreError::Io`] if the file cannot be opened and [`CoreError::Format`] if
    /// it is not a valid zip archive (e.g. truncated or garbage bytes).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path).map_err(|e| CoreError::io(&path, e))?;
        Self::from_source(Box::new(BufReader::new(file)), path)
    }

    /// Opens an archive held in memory; `origin` names it in errors.
    ///
    /// Fails with [`CoreError::Format`] if `bytes` are not a valid zip archive.
    pub fn from_bytes(bytes: Vec<u8>, origin: impl Into<PathBuf>) -> Result<Self> {
        Self::from_source(Box::new(Cursor::new(bytes)), origin.into())
    }

    fn from_source(source: Box<dyn ReadSeek>, path: PathBuf) -> Result<Self> {
        let archive = ZipArchive::new(source)
            .map_err(|e| CoreError::format("npz", &path, format!("not a zip archive: {e}")))?;
        Ok(Self { path, archive })
    }

    /// The array names in the archive (member names without the `.npy` suffix), sorted.
    pub fn keys(&self) -> Vec<String> {
        self.archive
            .file_names()
            .map(|name| name.strip_suffix(".npy").unwrap_or(name).to_string())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    /// Whether the archive holds an array named `key`.
    pub fn contains(&self, key: &str) -> bool {
        self.archive.index_for_name(&format!("{key}.npy")).is_some()
    }

    /// Reads the array named `key`.
    ///
    /// Fails with [`CoreError::Format`] naming the file and the key if the key is missing (the
    /// message lists the keys present) or the member is corrupt or truncated.
    pub fn read(&mut self, key: &str) -> Result<NpyArray> {
        let origin = member_origin(&self.path, key);
        if !self.contains(key) {
            let keys = self.keys().join(", ");
            return Err(CoreError::format(
                "npz",
                &self.path,
                format!("missing array `{key}` (present: {keys})"),
            ));
        }
        let mut member = self
            .archive
            .by_name(&format!("{key}.npy"))
            .map_err(|e| CoreError::format("npz", &origin, e))?;
        // The size in the zip header is only a claim: reserve at most 64 MiB up front and let
        // the buffer grow with the bytes that really inflate.
        let claimed = usize::try_from(member.size()).unwrap_or(usize::MAX);
        let mut bytes = Vec::with_capacity(claimed.min(MAX_RESERVED_BYTES));
        member
            .read_to_end(&mut bytes)
            .map_err(|e| CoreError::format("npz", &origin, format!("cannot read member: {e}")))?;
        read_npy_from(&bytes[..], &origin)
    }
}

/// The most bytes reserved for a member before it is read (its header may claim any size).
const MAX_RESERVED_BYTES: usize = 64 << 20;

/// Reads every array of the `.npz` at `path`, sorted by key.
pub fn read_npz(path: impl AsRef<Path>) -> Result<Vec<(String, NpyArray)>> {
    read_all(NpzReader::open(path)?)
}

/// Reads every array of an `.npz` archive held in memory, sorted by key; `origin` names it
/// in errors.
///
/// Fails with [`CoreError::Format`] for bytes that are not a zip archive or a corrupt member.
pub fn read_npz_bytes(bytes: Vec<u8>, origin: &Path) -> Result<Vec<(String, NpyArray)>> {
    read_all(NpzReader::from_bytes(bytes, origin)?)
}

fn read_all(mut reader: NpzReader) -> Result<Vec<(String, NpyArray)>> {
    reader.keys().into_iter().map(|key| reader.read(&key).map(|array| (key, array))).collect()
}

/// Writes `arrays` as a `.npz` archive at `path` (member `KEY.npy` per array), replacing any
/// existing file; `numpy.load` reads it back.
///
/// Fails with [`CoreError::InvalidConfig`] for an empty or duplicate key and [`CoreError::Io`]
/// if the file cannot be written.
pub fn write_npz(
    path: impl AsRef<Path>,
    arrays: &[(&str, &NpyArray)],
    compression: NpzCompression,
) -> Result<()> {
    let path = path.as_ref();
    let mut seen = BTreeSet::new();
    for (key, _) in arrays {
        if key.is_empty() || !seen.insert(*key) {
            return Err(CoreError::config(
                "npz key",
                format!("keys must be non-empty and unique, got `{key}` twice or empty"),
            ));
        }
    }
    let file = File::create(path).map_err(|e| CoreError::io(path, e))?;
    write_npz_to(std::io::BufWriter::new(file), arrays, compression)
        .map_err(|e| CoreError::io(path, e))
}

fn write_npz_to<W: Write + Seek>(
    writer: W,
    arrays: &[(&str, &NpyArray)],
    compression: NpzCompression,
) -> std::io::Result<()> {
    let method = match compression {
        NpzCompression::Stored => CompressionMethod::Stored,
        NpzCompression::Deflated => CompressionMethod::Deflated,
    };
    let options = SimpleFileOptions::default().compression_method(method).large_file(true);
    let mut zip = ZipWriter::new(writer);
    for (key, array) in arrays {
        zip.start_file(format!("{key}.npy"), options)?;
        write_npy_to(&mut zip, array)?;
    }
    zip.finish()?.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::npy::NpyValues;

    fn sample_arrays() -> Vec<(String, NpyArray)> {
        vec![
            (
                "images".into(),
                NpyArray::new(vec![2, 2, 3], NpyValues::U8((0..12).collect())).unwrap(),
            ),
            ("labels".into(), NpyArray::new(vec![2, 1], NpyValues::I64(vec![3, -1])).unwrap()),
            (
                "weights".into(),
                NpyArray::new(vec![3], NpyValues::F64(vec![0.5, -2.0, 1e-9])).unwrap(),
            ),
        ]
    }

    fn write(path: &Path, arrays: &[(String, NpyArray)], compression: NpzCompression) {
        let refs: Vec<(&str, &NpyArray)> = arrays.iter().map(|(k, a)| (k.as_str(), a)).collect();
        write_npz(path, &refs, compression).unwrap();
    }

    #[test]
    fn round_trip_stored_and_deflated() {
        let dir = tempfile::tempdir().unwrap();
        let arrays = sample_arrays();
        for compression in [NpzCompression::Stored, NpzCompression::Deflated] {
            let path = dir.path().join(format!("{compression:?}.npz"));
            write(&path, &arrays, compression);
            assert_eq!(read_npz(&path).unwrap(), arrays);
        }
    }

    #[test]
    fn missing_key_names_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npz");
        write(&path, &sample_arrays(), NpzCompression::Stored);
        let mut reader = NpzReader::open(&path).unwrap();
        assert_eq!(reader.keys(), vec!["images", "labels", "weights"]);
        let err = reader.read("train_images").unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, CoreError::Format { .. }));
        assert!(text.contains("train_images") && text.contains("a.npz"), "{text}");
    }

    #[test]
    fn truncated_and_garbage_archives_are_format_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npz");
        write(&path, &sample_arrays(), NpzCompression::Deflated);
        let bytes = std::fs::read(&path).unwrap();
        let cut = dir.path().join("cut.npz");
        // Cutting off the end removes the zip directory.
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        assert!(matches!(NpzReader::open(&cut), Err(CoreError::Format { .. })));
        let garbage = dir.path().join("garbage.npz");
        std::fs::write(&garbage, b"PK\x03\x04 definitely not a zip archive").unwrap();
        assert!(matches!(read_npz(&garbage), Err(CoreError::Format { .. })));
        // A member whose npy header is corrupt.
        let bad_member = dir.path().join("bad_member.npz");
        {
            let file = File::create(&bad_member).unwrap();
            let mut zip = ZipWriter::new(file);
            zip.start_file("x.npy", SimpleFileOptions::default()).unwrap();
            zip.write_all(b"\x93NUMPY\x01\x00garbage").unwrap();
            zip.finish().unwrap();
        }
        let err = read_npz(&bad_member).unwrap_err();
        assert!(matches!(err, CoreError::Format { .. }));
        assert!(err.to_string().contains("[x]"), "{err}");
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let arrays = sample_arrays();
        let a = &arrays[0].1;
        let err =
            write_npz(dir.path().join("d.npz"), &[("k", a), ("k", a)], NpzCompression::Stored);
        assert!(matches!(err, Err(CoreError::InvalidConfig { .. })));
    }
}
