//! Run records and the reports built from them.
//!
//! This crate owns the [`RunRecord`] schema (the harness writes records through it), the
//! statistics over seeds ([`stats`]), Pareto dominance and hypervolume ([`hypervolume`]), and
//! the report: records are split into comparable blocks ([`partition`], R20), grouped per
//! model and method ([`analysis`]), and tabulated ([`table`], [`model_size`], [`pareto`],
//! [`paired`]) into format-neutral [`sheet::Sheet`]s rendered as Markdown, CSV, LaTeX or one
//! self-contained HTML page ([`html`], with [`prose`] for its text), with SVG plots ([`plot`])
//! and the records' [`provenance`]; [`report::Report`] assembles them. [`linear_front`]
//! computes the exact Pareto front of the `synthetic-linear` benchmark in closed form. It
//! knows nothing of tensors or training.

pub mod analysis;
pub mod candidate_ranks;
pub mod data_draws;
pub mod error;
pub mod failpoint;
pub mod host;
pub mod html;
pub mod hypervolume;
pub mod linear_front;
pub mod model_size;
pub mod paired;
pub mod pareto;
pub mod partition;
pub mod plot;
pub mod prose;
pub mod provenance;
pub mod record;
pub mod report;
pub mod search_trace;
pub mod sheet;
pub mod stats;
pub mod store;
pub mod table;

pub use error::{Error, Result};
pub use record::{RunRecord, SCHEMA_VERSION};
pub use report::Report;
pub use sheet::Format;
pub use store::{load_records, write_record_atomic};
pub use table::{comparison_table, ComparisonTable};
