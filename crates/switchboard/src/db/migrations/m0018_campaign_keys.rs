//! Campaigns' idempotency keys (issue #17): the `Idempotency-Key` a campaign was created with
//! (unique per tenant: a retried create returns the same campaign) and the one it was started with
//! (a retried start returns the campaign as it is, whatever state it reached since).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0018_campaign_keys"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("campaigns").add_column(string_null("idempotency_key")).take()).await?;
        m.alter_table(Table::alter().table("campaigns").add_column(string_null("start_key")).take()).await?;
        m.create_index(
            Index::create()
                .name("ux_campaigns_tenant_idempotency_key")
                .table("campaigns")
                .col("tenant_id")
                .col("idempotency_key")
                .unique()
                .take(),
        )
        .await
    }
}
