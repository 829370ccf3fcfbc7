//! The operator's platform-wide audit log (`GET /api/admin/audit`, every tenant's entries and the
//! platform's own) is read newest first with a `(created_at, id)` keyset: without a tenant to lead
//! with, it needs its own index or every page sorts the whole table.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0011_audit_platform"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("ix_audit_time_id")
                .table("audit_log")
                .col("created_at")
                .col("id")
                .if_not_exists()
                .take(),
        )
        .await?;
        Ok(())
    }
}
