//! `/api/admin/*`: the platform operator's view across tenants (SYSTEM_ADMIN only).

pub mod routes;
pub mod service;

pub use routes::router;
