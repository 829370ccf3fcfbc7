//! The claim index: due jobs of a queue in run order, so a claim reads only the rows it takes
//! (the first schema's index forced a sort of the whole backlog on every claim).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0008_job_claim"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("ix_jobs_due")
                .table("jobs")
                .col("queue")
                .col("state")
                .col("run_at")
                .col("id")
                .if_not_exists()
                .take(),
        )
        .await?;
        m.drop_index(Index::drop().name("ix_jobs_claim").table("jobs").to_owned()).await?;
        // Expired leases are found by state and expiry.
        m.create_index(
            Index::create()
                .name("ix_jobs_lease")
                .table("jobs")
                .col("state")
                .col("lease_expires_at")
                .if_not_exists()
                .take(),
        )
        .await?;
        // Jobs waiting for a retry are now `pending` (with attempts spent), not `failed`.
        m.get_connection().execute_unprepared("UPDATE jobs SET state = 'pending' WHERE state = 'failed'").await?;
        Ok(())
    }
}
