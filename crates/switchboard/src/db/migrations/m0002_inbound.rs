//! Inbound processing: statuses that arrive before their message, account-level events,
//! downloaded media, and a per-message billing flag so pricing is counted once.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0002_inbound"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("pending_statuses")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string("wa_message_id"))
                .col(json_binary("status"))
                .col(timestamp_with_time_zone("received_at"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_pending_statuses_tenant_wamid")
                .table("pending_statuses")
                .col("tenant_id")
                .col("wa_message_id")
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("account_events")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid_null("whatsapp_account_id"))
                .col(string("waba_id"))
                .col(string("field"))
                .col(json_binary("payload"))
                .col(timestamp_with_time_zone("created_at"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_account_events_tenant_time")
                .table("account_events")
                .col("tenant_id")
                .col("created_at")
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("media")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid_null("message_id"))
                .col(string_null("meta_media_id"))
                .col(string("mime_type"))
                .col(string_null("filename"))
                .col(big_integer("size_bytes"))
                .col(string("sha256"))
                .col(string("path"))
                .col(timestamp_with_time_zone("created_at"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create().name("ix_media_tenant_message").table("media").col("tenant_id").col("message_id").take(),
        )
        .await?;

        // One thread per customer and business number: statuses open/resolve it, rows are not
        // duplicated by concurrent workers.
        m.create_index(
            Index::create()
                .name("ux_conv_tenant_contact_account")
                .table("conversations")
                .col("tenant_id")
                .col("contact_id")
                .col("whatsapp_account_id")
                .unique()
                .take(),
        )
        .await?;

        m.alter_table(
            Table::alter()
                .table("messages")
                .add_column(ColumnDef::new("billed").boolean().not_null().default(false))
                .take(),
        )
        .await?;
        Ok(())
    }
}
