//! SeaORM entities: one module per table, shared by both backends.

pub mod account_events;
pub mod agents;
pub mod api_keys;
pub mod audit_log;
pub mod campaign_recipients;
pub mod campaigns;
pub mod canned_responses;
pub mod contact_identity_changes;
pub mod contacts;
pub mod conversation_notes;
pub mod conversations;
pub mod daily_usage;
pub mod enums;
pub mod invitations;
pub mod jobs;
pub mod media;
pub mod messages;
pub mod pending_statuses;
pub mod refresh_tokens;
pub mod templates;
pub mod tenants;
pub mod users;
pub mod webhook_deliveries;
pub mod webhook_endpoints;
pub mod webhook_events;
pub mod whatsapp_accounts;
