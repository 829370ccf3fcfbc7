//! Schema migrations, written once with sea-query's schema builder and run on SQLite and PostgreSQL.
//! Append new migrations; never edit one that has shipped.

use sea_orm_migration::prelude::*;

mod m0001_initial;
mod m0002_inbound;
mod m0003_inbox;
mod m0004_send;
mod m0005_templates;
mod m0006_team;
mod m0007_integrations;
mod m0008_job_claim;
mod m0009_contacts_keyset;
mod m0010_account_events_waba;
mod m0011_audit_platform;
mod m0012_inbound_fidelity;
mod m0013_sessions_revoked;
mod m0014_campaigns;
mod m0015_segments;
mod m0016_campaign_send_window;
mod m0017_recipient_attempt;
mod m0018_campaign_keys;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_initial::Migration),
            Box::new(m0002_inbound::Migration),
            Box::new(m0003_inbox::Migration),
            Box::new(m0004_send::Migration),
            Box::new(m0005_templates::Migration),
            Box::new(m0006_team::Migration),
            Box::new(m0007_integrations::Migration),
            Box::new(m0008_job_claim::Migration),
            Box::new(m0009_contacts_keyset::Migration),
            Box::new(m0010_account_events_waba::Migration),
            Box::new(m0011_audit_platform::Migration),
            Box::new(m0012_inbound_fidelity::Migration),
            Box::new(m0013_sessions_revoked::Migration),
            Box::new(m0014_campaigns::Migration),
            Box::new(m0015_segments::Migration),
            Box::new(m0016_campaign_send_window::Migration),
            Box::new(m0017_recipient_attempt::Migration),
            Box::new(m0018_campaign_keys::Migration),
        ]
    }
}
