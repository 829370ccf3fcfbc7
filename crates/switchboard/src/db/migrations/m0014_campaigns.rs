//! Campaigns (issue #17): a campaign and one row per recipient, unique per (campaign, contact),
//! so that planning twice, a restart or two nodes can never make a second recipient row. Like every
//! tenant-owned table's, the indexes lead with `tenant_id` (every query names the tenant).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0014_campaigns"
    }
}

fn fk(table: &'static str, col: &'static str, to: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{col}"))
        .from(table, col)
        .to(to, "id")
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("campaigns")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string("name"))
                .col(uuid("whatsapp_account_id"))
                // No foreign key: deleting a template must not delete the campaigns that sent it
                // (their history); a run whose template is gone fails with that reason.
                .col(uuid("template_id"))
                .col(json("variables"))
                .col(json("audience"))
                .col(string("state"))
                .col(string_null("state_reason"))
                .col(integer("run_generation").default(0))
                .col(boolean("planned").default(false))
                .col(timestamp_with_time_zone_null("scheduled_at"))
                .col(timestamp_with_time_zone_null("started_at"))
                .col(timestamp_with_time_zone_null("completed_at"))
                .col(uuid_null("created_by"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(&mut fk("campaigns", "tenant_id", "tenants"))
                .foreign_key(&mut fk("campaigns", "whatsapp_account_id", "whatsapp_accounts"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_campaigns_tenant_created")
                .table("campaigns")
                .col("tenant_id")
                .col("created_at")
                .if_not_exists()
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("campaign_recipients")
                .if_not_exists()
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("campaign_id"))
                .col(uuid("contact_id"))
                .col(string("state"))
                .col(string_null("reason"))
                .col(string_null("detail"))
                .col(uuid_null("message_id"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(&mut fk("campaign_recipients", "campaign_id", "campaigns"))
                .foreign_key(&mut fk("campaign_recipients", "contact_id", "contacts"))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_campaign_recipients_campaign_contact")
                .table("campaign_recipients")
                .col("tenant_id")
                .col("campaign_id")
                .col("contact_id")
                .unique()
                .if_not_exists()
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_campaign_recipients_campaign_state")
                .table("campaign_recipients")
                .col("tenant_id")
                .col("campaign_id")
                .col("state")
                .col("id")
                .if_not_exists()
                .take(),
        )
        .await
    }
}
