//! A campaign's daily send window (issue #17): `{"start": "09:00", "end": "20:00"}` on the
//! workspace's clock, or null for any time.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0016_campaign_send_window"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("campaigns").add_column(json_null("send_window")).take()).await
    }
}
