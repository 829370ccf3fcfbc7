//! A number's account events are listed per (tenant, WABA), newest first, keyset-paginated on
//! `(created_at, id)` (`accounts::events::page`): the index leads with both filters and ends with
//! the keyset, so any page is a range scan. It replaces the (tenant, time) index, which nothing
//! else reads.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0010_account_events_waba"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("ix_account_events_tenant_waba_time_id")
                .table("account_events")
                .col("tenant_id")
                .col("waba_id")
                .col("created_at")
                .col("id")
                .if_not_exists()
                .take(),
        )
        .await?;
        m.drop_index(Index::drop().name("ix_account_events_tenant_time").table("account_events").to_owned()).await?;
        Ok(())
    }
}
