//! Reading and writing NumPy `.npy` arrays (through `npyz`).
//!
//! An [`NpyArray`] is a shape plus typed values, always held in C (row-major) order: arrays
//! stored in Fortran order are transposed on read. Supported dtypes are the ones medical data
//! comes in: `u8, i8, i16, u16, i32, u32, i64, u64, f32, f64`, in either byte order.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use npyz::{DType, Order, TypeChar, WriterBuilder};

use medgen_core::error::{CoreError, Result};

use crate::npy_header::screen_header;

/// The element type of an [`NpyArray`], named as in NumPy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NpyDtype {
    /// `uint8` (`|u1`).
    U8,
    /// `int8` (`|i1`).
    I8,
    /// `int16` (`<i2`).
    I16,
    /// `uint16` (`<u2`).
    U16,
    /// `int32` (`<i4`).
    I32,
    /// `uint32` (`<u4`).
    U32,
    /// `int64` (`<i8`).
    I64,
    /// `uint64` (`<u8`).
    U64,
    /// `float32` (`<f4`).
    F32,
    /// `float64` (`<f8`).
    F64,
}

impl NpyDtype {
    /// The range of values the type can hold, for the narrow integer types (`u8`, `i8`, `u16`,
    /// `i16`) whose full range is a natural intensity window; `None` for the others.
    pub fn intensity_range(self) -> Option<(f32, f32)> {
        match self {
            Self::U8 => Some((0.0, u8::MAX as f32)),
            Self::I8 => Some((i8::MIN as f32, i8::MAX as f32)),
            Self::U16 => Some((0.0, u16::MAX as f32)),
            Self::I16 => Some((i16::MIN as f32, i16::MAX as f32)),
            _ => None,
        }
    }

    /// Whether the type is floating point.
    pub fn is_float(self) -> bool {
        matches!(self, Self::F32 | Self::F64)
    }

    fn from_type_char(type_char: TypeChar, size: u64) -> Option<Self> {
        Some(match (type_char, size) {
            (TypeChar::Uint, 1) => Self::U8,
            (TypeChar::Int, 1) => Self::I8,
            (TypeChar::Int, 2) => Self::I16,
            (TypeChar::Uint, 2) => Self::U16,
            (TypeChar::Int, 4) => Self::I32,
            (TypeChar::Uint, 4) => Self::U32,
            (TypeChar::Int, 8) => Self::I64,
            (TypeChar::Uint, 8) => Self::U64,
            (TypeChar::Float, 4) => Self::F32,
            (TypeChar::Float, 8) => Self::F64,
            _ => return None,
        })
    }
}

/// The typed values of an [`NpyArray`], in C order.
#[derive(Clone, Debug, PartialEq)]
pub enum NpyValues {
    /// `uint8` values.
    U8(Vec<u8>),
    /// `int8` values.
    I8(Vec<i8>),
    /// `int16` values.
    I16(Vec<i16>),
    /// `uint16` values.
    U16(Vec<u16>),
    /// `int32` values.
    I32(Vec<i32>),
    /// `uint32` values.
    U32(Vec<u32>),
    /// `int64` values.
    I64(Vec<i64>),
    /// `uint64` values.
    U64(Vec<u64>),
    /// `float32` values.
    F32(Vec<f32>),
    /// `float64` values.
    F64(Vec<f64>),
}

/// Runs `$body` with `$v` bound to the typed vector inside an [`NpyValues`].
macro_rules! with_values {
    ($values:expr, $v:ident => $body:expr) => {
        match $values {
            NpyValues::U8($v) => $body,
            NpyValues::I8($v) => $body,
            NpyValues::I16($v) => $body,
            NpyValues::U16($v) => $body,
            NpyValues::I32($v) => $body,
            NpyValues::U32($v) => $body,
            NpyValues::I64($v) => $body,
            NpyValues::U64($v) => $body,
            NpyValues::F32($v) => $body,
            NpyValues::F64($v) => $body,
        }
    };
}

impl NpyValues {
    /// The number of values.
    pub fn len(&self) -> usize {
        with_values!(self, v => v.len())
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element type.
    pub fn dtype(&self) -> NpyDtype {
        match self {
            Self::U8(_) => NpyDtype::U8,
            Self::I8(_) => NpyDtype::I8,
            Self::I16(_) => NpyDtype::I16,
            Self::U16(_) => NpyDtype::U16,
            Self::I32(_) => NpyDtype::I32,
            Self::U32(_) => NpyDtype::U32,
            Self::I64(_) => NpyDtype::I64,
            Self::U64(_) => NpyDtype::U64,
            Self::F32(_) => NpyDtype::F32,
            Self::F64(_) => NpyDtype::F64,
        }
    }
}

/// An n-dimensional array read from or written to `.npy`: `shape` and C-order `values`
/// (`values.len() == shape.iter().product()`; a 0-d scalar has `shape == []` and one value).
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    shape: Vec<usize>,
    values: NpyValues,
}

impl NpyArray {
    /// Builds an array; fails with [`CoreError::ShapeMismatch`] if the number of values is not
    /// the product of `shape`.
    pub fn new(shape: Vec<usize>, values: NpyValues) -> Result<Self> {
        let expected = element_count(&shape).ok_or_else(|| {
            CoreError::shape("npy array", "a shape whose size fits usize", &shape)
        })?;
        if expected != values.len() {
            return Err(CoreError::shape(
                "npy values",
                format!("{expected} values for shape {shape:?}"),
                &[values.len()],
            ));
        }
        Ok(Self { shape, values })
    }

    /// The shape, outermost axis first.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The typed values in C order.
    pub fn values(&self) -> &NpyValues {
        &self.values
    }

    /// The element type.
    pub fn dtype(&self) -> NpyDtype {
        self.values.dtype()
    }

    /// The values converted to `f32` (integers above 2^24 lose precision).
    ///
    /// Fails with [`CoreError::NonFinite`] naming `what` if a floating-point value is NaN/Inf.
    #[allow(clippy::unnecessary_cast)] // the macro's `as f32` is the identity for the f32 arm
    pub fn to_f32(&self, what: &str) -> Result<Vec<f32>> {
        let values: Vec<f32> =
            with_values!(&self.values, v => v.iter().map(|&x| x as f32).collect());
        medgen_core::check::ensure_finite_values(&values, what)?;
        Ok(values)
    }

    /// The values converted to `i64`, for class labels.
    ///
    /// Fails with [`CoreError::NonFinite`] for NaN/Inf and [`CoreError::InvalidConfig`] naming
    /// `what` for non-integral floats or `u64` values above `i64::MAX`.
    pub fn to_i64(&self, what: &str) -> Result<Vec<i64>> {
        let not_integral = || CoreError::config(what, "labels must be integers");
        match &self.values {
            NpyValues::F32(v) => {
                medgen_core::check::ensure_finite_values(v, what)?;
                v.iter()
                    .map(|&x| (x.fract() == 0.0).then_some(x as i64).ok_or_else(not_integral))
                    .collect()
            }
            NpyValues::F64(v) => {
                if v.iter().any(|x| !x.is_finite()) {
                    return Err(CoreError::NonFinite { what: what.into() });
                }
                v.iter()
                    .map(|&x| (x.fract() == 0.0).then_some(x as i64).ok_or_else(not_integral))
                    .collect()
            }
            NpyValues::U64(v) => {
                v.iter().map(|&x| i64::try_from(x).map_err(|_| not_integral())).collect()
            }
            NpyValues::U8(v) => Ok(v.iter().map(|&x| i64::from(x)).collect()),
            NpyValues::I8(v) => Ok(v.iter().map(|&x| i64::from(x)).collect()),
            NpyValues::I16(v) => Ok(v.iter().map(|&x| i64::from(x)).collect()),
            NpyValues::U16(v) => Ok(v.iter().map(|&x| i64::from(x)).collect()),
            NpyValues::I32(v) => Ok(v.iter().map(|&x| i64::from(x)).collect()),
            NpyValues::U32(v) => Ok(v.iter().map(|&x| i64::from(x)).collect()),
            NpyValues::I64(v) => Ok(v.clone()),
        }
    }
}

/// `prod(shape)`, or `None` on overflow (the empty product of a scalar is 1).
pub(crate) fn element_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// Reads a `.npy` file.
///
/// Fails with [`CoreError::Io`] if the file cannot be read and [`CoreError::Format`] (naming
/// the file) for a corrupt or truncated header or data, or an unsupported dtype.
pub fn read_npy(path: impl AsRef<Path>) -> Result<NpyArray> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| CoreError::io(path, e))?;
    read_npy_from(&bytes[..], path)
}

/// Reads a `.npy` array from `reader`; `origin` names the source in errors.
///
/// The header is screened before `npyz` parses it: headers over 64 KiB or nesting
/// brackets more than 3 deep are refused as [`CoreError::Format`].
pub fn read_npy_from(mut reader: impl Read, origin: &Path) -> Result<NpyArray> {
    let bad = |reason: String| CoreError::format("npy", origin, reason);
    let header = screen_header(&mut reader).map_err(|e| bad(format!("bad header: {e}")))?;
    let npy = npyz::NpyFile::new(std::io::Cursor::new(header).chain(reader))
        .map_err(|e| bad(format!("bad header: {e}")))?;
    let dtype = match npy.dtype() {
        DType::Plain(ts) => NpyDtype::from_type_char(ts.type_char(), ts.size_field())
            .ok_or_else(|| bad(format!("unsupported dtype {ts}")))?,
        other => return Err(bad(format!("unsupported dtype {}", other.descr()))),
    };
    let shape: Vec<usize> = npy
        .shape()
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| bad("dimension does not fit usize".into()))?;
    let order = npy.order();
    let truncated = |e: std::io::Error| bad(format!("cannot read data: {e}"));
    let values = match dtype {
        NpyDtype::U8 => NpyValues::U8(npy.into_vec().map_err(truncated)?),
        NpyDtype::I8 => NpyValues::I8(npy.into_vec().map_err(truncated)?),
        NpyDtype::I16 => NpyValues::I16(npy.into_vec().map_err(truncated)?),
        NpyDtype::U16 => NpyValues::U16(npy.into_vec().map_err(truncated)?),
        NpyDtype::I32 => NpyValues::I32(npy.into_vec().map_err(truncated)?),
        NpyDtype::U32 => NpyValues::U32(npy.into_vec().map_err(truncated)?),
        NpyDtype::I64 => NpyValues::I64(npy.into_vec().map_err(truncated)?),
        NpyDtype::U64 => NpyValues::U64(npy.into_vec().map_err(truncated)?),
        NpyDtype::F32 => NpyValues::F32(npy.into_vec().map_err(truncated)?),
        NpyDtype::F64 => NpyValues::F64(npy.into_vec().map_err(truncated)?),
    };
    let values = match order {
        Order::C => values,
        Order::Fortran => with_values!(values, v => fortran_to_c_values(v, &shape)),
    };
    NpyArray::new(shape, values).map_err(|e| bad(e.to_string()))
}

/// Rewraps a transposed vector into the same [`NpyValues`] variant.
trait IntoNpyValues: Copy {
    fn wrap(values: Vec<Self>) -> NpyValues;
}

macro_rules! impl_into_values {
    ($($t:ty => $variant:ident),*) => {
        $(impl IntoNpyValues for $t {
            fn wrap(values: Vec<Self>) -> NpyValues {
                NpyValues::$variant(values)
            }
        })*
    };
}

impl_into_values!(u8 => U8, i8 => I8, i16 => I16, u16 => U16, i32 => I32, u32 => U32,
    i64 => I64, u64 => U64, f32 => F32, f64 => F64);

fn fortran_to_c_values<T: IntoNpyValues>(values: Vec<T>, shape: &[usize]) -> NpyValues {
    T::wrap(fortran_to_c(&values, shape))
}

/// Reorders column-major (Fortran) `values` of `shape` into row-major (C) order: the element at
/// multi-index `(i_0, .., i_{n-1})` sits at `sum_k i_k prod_{m<k} s_m` in Fortran order and at
/// `sum_k i_k prod_{m>k} s_m` in C order.
pub(crate) fn fortran_to_c<T: Copy>(values: &[T], shape: &[usize]) -> Vec<T> {
    if shape.len() < 2 || values.is_empty() {
        return values.to_vec();
    }
    let fortran_strides: Vec<usize> = shape
        .iter()
        .scan(1usize, |acc, &s| {
            let stride = *acc;
            *acc *= s;
            Some(stride)
        })
        .collect();
    let mut index = vec![0usize; shape.len()];
    let mut out = Vec::with_capacity(values.len());
    for _ in 0..values.len() {
        let src: usize = index.iter().zip(&fortran_strides).map(|(i, s)| i * s).sum();
        out.push(values[src]);
        // Advance the C-order odometer: last axis fastest.
        for k in (0..shape.len()).rev() {
            index[k] += 1;
            if index[k] < shape[k] {
                break;
            }
            index[k] = 0;
        }
    }
    out
}

/// Writes `array` as a `.npy` file (C order, little-endian), replacing any existing file.
pub fn write_npy(path: impl AsRef<Path>, array: &NpyArray) -> Result<()> {
    let path = path.as_ref();
    let file = std::fs::File::create(path).map_err(|e| CoreError::io(path, e))?;
    let mut writer = std::io::BufWriter::new(file);
    write_npy_to(&mut writer, array).map_err(|e| CoreError::io(path, e))?;
    writer.flush().map_err(|e| CoreError::io(path, e))
}

/// Writes `array` in `.npy` format to `writer` (C order, little-endian).
pub fn write_npy_to(writer: impl Write, array: &NpyArray) -> std::io::Result<()> {
    let shape: Vec<u64> = array.shape.iter().map(|&d| d as u64).collect();
    with_values!(&array.values, v => write_typed(writer, &shape, v))
}

fn write_typed<T, W>(writer: W, shape: &[u64], values: &[T]) -> std::io::Result<()>
where
    T: npyz::AutoSerialize + Copy,
    W: Write,
{
    let mut out =
        npyz::WriteOptions::<T>::new().default_dtype().shape(shape).writer(writer).begin_nd()?;
    out.extend(values.iter().copied())?;
    out.finish()
}

/// A path naming member `key` of the archive at `path`, for error messages (`a.npz[key]`).
pub(crate) fn member_origin(path: &Path, key: &str) -> PathBuf {
    PathBuf::from(format!("{}[{key}]", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_of(array: &NpyArray) -> Vec<u8> {
        let mut out = Vec::new();
        write_npy_to(&mut out, array).unwrap();
        out
    }

    #[test]
    fn every_dtype_round_trips() {
        let shape = vec![2, 3];
        let cases = vec![
            NpyValues::U8(vec![0, 1, 2, 253, 254, 255]),
            NpyValues::I8(vec![-128, -1, 0, 1, 2, 127]),
            NpyValues::I16(vec![-32768, -5, 0, 5, 1000, 32767]),
            NpyValues::U16(vec![0, 1, 2, 3, 40000, 65535]),
            NpyValues::I32(vec![i32::MIN, -1, 0, 1, 7, i32::MAX]),
            NpyValues::U32(vec![0, 1, 2, 3, 4, u32::MAX]),
            NpyValues::I64(vec![i64::MIN, -1, 0, 1, 2, i64::MAX]),
            NpyValues::U64(vec![0, 1, 2, 3, 4, u64::MAX]),
            NpyValues::F32(vec![-1.5, 0.0, 0.25, 1e-30, 3.0e30, 7.0]),
            NpyValues::F64(vec![-1.5, 0.0, 0.25, 1e-300, 3.0e300, 7.0]),
        ];
        for values in cases {
            let array = NpyArray::new(shape.clone(), values).unwrap();
            let back = read_npy_from(&bytes_of(&array)[..], Path::new("mem")).unwrap();
            assert_eq!(back, array);
        }
    }

    #[test]
    fn file_round_trip_and_conversions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npy");
        let array = NpyArray::new(vec![4], NpyValues::I16(vec![-3, 0, 9, 200])).unwrap();
        write_npy(&path, &array).unwrap();
        let back = read_npy(&path).unwrap();
        assert_eq!(back.to_f32("a").unwrap(), vec![-3.0, 0.0, 9.0, 200.0]);
        assert_eq!(back.to_i64("a").unwrap(), vec![-3, 0, 9, 200]);
    }

    #[test]
    fn fortran_order_is_transposed_to_c_order() {
        // The C-order 2x3 array [[0,1,2],[3,4,5]] is stored column by column in Fortran order.
        let fortran = [0i32, 3, 1, 4, 2, 5];
        let mut bytes = Vec::new();
        {
            let mut w = npyz::WriteOptions::<i32>::new()
                .default_dtype()
                .order(Order::Fortran)
                .shape(&[2, 3])
                .writer(&mut bytes)
                .begin_nd()
                .unwrap();
            w.extend(fortran).unwrap();
            w.finish().unwrap();
        }
        let array = read_npy_from(&bytes[..], Path::new("f")).unwrap();
        assert_eq!(array.shape(), &[2, 3]);
        assert_eq!(array.values(), &NpyValues::I32(vec![0, 1, 2, 3, 4, 5]));
        // 3D: element (i, j, k) of a 2x2x3 array sits at i + 2 j + 4 k in Fortran order.
        let shape = [2usize, 2, 3];
        let f: Vec<usize> = (0..12).collect();
        let c = fortran_to_c(&f, &shape);
        for i in 0..2 {
            for j in 0..2 {
                for k in 0..3 {
                    assert_eq!(c[(i * 2 + j) * 3 + k], i + 2 * j + 4 * k);
                }
            }
        }
    }

    #[test]
    fn big_endian_data_is_read() {
        let mut bytes = Vec::new();
        {
            let mut w = npyz::WriteOptions::<u16>::new()
                .dtype(DType::parse("'>u2'").unwrap())
                .shape(&[3])
                .writer(&mut bytes)
                .begin_nd()
                .unwrap();
            w.extend([1u16, 256, 65535]).unwrap();
            w.finish().unwrap();
        }
        let array = read_npy_from(&bytes[..], Path::new("be")).unwrap();
        assert_eq!(array.values(), &NpyValues::U16(vec![1, 256, 65535]));
    }

    #[test]
    fn corrupt_input_is_a_format_error() {
        let array = NpyArray::new(vec![8], NpyValues::F64(vec![1.0; 8])).unwrap();
        let bytes = bytes_of(&array);
        for cut in [5, 40, bytes.len() - 3] {
            let err = read_npy_from(&bytes[..cut], Path::new("cut.npy")).unwrap_err();
            assert!(matches!(err, CoreError::Format { .. }), "cut {cut}: {err}");
            assert!(err.to_string().contains("cut.npy"));
        }
        let garbage = b"this is not a numpy file at all, just text".to_vec();
        assert!(matches!(
            read_npy_from(&garbage[..], Path::new("g")),
            Err(CoreError::Format { .. })
        ));
        let missing = read_npy("/definitely/not/here.npy").unwrap_err();
        assert!(matches!(missing, CoreError::Io { .. }));
    }

    #[test]
    fn nan_and_bad_labels_are_typed_errors() {
        let array = NpyArray::new(vec![2], NpyValues::F32(vec![1.0, f32::NAN])).unwrap();
        assert!(matches!(array.to_f32("train_images"), Err(CoreError::NonFinite { .. })));
        let frac = NpyArray::new(vec![2], NpyValues::F64(vec![1.0, 0.5])).unwrap();
        assert!(frac.to_i64("labels").is_err());
        assert!(NpyArray::new(vec![2, 2], NpyValues::U8(vec![1, 2, 3])).is_err());
    }
}
