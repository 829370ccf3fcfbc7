//! Agents: the people who work the inbox, their presence and capacity, and round-robin
//! assignment of new conversations.

pub mod routes;
pub mod service;
