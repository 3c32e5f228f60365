//! The one napi-rs cdylib: thin wrappers that convert types and map core errors to coded JS
//! errors. No logic lives here; it belongs in `dispatch-core`.
//!
//! - [`index`]: the live driver index (`DriverIndex`), typed-array batch upserts and queries.
//! - [`matching`]: the assignment solver (`Matcher`), with an async variant on the libuv pool.
//! - [`eta`]: the travel-time model (`EtaModel`).
//! - [`pricing`]: fares (`TariffTable`) and surge (`SurgeState`).
//!
//! Numbers that the core wants as integers (handles, classes, hours, resolutions, money) come in
//! as `f64` and are checked here, because napi's own integer conversions truncate fractions and
//! wrap negatives and NaN silently.

use dispatch_core::error::CoreError;
use napi::bindgen_prelude::*;
use napi_derive::napi;

pub mod eta;
pub mod index;
pub mod matching;
pub mod pricing;

/// A JS error `code` (`err.code === "INVALID_COORDINATE"`): napi-rs uses the status string
/// of an `Error<S>` as the thrown error's `code` property. Entry points return
/// `Result<T, Code>` spelled out: the macro recognises `Result` by name, not through aliases.
pub struct Code(&'static str);

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        self.0
    }
}

pub(crate) fn coded(e: CoreError) -> Error<Code> {
    Error::new(Code(e.code.as_str()), e.message)
}

/// A failure of napi itself (creating a value), not of the arguments.
pub(crate) fn internal(e: napi::Error) -> Error<Code> {
    Error::new(Code("INTERNAL"), e.reason.clone())
}

pub(crate) fn invalid_argument(message: String) -> Error<Code> {
    Error::new(Code("INVALID_ARGUMENT"), message)
}

pub(crate) fn length_mismatch(message: String) -> Error<Code> {
    Error::new(Code("LENGTH_MISMATCH"), message)
}

/// A whole number in `[0, max]` given as a JS number.
pub(crate) fn whole(name: &str, v: f64, max: u32) -> std::result::Result<u32, Error<Code>> {
    if v.is_finite() && v.fract() == 0.0 && (0.0..=f64::from(max)).contains(&v) {
        Ok(v as u32)
    } else {
        Err(invalid_argument(format!(
            "{name} is {v}, expected a whole number in 0..={max}"
        )))
    }
}

pub(crate) fn byte(name: &str, v: f64) -> std::result::Result<u8, Error<Code>> {
    whole(name, v, u32::from(u8::MAX)).map(|b| b as u8)
}

pub(crate) fn opt_byte(name: &str, v: Option<f64>) -> std::result::Result<Option<u8>, Error<Code>> {
    v.map(|v| byte(name, v)).transpose()
}

/// An H3 resolution: INVALID_RESOLUTION, like the core, for anything but 0..=15.
pub(crate) fn resolution(v: f64) -> std::result::Result<u8, Error<Code>> {
    if v.is_finite() && v.fract() == 0.0 && (0.0..=15.0).contains(&v) {
        Ok(v as u8)
    } else {
        Err(Error::new(
            Code("INVALID_RESOLUTION"),
            format!("H3 resolution {v} is not a whole number in 0..=15"),
        ))
    }
}

/// Converts interleaved `[lat, lng, lat, lng, ...]` to H3 cells at `resolution` in one call.
#[napi(js_name = "cellsOf")]
pub fn cells_of(env: Env, lat_lngs: &[f64], resolution: u32) -> Result<BigUint64ArraySlice<'static>, Code> {
    let res = u8::try_from(resolution).unwrap_or(u8::MAX);
    let mut out = vec![0u64; lat_lngs.len() / 2];
    dispatch_core::geo::cells_of(lat_lngs, res, &mut out).map_err(coded)?;
    // Copied into a JS-owned buffer: for the small outputs these calls have, that is far
    // cheaper than handing V8 an external buffer with a finalizer.
    BigUint64ArraySlice::copy_from(&env, out).map_err(internal)
}
