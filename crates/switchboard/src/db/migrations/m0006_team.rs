//! Team invitations: a one-time link (only its SHA-256 is stored) that lets an invited user set a
//! password and activates them.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0006_team"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("invitations")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                // One open invitation per user: inviting again replaces it.
                .col(uuid_uniq("user_id"))
                .col(string_uniq("token_hash"))
                .col(uuid_null("invited_by"))
                .col(timestamp_with_time_zone("expires_at"))
                .col(timestamp_with_time_zone_null("accepted_at"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_invitations_tenant_id")
                        .from("invitations", "tenant_id")
                        .to("tenants", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_invitations_user_id")
                        .from("invitations", "user_id")
                        .to("users", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_invitations_tenant")
                .table("invitations")
                .col("tenant_id")
                .col("created_at")
                .take(),
        )
        .await?;
        // The audit log is read newest first per tenant, optionally filtered by action.
        m.create_index(
            Index::create()
                .name("ix_audit_tenant_action_time")
                .table("audit_log")
                .col("tenant_id")
                .col("action")
                .col("created_at")
                .take(),
        )
        .await?;
        Ok(())
    }
}
