//! Errors as data with stable codes. The binding maps `code()` to the JS error code; the
//! gateway maps those codes to HTTP statuses and close codes. Expected outcomes (no driver in
//! range) are not errors and never come through here.

use std::fmt;

/// Stable, machine-readable error codes shared by every native entry point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// A latitude/longitude is NaN, infinite or outside [-90, 90] x [-180, 180].
    InvalidCoordinate,
    /// H3 resolution outside 0..=15.
    InvalidResolution,
    /// Parallel arrays of one call have lengths that do not fit together.
    LengthMismatch,
    /// A driver handle that the index never issued or has removed.
    UnknownHandle,
    /// Any other argument outside its documented domain.
    InvalidArgument,
    /// A vehicle class with no tariff configured.
    UnknownVehicleClass,
}

impl ErrorCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidCoordinate => "INVALID_COORDINATE",
            ErrorCode::InvalidResolution => "INVALID_RESOLUTION",
            ErrorCode::LengthMismatch => "LENGTH_MISMATCH",
            ErrorCode::UnknownHandle => "UNKNOWN_HANDLE",
            ErrorCode::InvalidArgument => "INVALID_ARGUMENT",
            ErrorCode::UnknownVehicleClass => "UNKNOWN_VEHICLE_CLASS",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreError {
    pub code: ErrorCode,
    pub message: String,
}

impl CoreError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for CoreError {}

pub type Result<T> = std::result::Result<T, CoreError>;
