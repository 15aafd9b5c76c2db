//! Privacy accountants: how much privacy a sequence of releases has spent.
//!
//! * [`composition`] — basic and advanced composition of (ε, δ)-DP, and zCDP.
//! * [`rdp`] — Rényi DP of the Poisson-subsampled Gaussian (DP-SGD), as `dp_accounting` 0.6.
//! * [`pld`] — the privacy loss distribution of the same mechanism: the tight accountant.

pub mod composition;
pub mod pld;
pub mod rdp;
