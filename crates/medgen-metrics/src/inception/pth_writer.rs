//! A minimal writer of PyTorch's zip checkpoint format (tests only), so that the loading of
//! `.pth` state dicts is tested without PyTorch or network access.
//!
//! The archive holds `archive/data.pkl` (a protocol-2 pickle of an `OrderedDict` mapping each
//! key to `torch._utils._rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict())`,
//! the storage a persistent id `('storage', torch.<Type>Storage, '<i>', 'cpu', numel)`),
//! `archive/data/<i>` (the raw little-endian values), `archive/byteorder` and
//! `archive/version`, as `torch.save` writes them.

use std::io::Write;
use std::path::Path;

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// One entry of a state dict: key, shape, PyTorch storage type (`"FloatStorage"`,
/// `"LongStorage"`), raw little-endian bytes.
pub(crate) struct PthTensor {
    pub key: String,
    pub shape: Vec<usize>,
    pub storage: &'static str,
    pub bytes: Vec<u8>,
}

fn global(out: &mut Vec<u8>, module: &str, name: &str) {
    out.push(b'c');
    out.extend_from_slice(format!("{module}\n{name}\n").as_bytes());
}

fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'X');
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn int(out: &mut Vec<u8>, v: usize) {
    out.push(b'J');
    out.extend_from_slice(&(v as i32).to_le_bytes());
}

fn int_tuple(out: &mut Vec<u8>, values: &[usize]) {
    out.push(b'(');
    values.iter().for_each(|&v| int(out, v));
    out.push(b't');
}

fn empty_ordered_dict(out: &mut Vec<u8>) {
    global(out, "collections", "OrderedDict");
    out.extend_from_slice(b")R");
}

/// The pickle of the state dict.
fn pickle(tensors: &[PthTensor]) -> Vec<u8> {
    let mut out = vec![0x80, 2];
    empty_ordered_dict(&mut out);
    out.push(b'(');
    for (i, t) in tensors.iter().enumerate() {
        string(&mut out, &t.key);
        global(&mut out, "torch._utils", "_rebuild_tensor_v2");
        out.push(b'(');
        out.push(b'(');
        string(&mut out, "storage");
        global(&mut out, "torch", t.storage);
        string(&mut out, &i.to_string());
        string(&mut out, "cpu");
        int(&mut out, t.shape.iter().product());
        out.extend_from_slice(b"tQ");
        int(&mut out, 0);
        int_tuple(&mut out, &t.shape);
        let strides: Vec<usize> =
            (0..t.shape.len()).map(|k| t.shape[k + 1..].iter().product()).collect();
        int_tuple(&mut out, &strides);
        out.push(0x89);
        empty_ordered_dict(&mut out);
        out.extend_from_slice(b"tR");
    }
    out.extend_from_slice(b"u.");
    out
}

/// Writes `tensors` as a PyTorch state-dict checkpoint at `path`.
pub(crate) fn write_pth(path: &Path, tensors: &[PthTensor]) -> std::io::Result<()> {
    let mut zip = ZipWriter::new(std::fs::File::create(path)?);
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    let mut entry = |name: &str, bytes: &[u8]| -> std::io::Result<()> {
        zip.start_file(format!("archive/{name}"), options)?;
        zip.write_all(bytes)
    };
    entry("data.pkl", &pickle(tensors))?;
    entry("byteorder", b"little")?;
    for (i, t) in tensors.iter().enumerate() {
        entry(&format!("data/{i}"), &t.bytes)?;
    }
    entry("version", b"3\n")?;
    zip.finish()?;
    Ok(())
}
