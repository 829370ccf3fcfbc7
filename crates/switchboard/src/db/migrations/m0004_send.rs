//! Sending: when a send to Meta started, so that a crashed or timed-out send is never repeated.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0004_send"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("messages")
                .add_column(ColumnDef::new("send_started_at").timestamp_with_time_zone().null())
                .take(),
        )
        .await?;
        Ok(())
    }
}
