//! Contacts: the people a tenant talks to. Listed with search, tag filter and keyset paging;
//! edited (name, tags, attributes, opt-out); imported in bulk from CSV.

pub mod csv;
pub mod identity;
pub mod routes;
pub mod service;
pub mod webhook;
