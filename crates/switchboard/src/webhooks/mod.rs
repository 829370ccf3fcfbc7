//! Inbound webhooks from Meta: verified, persisted with their processing job in one transaction,
//! acknowledged only after the commit; parsed and applied by the `webhook-processor` worker.

pub mod admin;
pub mod batch;
pub mod fair;
pub mod ingest;
pub mod processor;
pub mod routes;
mod statuses;
