//! Inbound fidelity (issue #13) and tenant-scoped message ids (issue #14):
//! - a contact keeps its WhatsApp username, why it is opted out, and the history of its phone
//!   numbers and user ids (`contact_identity_changes`), because either may change;
//! - a message keeps the sender of the message it quotes (`reply_to_from`) and where an outbound
//!   message came from when Switchboard did not send it (`origin`: `business_app` for
//!   coexistence echoes, `history` for imported history);
//! - account-level events carry a deduplication key, unique per tenant, so a redelivered body
//!   stores nothing twice;
//! - a number shows the quality rating and messaging limit Meta reports for it;
//! - message ids (wamids) are unique per tenant, not across all tenants, so no tenant's traffic
//!   can shadow another's.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0012_inbound_fidelity"
    }
}

/// SQLite adds one column per `ALTER TABLE`.
async fn add(m: &SchemaManager<'_>, table: &'static str, col: ColumnDef) -> Result<(), DbErr> {
    m.alter_table(Table::alter().table(table).add_column(col).take()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        add(m, "contacts", string_null("username")).await?;
        add(m, "contacts", string_null("opt_out_source")).await?;
        add(m, "messages", string_null("reply_to_from")).await?;
        add(m, "messages", string_null("origin")).await?;
        add(m, "account_events", string_null("dedup_key")).await?;
        add(m, "whatsapp_accounts", string_null("quality_rating")).await?;
        add(m, "whatsapp_accounts", string_null("messaging_limit")).await?;

        m.create_index(
            Index::create()
                .name("ux_account_events_tenant_dedup")
                .table("account_events")
                .col("tenant_id")
                .col("dedup_key")
                .unique()
                .if_not_exists()
                .take(),
        )
        .await?;

        m.create_index(
            Index::create()
                .name("ux_messages_tenant_wa_message_id")
                .table("messages")
                .col("tenant_id")
                .col("wa_message_id")
                .unique()
                .if_not_exists()
                .take(),
        )
        .await?;
        m.drop_index(Index::drop().name("ux_messages_wa_message_id").table("messages").to_owned()).await?;

        m.create_table(
            Table::create()
                .table("contact_identity_changes")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("contact_id"))
                // `wa_id` or `user_id`
                .col(string("field"))
                .col(string_null("old_value"))
                .col(string_null("new_value"))
                // `message`, `system`, `app_state_sync`, `moved` (taken by another contact)
                .col(string("source"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_contact_identity_changes_tenant_id")
                        .from("contact_identity_changes", "tenant_id")
                        .to("tenants", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_contact_identity_changes_contact_id")
                        .from("contact_identity_changes", "contact_id")
                        .to("contacts", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_contact_identity_changes_contact")
                .table("contact_identity_changes")
                .col("tenant_id")
                .col("contact_id")
                .col("created_at")
                .if_not_exists()
                .take(),
        )
        .await?;
        Ok(())
    }
}
