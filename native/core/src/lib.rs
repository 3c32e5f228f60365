//! Pure Rust core of the dispatch engine. No napi here: `native/node` is the only binding.
//!
//! - [`geo`]: validated coordinates, H3 cells, great-circle distance.
//! - [`index`]: the live driver index (positions, status, k-nearest by H3 ring search).
//! - [`matching`]: global assignment of requests to drivers, and the greedy baseline.
//! - [`eta`]: travel-time model.
//! - [`pricing`]: fares, surge.

pub mod error;
pub mod eta;
pub mod geo;
pub mod index;
pub mod matching;
pub mod pricing;
