//! Validated coordinates and H3 cell conversion.

use crate::error::{CoreError, ErrorCode, Result};
use h3o::{LatLng, Resolution};

/// Checks a coordinate once at the edge; everything behind this trusts it.
pub fn lat_lng(lat: f64, lng: f64) -> Result<LatLng> {
    if !lat.is_finite()
        || !lng.is_finite()
        || !(-90.0..=90.0).contains(&lat)
        || !(-180.0..=180.0).contains(&lng)
    {
        return Err(CoreError::new(
            ErrorCode::InvalidCoordinate,
            format!("coordinate ({lat}, {lng}) is not a finite latitude in [-90, 90] and longitude in [-180, 180]"),
        ));
    }
    LatLng::new(lat, lng).map_err(|e| CoreError::new(ErrorCode::InvalidCoordinate, e.to_string()))
}

pub fn resolution(res: u8) -> Result<Resolution> {
    Resolution::try_from(res).map_err(|_| {
        CoreError::new(
            ErrorCode::InvalidResolution,
            format!("H3 resolution {res} is outside 0..=15"),
        )
    })
}

/// Converts interleaved `[lat0, lng0, lat1, lng1, ...]` to H3 cell indexes, writing into `out`.
/// Fails on the first bad pair, naming its position, and leaves `out` partly written.
pub fn cells_of(lat_lngs: &[f64], res: u8, out: &mut [u64]) -> Result<()> {
    if !lat_lngs.len().is_multiple_of(2) {
        return Err(CoreError::new(
            ErrorCode::LengthMismatch,
            format!(
                "expected interleaved lat/lng pairs, got an odd length {}",
                lat_lngs.len()
            ),
        ));
    }
    if out.len() != lat_lngs.len() / 2 {
        return Err(CoreError::new(
            ErrorCode::LengthMismatch,
            format!(
                "output holds {} cells but {} pairs were given",
                out.len(),
                lat_lngs.len() / 2
            ),
        ));
    }
    let res = resolution(res)?;
    for (i, (pair, slot)) in lat_lngs.chunks_exact(2).zip(out.iter_mut()).enumerate() {
        let ll = lat_lng(pair[0], pair[1])
            .map_err(|e| CoreError::new(e.code, format!("pair {i}: {}", e.message)))?;
        *slot = u64::from(ll.to_cell(res));
    }
    Ok(())
}

/// Great-circle distance in metres (haversine on a sphere of the mean Earth radius).
pub fn haversine_m(lat1: f64, lng1: f64, lat2: f64, lng2: f64) -> f64 {
    const R: f64 = 6_371_008.8;
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lng2 - lng1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * R * a.sqrt().min(1.0).asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_coordinates() {
        for (lat, lng) in [(f64::NAN, 0.0), (0.0, f64::INFINITY), (90.5, 0.0), (0.0, -180.1)] {
            assert_eq!(lat_lng(lat, lng).unwrap_err().code, ErrorCode::InvalidCoordinate);
        }
        assert!(lat_lng(90.0, 180.0).is_ok());
    }

    #[test]
    fn cells_of_checks_lengths_and_positions() {
        let mut out = [0u64; 2];
        assert_eq!(
            cells_of(&[1.0, 2.0, 3.0], 9, &mut out).unwrap_err().code,
            ErrorCode::LengthMismatch
        );
        assert_eq!(
            cells_of(&[1.0, 2.0], 9, &mut out).unwrap_err().code,
            ErrorCode::LengthMismatch
        );
        let err = cells_of(&[1.0, 2.0, f64::NAN, 0.0], 9, &mut out).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidCoordinate);
        assert!(err.message.starts_with("pair 1"));
        assert_eq!(
            cells_of(&[1.0, 2.0, 3.0, 4.0], 16, &mut out).unwrap_err().code,
            ErrorCode::InvalidResolution
        );
        cells_of(&[41.88, -87.63, 3.0, 4.0], 9, &mut out).unwrap();
        assert_eq!(
            h3o::CellIndex::try_from(out[0]).unwrap().resolution(),
            h3o::Resolution::Nine
        );
    }

    #[test]
    fn haversine_known_distance() {
        // Paris to London, about 343.5 km.
        let d = haversine_m(48.8566, 2.3522, 51.5074, -0.1278);
        assert!((d - 343_500.0).abs() < 1_000.0, "{d}");
    }
}
