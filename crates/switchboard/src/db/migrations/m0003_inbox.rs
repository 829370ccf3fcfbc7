//! The team inbox: canned responses, internal notes, round-robin assignment state.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0003_inbox"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("canned_responses")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string("shortcut"))
                .col(string("title"))
                .col(text("body"))
                .col(uuid_null("created_by"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_canned_tenant_shortcut")
                .table("canned_responses")
                .col("tenant_id")
                .col("shortcut")
                .unique()
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("conversation_notes")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("conversation_id"))
                .col(uuid_null("author_user_id"))
                .col(text("body"))
                .col(timestamp_with_time_zone("created_at"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_notes_tenant_conversation")
                .table("conversation_notes")
                .col("tenant_id")
                .col("conversation_id")
                .col("created_at")
                .take(),
        )
        .await?;

        m.alter_table(
            Table::alter()
                .table("agents")
                .add_column(ColumnDef::new("last_assigned_at").timestamp_with_time_zone().null())
                .take(),
        )
        .await?;
        Ok(())
    }
}
