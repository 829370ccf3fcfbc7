//! The team: invitations, roles, activation and removal of a tenant's users.

pub mod routes;
pub mod service;
