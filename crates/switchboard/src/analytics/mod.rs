//! Analytics over the stored data: message volumes, response and resolution times, delivery and
//! read rates, failures, and per-agent figures. Computed on request with portable queries;
//! percentiles are computed in Rust over the durations of the range (at most [`service::MAX_ROWS`]).

pub mod routes;
pub mod service;
