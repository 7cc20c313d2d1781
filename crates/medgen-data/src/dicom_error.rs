//! The typed errors of the DICOM readers ([`crate::dicom`], [`crate::dicom_series`]).
//!
//! Every variant names the file (or folder) and the problem, so that a user can tell a damaged
//! file from one that is valid but uses an encoding medgen does not decode. A [`DicomError`]
//! converts into [`CoreError`] (the crate's error type) with `?`: I/O failures stay
//! [`CoreError::Io`], everything else becomes [`CoreError::Format`] with format `"DICOM"` and
//! this error's message as the reason.

use std::path::PathBuf;

use medgen_core::error::CoreError;

/// Everything that can go wrong while reading a DICOM file or series.
#[derive(Debug, thiserror::Error)]
pub enum DicomError {
    /// The file or folder could not be read at the operating-system level.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The data ended before the file's own lengths say it should (a cut or partial file).
    #[error("truncated DICOM file {path}: {reason}")]
    Truncated {
        /// The file concerned (the `origin` given to [`crate::decode_dicom`] for bytes).
        path: PathBuf,
        /// What was cut short.
        reason: String,
    },
    /// The bytes are not a well-formed DICOM file (no `DICM` magic, a broken file meta group,
    /// an undecodable element or pixel stream).
    #[error("corrupt DICOM file {path}: {reason}")]
    Corrupt {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The file is encoded with a transfer syntax whose data set or pixel data medgen does not
    /// decode (for example JPEG-LS or JPEG 2000; see [`crate::dicom`] for the supported list).
    #[error("DICOM file {path} uses the unsupported transfer syntax {uid} ({name})")]
    UnsupportedTransferSyntax {
        /// The file concerned.
        path: PathBuf,
        /// The transfer syntax UID, e.g. `1.2.840.10008.1.2.4.80`.
        uid: String,
        /// Its name, or `"unknown"` for a UID that no registry knows.
        name: String,
    },
    /// A valid file whose image medgen does not read (colour, 1-bit or 64-bit pixels).
    #[error("DICOM file {path} is not supported: {reason}")]
    Unsupported {
        /// The file concerned.
        path: PathBuf,
        /// What it holds that is not supported.
        reason: String,
    },
    /// An attribute needed to read the image is absent.
    #[error("DICOM file {path} has no {tag} attribute")]
    MissingTag {
        /// The file concerned.
        path: PathBuf,
        /// The attribute's keyword and tag, e.g. `Rows (0028,0010)`.
        tag: &'static str,
    },
    /// An attribute is present but its value cannot be used.
    #[error("DICOM file {path} has an invalid {tag}: {reason}")]
    InvalidTag {
        /// The file concerned.
        path: PathBuf,
        /// The attribute's keyword and tag, e.g. `PixelSpacing (0028,0030)`.
        tag: &'static str,
        /// What is wrong with the value.
        reason: String,
    },
    /// The files of a series folder do not make one volume.
    #[error("DICOM series {dir} is inconsistent: {reason}")]
    InconsistentSeries {
        /// The series folder.
        dir: PathBuf,
        /// What differs between its files (sizes, series UIDs, orientations, positions).
        reason: String,
    },
    /// A series folder holds no files.
    #[error("DICOM series folder {dir} holds no files")]
    EmptySeries {
        /// The series folder.
        dir: PathBuf,
    },
}

impl DicomError {
    /// The file or folder the error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Self::Io { path, .. }
            | Self::Truncated { path, .. }
            | Self::Corrupt { path, .. }
            | Self::UnsupportedTransferSyntax { path, .. }
            | Self::Unsupported { path, .. }
            | Self::MissingTag { path, .. }
            | Self::InvalidTag { path, .. } => path,
            Self::InconsistentSeries { dir, .. } | Self::EmptySeries { dir } => dir,
        }
    }
}

impl From<DicomError> for CoreError {
    fn from(err: DicomError) -> Self {
        match err {
            DicomError::Io { path, source } => CoreError::Io { path, source },
            other => {
                let reason = other.to_string();
                CoreError::Format { format: "DICOM", path: other.path().to_path_buf(), reason }
            }
        }
    }
}
