//! Integration tests: the real app on port 0 against a fresh database (SQLite file, or a fresh
//! PostgreSQL database when SWITCHBOARD_TEST_DATABASE_URL is set). One binary for compile time.

mod accounts;
mod auth;
mod cli;
mod encryption;
mod health;
mod helpers;
mod inbound;
mod isolation;
mod queue;
