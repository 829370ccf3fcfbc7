//! A user's access tokens issued before `sessions_revoked_at` are refused (issue #14.2):
//! deactivating a user sets it, so a token issued before the deactivation stays dead after a
//! reactivation (the refresh tokens are deleted at the same time; signing in again is needed).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0013_sessions_revoked"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter().table("users").add_column(timestamp_with_time_zone_null("sessions_revoked_at")).take(),
        )
        .await
    }
}
