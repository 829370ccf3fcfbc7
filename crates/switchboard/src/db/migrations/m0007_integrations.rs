//! Integrations: API keys (only their SHA-256 is stored), outgoing webhook endpoints and the log of
//! their delivery attempts.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0007_integrations"
    }
}

fn fk_tenant(table: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_tenant_id"))
        .from(table, "tenant_id")
        .to("tenants", "id")
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("api_keys")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string("name"))
                // First 8 characters of the key, for display.
                .col(string("prefix"))
                .col(string_uniq("key_hash"))
                // Comma-separated: read, send, admin.
                .col(string("scopes"))
                .col(uuid_null("created_by"))
                .col(timestamp_with_time_zone_null("last_used_at"))
                .col(timestamp_with_time_zone_null("revoked_at"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(&mut fk_tenant("api_keys"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create().name("ix_api_keys_tenant").table("api_keys").col("tenant_id").col("created_at").take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("webhook_endpoints")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string("url"))
                .col(string_null("description"))
                // JSON array of event types, or ["*"].
                .col(json("events"))
                .col(boolean("enabled"))
                // Encrypted with the tenant's keyring (purpose: webhook secret).
                .col(string("secret_enc"))
                .col(integer("consecutive_failures").default(0))
                .col(timestamp_with_time_zone_null("failing_since"))
                .col(string_null("disabled_reason"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(&mut fk_tenant("webhook_endpoints"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_webhook_endpoints_tenant")
                .table("webhook_endpoints")
                .col("tenant_id")
                .col("created_at")
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("webhook_deliveries")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("endpoint_id"))
                .col(string("event_id"))
                .col(string("event_type"))
                .col(integer("attempt"))
                .col(integer_null("status_code"))
                .col(big_integer("duration_ms"))
                .col(string_null("error"))
                .col(boolean("success"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(&mut fk_tenant("webhook_deliveries"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_webhook_deliveries_endpoint_id")
                        .from("webhook_deliveries", "endpoint_id")
                        .to("webhook_endpoints", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_webhook_deliveries_endpoint_time")
                .table("webhook_deliveries")
                .col("endpoint_id")
                .col("created_at")
                .take(),
        )
        .await?;
        Ok(())
    }
}
