//! The pure core: what DESIGN.md calls the snapshot model, the decision tree, the run's model
//! family and the policy. No I/O and no clock here: every function takes the time ("now") and
//! the data it needs as arguments, so each rule can be tested on its own.
//!
//! May use: nothing else in the crate (std and data crates only). Everything else uses it.

pub mod decide;
pub mod exit_codes;
pub mod fallback;
pub mod forecast;
#[cfg(test)]
mod fuzz;
pub mod model;
pub mod plan;
pub mod policy;
pub mod session;
pub mod snapshot;
pub mod stop;
pub mod time;
