//! The contacts list pages on `(updated_at, id) < (…)` (a row-value comparison, see
//! `crate::pagination::before`): its index needs `id` after `updated_at` for that to be a range
//! at any depth, as the conversation and message indexes already have.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0009_contacts_keyset"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("ix_contacts_tenant_updated_id")
                .table("contacts")
                .col("tenant_id")
                .col("updated_at")
                .col("id")
                .if_not_exists()
                .take(),
        )
        .await?;
        m.drop_index(Index::drop().name("ix_contacts_tenant_updated").table("contacts").to_owned()).await?;
        Ok(())
    }
}
