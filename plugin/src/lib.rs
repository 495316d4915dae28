//! The mail-sync guest: all mail logic, built as a `wasm32-wasip2` component.
//! Domain modules compile natively too, so they unit-test and benchmark outside wasm.

pub mod account;
pub mod act;
pub mod errors;
pub mod folders;
pub mod i18n;
pub mod imap;
pub mod model;
pub mod normalize;
pub mod oauth;
pub mod ports;
pub mod providers;
pub mod record;
pub mod send;
pub mod sync;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;

#[cfg(target_arch = "wasm32")]
mod glue;

pub use normalize::normalize;
pub use record::*;
