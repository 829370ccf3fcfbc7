//! Internal notes on a conversation: seen by whoever may see the conversation, never sent to
//! WhatsApp.

pub mod routes;
pub mod service;
