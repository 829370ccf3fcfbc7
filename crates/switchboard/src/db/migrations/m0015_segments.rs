//! Saved segments (issue #17): named rules over a tenant's contacts, unique by name in the tenant;
//! and the index the marketing frequency cap counts a contact's recent campaign sends by.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0015_segments"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("segments")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string("name"))
                .col(json("rules"))
                .col(uuid_null("created_by"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_segments_tenant_id")
                        .from("segments", "tenant_id")
                        .to("tenants", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_segments_tenant_name")
                .table("segments")
                .col("tenant_id")
                .col("name")
                .unique()
                .if_not_exists()
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_campaign_recipients_contact_state")
                .table("campaign_recipients")
                .col("tenant_id")
                .col("contact_id")
                .col("state")
                .col("updated_at")
                .if_not_exists()
                .take(),
        )
        .await
    }
}
