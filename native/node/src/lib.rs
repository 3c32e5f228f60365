//! The one napi-rs cdylib: thin wrappers that convert types and map core errors to coded JS
//! errors. No logic lives here; it belongs in `dispatch-core`.

use dispatch_core::error::CoreError;
use napi::bindgen_prelude::*;
use napi_derive::napi;

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

/// Converts interleaved `[lat, lng, lat, lng, ...]` to H3 cells at `resolution` in one call.
#[napi(js_name = "cellsOf")]
pub fn cells_of(lat_lngs: Float64Array, resolution: u32) -> Result<BigUint64Array, Code> {
    let res = u8::try_from(resolution).unwrap_or(u8::MAX);
    let mut out = vec![0u64; lat_lngs.len() / 2];
    dispatch_core::geo::cells_of(&lat_lngs, res, &mut out).map_err(coded)?;
    Ok(BigUint64Array::new(out))
}
