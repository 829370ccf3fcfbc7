//! Canned responses: saved replies the team inserts by shortcut.

pub mod routes;
pub mod service;
