//! A campaign recipient's attempt (issue #17): 0 for the first message; each retry after Meta
//! limited it (131049) creates the next one, whose client message id names the attempt.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0017_recipient_attempt"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("campaign_recipients").add_column(integer("attempt").default(0)).take())
            .await
    }
}
