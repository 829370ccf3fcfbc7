//! Segments (issue #17; docs/CAMPAIGNS.md, "Segments"): rules over a tenant's contacts — tags,
//! attributes, country, the last inbound message, the latest conversation's status, opt-out,
//! creation date, in AND/OR/NOT groups — parsed into one type ([`Rule`]) and decided by one
//! evaluator on both backends; saved under a name (`/api/segments`) with a live count and sample
//! before saving. Campaigns select their audience with them.

pub mod routes;
pub mod rule;
pub mod service;

pub use rule::{Facts, Rule};
