//! The complete multi-tenant schema. Every tenant-owned table carries `tenant_id`, and its indexes
//! lead with it so that every tenant-scoped query is an index range scan.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0001_initial"
    }
}

fn ts(name: &'static str) -> ColumnDef {
    timestamp_with_time_zone(name)
}
fn ts_null(name: &'static str) -> ColumnDef {
    timestamp_with_time_zone_null(name)
}
fn int_default(name: &'static str, v: i32) -> ColumnDef {
    integer(name).default(v).take()
}
fn big_default(name: &'static str, v: i64) -> ColumnDef {
    big_integer(name).default(v).take()
}
fn bool_default(name: &'static str, v: bool) -> ColumnDef {
    boolean(name).default(v).take()
}
fn fk(table: &'static str, col: &'static str, to: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{col}"))
        .from(table, col)
        .to(to, "id")
        .on_delete(ForeignKeyAction::Cascade)
        .take()
}
fn index(table: &'static str, name: &str, cols: &[&'static str], unique: bool) -> IndexCreateStatement {
    let mut i = Index::create();
    i.name(name).table(table).if_not_exists();
    for c in cols {
        i.col(*c);
    }
    if unique {
        i.unique();
    }
    i.take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("tenants")
                .col(pk_uuid("id"))
                .col(string("name"))
                .col(string_uniq("slug"))
                .col(string("status"))
                .col(string("plan"))
                .col(integer("limit_messages_per_minute"))
                .col(big_integer("limit_monthly_messages"))
                .col(integer("limit_max_agents"))
                .col(integer("limit_max_numbers"))
                .col(string("theme_color"))
                .col(string("theme_name"))
                .col(string_null("theme_logo_url"))
                .col(string_null("billing_email"))
                .col(json_binary("settings"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("users")
                .col(pk_uuid("id"))
                .col(uuid_null("tenant_id"))
                // Stored lower-cased and trimmed: the unique index is then case-insensitive.
                .col(string_uniq("email"))
                .col(string("password_hash"))
                .col(string("name"))
                .col(string("role"))
                .col(bool_default("active", true))
                .col(ts_null("last_login_at"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .foreign_key(&mut fk("users", "tenant_id", "tenants"))
                .take(),
        )
        .await?;
        m.create_index(index("users", "ix_users_tenant", &["tenant_id", "created_at"], false)).await?;

        m.create_table(
            Table::create()
                .table("agents")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid_uniq("user_id"))
                .col(string("display_name"))
                .col(string("status"))
                .col(int_default("max_concurrent", 10))
                .col(ts("status_changed_at"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .foreign_key(&mut fk("agents", "tenant_id", "tenants"))
                .foreign_key(&mut fk("agents", "user_id", "users"))
                .take(),
        )
        .await?;
        m.create_index(index("agents", "ix_agents_tenant_status", &["tenant_id", "status"], false)).await?;

        m.create_table(
            Table::create()
                .table("whatsapp_accounts")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string("name"))
                .col(string("waba_id"))
                .col(string_uniq("phone_number_id"))
                .col(string("display_phone_number"))
                .col(text("access_token_enc"))
                .col(string("access_token_last4"))
                .col(text_null("app_secret_enc"))
                .col(string("verify_token"))
                .col(string("status"))
                .col(int_default("throughput_mps", 80))
                .col(bool_default("is_sandbox", false))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .foreign_key(&mut fk("whatsapp_accounts", "tenant_id", "tenants"))
                .take(),
        )
        .await?;
        m.create_index(index("whatsapp_accounts", "ix_wa_accounts_tenant", &["tenant_id", "created_at"], false))
            .await?;

        // Raw webhook bodies exactly as Meta sent them; the tenant is resolved later by the worker.
        m.create_table(
            Table::create()
                .table("webhook_events")
                .col(pk_uuid("id"))
                .col(ts("received_at"))
                .col(blob("body"))
                .col(json_binary("headers"))
                .col(uuid_null("tenant_id"))
                .col(string_null("phone_number_id"))
                .col(string("state"))
                .col(int_default("attempts", 0))
                .col(text_null("last_error"))
                .col(ts_null("processed_at"))
                .take(),
        )
        .await?;
        m.create_index(index("webhook_events", "ix_webhook_events_state", &["state", "received_at"], false)).await?;
        m.create_index(index("webhook_events", "ix_webhook_events_tenant", &["tenant_id", "received_at"], false))
            .await?;

        m.create_table(
            Table::create()
                .table("contacts")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string_null("wa_id"))
                .col(string_null("user_id"))
                .col(string_null("profile_name"))
                .col(string_null("name"))
                .col(bool_default("opted_out", false))
                .col(ts_null("opted_out_at"))
                .col(json_binary("tags"))
                .col(json_binary("attributes"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .foreign_key(&mut fk("contacts", "tenant_id", "tenants"))
                .take(),
        )
        .await?;
        m.create_index(index("contacts", "ux_contacts_tenant_wa_id", &["tenant_id", "wa_id"], true)).await?;
        m.create_index(index("contacts", "ux_contacts_tenant_user_id", &["tenant_id", "user_id"], true)).await?;
        m.create_index(index("contacts", "ix_contacts_tenant_updated", &["tenant_id", "updated_at"], false)).await?;

        m.create_table(
            Table::create()
                .table("conversations")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("contact_id"))
                .col(uuid("whatsapp_account_id"))
                .col(string("status"))
                .col(uuid_null("assignee_id"))
                .col(json_binary("tags"))
                .col(ts_null("last_inbound_at"))
                .col(ts("last_message_at"))
                .col(text_null("last_message_preview"))
                .col(int_default("unread_count", 0))
                .col(ts_null("first_response_at"))
                .col(ts_null("resolved_at"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .foreign_key(&mut fk("conversations", "tenant_id", "tenants"))
                .foreign_key(&mut fk("conversations", "contact_id", "contacts"))
                .foreign_key(&mut fk("conversations", "whatsapp_account_id", "whatsapp_accounts"))
                .take(),
        )
        .await?;
        m.create_index(index(
            "conversations",
            "ix_conv_tenant_activity",
            &["tenant_id", "last_message_at", "id"],
            false,
        ))
        .await?;
        m.create_index(index(
            "conversations",
            "ix_conv_tenant_status_activity",
            &["tenant_id", "status", "last_message_at", "id"],
            false,
        ))
        .await?;
        m.create_index(index(
            "conversations",
            "ix_conv_tenant_assignee_activity",
            &["tenant_id", "assignee_id", "last_message_at", "id"],
            false,
        ))
        .await?;
        m.create_index(index(
            "conversations",
            "ix_conv_tenant_contact_account",
            &["tenant_id", "contact_id", "whatsapp_account_id"],
            false,
        ))
        .await?;

        m.create_table(
            Table::create()
                .table("messages")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("conversation_id"))
                .col(string("direction"))
                .col(string("msg_type"))
                .col(json_binary("content"))
                .col(json_binary_null("raw"))
                // Meta's wamid: the unique constraint makes a duplicate delivery a no-op.
                .col(string_null("wa_message_id"))
                .col(string_null("client_message_id"))
                .col(string("status"))
                .col(ts_null("sent_at"))
                .col(ts_null("delivered_at"))
                .col(ts_null("read_at"))
                .col(ts_null("played_at"))
                .col(ts_null("failed_at"))
                .col(integer_null("error_code"))
                .col(string_null("error_title"))
                .col(text_null("error_details"))
                .col(uuid_null("reply_to_id"))
                .col(string_null("reply_to_wa_id"))
                .col(uuid_null("sender_user_id"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .foreign_key(&mut fk("messages", "tenant_id", "tenants"))
                .foreign_key(&mut fk("messages", "conversation_id", "conversations"))
                .take(),
        )
        .await?;
        m.create_index(index("messages", "ux_messages_wa_message_id", &["wa_message_id"], true)).await?;
        m.create_index(index("messages", "ux_messages_tenant_client_id", &["tenant_id", "client_message_id"], true))
            .await?;
        m.create_index(index(
            "messages",
            "ix_messages_tenant_conversation",
            &["tenant_id", "conversation_id", "created_at", "id"],
            false,
        ))
        .await?;

        m.create_table(
            Table::create()
                .table("templates")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("whatsapp_account_id"))
                .col(string("name"))
                .col(string("language"))
                .col(string("category"))
                .col(string("status"))
                .col(json_binary("components"))
                .col(string_null("meta_template_id"))
                .col(text_null("rejection_reason"))
                .col(string_null("quality_score"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .foreign_key(&mut fk("templates", "tenant_id", "tenants"))
                .foreign_key(&mut fk("templates", "whatsapp_account_id", "whatsapp_accounts"))
                .take(),
        )
        .await?;
        m.create_index(index(
            "templates",
            "ux_templates_tenant_account_name_lang",
            &["tenant_id", "whatsapp_account_id", "name", "language"],
            true,
        ))
        .await?;

        m.create_table(
            Table::create()
                .table("daily_usage")
                .col(uuid("tenant_id"))
                .col(date("day"))
                .col(big_default("messages_in", 0))
                .col(big_default("messages_out", 0))
                .col(big_default("marketing", 0))
                .col(big_default("utility", 0))
                .col(big_default("authentication", 0))
                .col(big_default("service", 0))
                .col(big_default("billable", 0))
                .col(big_default("conversations_opened", 0))
                .col(big_default("active_agents", 0))
                .primary_key(Index::create().col("tenant_id").col("day"))
                .foreign_key(&mut fk("daily_usage", "tenant_id", "tenants"))
                .take(),
        )
        .await?;

        // The durable job queue (inbox/outbox): enqueued in the same transaction as the data.
        m.create_table(
            Table::create()
                .table("jobs")
                .col(big_integer("id").auto_increment().primary_key())
                .col(string("queue"))
                .col(json_binary("payload"))
                .col(string("state"))
                .col(int_default("attempts", 0))
                .col(int_default("max_attempts", 10))
                .col(ts("run_at"))
                .col(string_null("lease_owner"))
                .col(ts_null("lease_expires_at"))
                .col(string_null("unique_key"))
                .col(text_null("last_error"))
                .col(uuid_null("tenant_id"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .take(),
        )
        .await?;
        m.create_index(index("jobs", "ux_jobs_queue_unique_key", &["queue", "unique_key"], true)).await?;
        m.create_index(index("jobs", "ix_jobs_claim", &["queue", "state", "run_at"], false)).await?;

        m.create_table(
            Table::create()
                .table("refresh_tokens")
                .col(pk_uuid("id"))
                .col(uuid("user_id"))
                .col(uuid_null("tenant_id"))
                .col(string_uniq("token_hash"))
                .col(uuid("family_id"))
                .col(ts_null("used_at"))
                .col(ts_null("revoked_at"))
                .col(ts("expires_at"))
                .col(ts("created_at"))
                .foreign_key(&mut fk("refresh_tokens", "user_id", "users"))
                .take(),
        )
        .await?;
        m.create_index(index("refresh_tokens", "ix_refresh_tokens_family", &["family_id"], false)).await?;
        m.create_index(index("refresh_tokens", "ix_refresh_tokens_user", &["user_id"], false)).await?;

        m.create_table(
            Table::create()
                .table("audit_log")
                .col(pk_uuid("id"))
                .col(uuid_null("tenant_id"))
                .col(uuid_null("actor_user_id"))
                .col(string("action"))
                .col(string_null("target_type"))
                .col(string_null("target_id"))
                .col(json_binary("details"))
                .col(string_null("ip"))
                .col(ts("created_at"))
                .take(),
        )
        .await?;
        m.create_index(index("audit_log", "ix_audit_tenant_time", &["tenant_id", "created_at"], false)).await?;

        Ok(())
    }
}
