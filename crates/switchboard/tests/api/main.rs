//! Integration tests: the real app on port 0 against a fresh database (SQLite file, or a fresh
//! PostgreSQL database when SWITCHBOARD_TEST_DATABASE_URL is set). One binary for compile time.

mod accounts;
mod agents;
mod analytics;
mod apikeys;
mod audit;
mod auth;
mod canned;
mod cli;
mod contacts;
mod encryption;
mod fidelity;
mod fidelity_props;
mod hardening;
mod health;
mod helpers;
mod inbound;
mod inbox;
mod isolation;
mod media_upload;
mod notes;
mod openapi;
mod outhooks;
mod platform_audit;
mod profile;
mod queue;
mod revocation;
mod sandbox_restart;
mod settings;
mod signup;
mod sysadmin;
mod team;
mod templates;
mod usage;
mod web_inbox;
mod web_pages;
