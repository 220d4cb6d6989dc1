//! Run records and the reports built from them.
//!
//! This crate owns the [`RunRecord`] schema (the harness writes records through it), the
//! statistics over seeds ([`stats`]) and the comparison tables ([`table`]). It knows nothing
//! of tensors or training.

pub mod error;
pub mod failpoint;
pub mod record;
pub mod stats;
pub mod store;
pub mod table;

pub use error::{Error, Result};
pub use record::{RunRecord, SCHEMA_VERSION};
pub use store::{load_records, write_record_atomic};
pub use table::{comparison_table, ComparisonTable};
