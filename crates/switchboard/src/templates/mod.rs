//! Message templates: create and submit to Meta, review status by webhook, sync, delete, and
//! sending with a simple parameter map (see `params::build_components`).

pub mod params;
pub mod routes;
pub mod service;
pub mod validate;
pub mod webhook;
