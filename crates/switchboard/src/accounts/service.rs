//! Account logic: create (validated against the Graph API), update, delete, sandbox numbers.

use chrono::{DateTime, Utc};
use meta_cloud::client::{AccessToken, GraphClient, GraphError};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::audit;
use crate::db::Scoped;
use crate::entities::enums::AccountStatus;
use crate::entities::{conversations, tenants, whatsapp_accounts};
use crate::error::{AppError, AppResult};
use crate::ids::{TenantId, UserId};
use crate::secrets::{self, Purpose};
use crate::state::AppState;

/// Where to paste in Meta's dashboard.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSetup {
    pub callback_url: String,
    pub verify_token: String,
}

/// An account as the API shows it: credentials never leave, only their last 4 characters.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountDto {
    pub id: Uuid,
    pub name: String,
    pub waba_id: String,
    pub phone_number_id: String,
    pub display_phone_number: String,
    pub status: AccountStatus,
    pub throughput_mps: i32,
    pub is_sandbox: bool,
    /// Meta's quality rating for the number, from `phone_number_quality_update` (`null`: none yet).
    pub quality_rating: Option<String>,
    /// The messaging limit tier Meta reported (`TIER_1K`, `TIER_UNLIMITED`, …; `null`: none yet).
    pub messaging_limit: Option<String>,
    pub access_token_last4: String,
    pub has_app_secret: bool,
    pub webhook: WebhookSetup,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl AccountDto {
    pub fn from_model(a: whatsapp_accounts::Model, state: &AppState) -> Self {
        AccountDto {
            id: a.id,
            name: a.name,
            waba_id: a.waba_id,
            phone_number_id: a.phone_number_id,
            display_phone_number: a.display_phone_number,
            status: a.status,
            throughput_mps: a.throughput_mps,
            is_sandbox: a.is_sandbox,
            quality_rating: a.quality_rating,
            messaging_limit: a.messaging_limit,
            access_token_last4: a.access_token_last4,
            has_app_secret: a.app_secret_enc.is_some(),
            webhook: WebhookSetup {
                callback_url: format!("{}/api/webhooks/whatsapp", state.public_url()),
                verify_token: a.verify_token,
            },
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// Parsed input of a new account.
pub struct NewAccount {
    pub name: String,
    pub waba_id: String,
    pub phone_number_id: String,
    pub display_phone_number: Option<String>,
    pub access_token: String,
    pub app_secret: Option<String>,
    pub verify_token: Option<String>,
    pub throughput_mps: i32,
    pub is_sandbox: bool,
}

fn last4(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

/// Maps a Graph failure during credential validation onto an API error.
fn graph_validation_error(e: GraphError) -> AppError {
    use meta_cloud::error::ErrorClass;
    match &e {
        GraphError::Api { class: ErrorClass::Credentials, .. } => {
            AppError::field("accessToken", "Meta rejected this access token")
        }
        GraphError::Api { body, .. } => AppError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "meta_rejected",
            format!("Meta did not accept this phone number: {}", body.message),
        )
        .with_details(json!({ "metaCode": body.code })),
        GraphError::Timeout | GraphError::Transport(_) | GraphError::Connect(_) => AppError::new(
            axum::http::StatusCode::BAD_GATEWAY,
            "graph_unreachable",
            "the Graph API could not be reached; retry, or create with validate=false",
        ),
        _ => AppError::new(axum::http::StatusCode::BAD_GATEWAY, "graph_error", e.to_string()),
    }
}

/// Checks the number and token against the Graph API; returns the display phone number.
pub async fn validate_with_graph(graph: &GraphClient, phone_number_id: &str, token: &str) -> AppResult<String> {
    let info = graph.phone_number(&AccessToken::new(token), phone_number_id).await.map_err(graph_validation_error)?;
    Ok(info.display_phone_number.unwrap_or_default())
}

pub async fn create(
    state: &AppState,
    tenant: TenantId,
    actor: UserId,
    input: NewAccount,
    display_from_graph: Option<String>,
) -> AppResult<whatsapp_accounts::Model> {
    let txn = sea_orm::TransactionTrait::begin(state.writer()).await?;
    let t = tenants::Entity::find_by_id(tenant.0).one(&txn).await?.ok_or_else(|| AppError::not_found("tenant"))?;
    let count = whatsapp_accounts::Entity::of(tenant).count(&txn).await?;
    if count as i64 >= t.limit_max_numbers as i64 {
        return Err(AppError::new(
            axum::http::StatusCode::FORBIDDEN,
            "plan_limit",
            format!("the {} plan allows {} WhatsApp number(s)", t.plan, t.limit_max_numbers),
        ));
    }
    let id = crate::db::new_id();
    let now = crate::db::now();
    let keys = &state.config.encryption_keys;
    let verify_token = input.verify_token.unwrap_or_else(|| switchboard_crypto::token::random_token("vt_", 18));
    let model = whatsapp_accounts::ActiveModel {
        quality_rating: Set(None),
        messaging_limit: Set(None),
        id: Set(id),
        tenant_id: Set(tenant.0),
        name: Set(input.name),
        waba_id: Set(input.waba_id),
        phone_number_id: Set(input.phone_number_id),
        display_phone_number: Set(input.display_phone_number.or(display_from_graph).unwrap_or_default()),
        access_token_enc: Set(secrets::encrypt(keys, tenant.0, id, Purpose::AccessToken, &input.access_token)),
        access_token_last4: Set(last4(&input.access_token)),
        app_secret_enc: Set(input.app_secret.map(|s| secrets::encrypt(keys, tenant.0, id, Purpose::AppSecret, &s))),
        verify_token: Set(verify_token),
        status: Set(AccountStatus::Active),
        throughput_mps: Set(input.throughput_mps),
        is_sandbox: Set(input.is_sandbox),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await
    .map_err(|e| {
        AppError::unique_or_db(e, "phone_number_taken", "this phone number id is already connected to a workspace")
    })?;
    // A WhatsApp Business Account is one business's: its WABA-level webhooks (template statuses,
    // account updates) are routed by its id, so a second workspace must not claim it too.
    let elsewhere = whatsapp_accounts::Entity::find()
        .filter(whatsapp_accounts::Column::WabaId.eq(model.waba_id.as_str()))
        .filter(whatsapp_accounts::Column::TenantId.ne(tenant.0))
        .count(&txn)
        .await?;
    if elsewhere > 0 {
        return Err(AppError::conflict(
            "waba_taken",
            "this WhatsApp Business Account is connected to another workspace",
        ));
    }
    audit::record(
        &txn,
        audit::Entry {
            tenant_id: Some(tenant.0),
            actor_user_id: Some(actor.0),
            action: "whatsapp_account.create",
            target_type: Some("whatsapp_account"),
            target_id: Some(id.to_string()),
            details: json!({ "phoneNumberId": model.phone_number_id, "sandbox": model.is_sandbox }),
            ip: None,
        },
    )
    .await?;
    // Templates sync hourly per number; the first run an hour from now (POST /api/templates/sync for now).
    // Its templates' hourly sync (the templates feature handles the job).
    let sync =
        crate::jobs::payloads::SyncTemplates::at(tenant.0, id, now + crate::jobs::payloads::SyncTemplates::EVERY);
    crate::jobs::enqueue(&txn, sync).await?;
    txn.commit().await?;
    state.directory.invalidate();
    Ok(model)
}

pub async fn list<C: ConnectionTrait>(db: &C, tenant: TenantId) -> AppResult<Vec<whatsapp_accounts::Model>> {
    Ok(whatsapp_accounts::Entity::of(tenant).order_by_asc(whatsapp_accounts::Column::CreatedAt).all(db).await?)
}

/// The tenant's account, or 404 (also for another tenant's id).
pub async fn get<C: ConnectionTrait>(db: &C, tenant: TenantId, id: Uuid) -> AppResult<whatsapp_accounts::Model> {
    whatsapp_accounts::Entity::secure_find(db, tenant, id).await?.ok_or_else(|| AppError::not_found("whatsapp account"))
}

/// Parsed changes to an account.
#[derive(Default)]
pub struct AccountChanges {
    pub name: Option<String>,
    pub access_token: Option<String>,
    /// `Some(None)` removes the account's own app secret.
    pub app_secret: Option<Option<String>>,
    pub verify_token: Option<String>,
    pub status: Option<AccountStatus>,
    pub throughput_mps: Option<i32>,
}

pub async fn update(
    state: &AppState,
    tenant: TenantId,
    actor: UserId,
    id: Uuid,
    ch: AccountChanges,
) -> AppResult<whatsapp_accounts::Model> {
    let txn = sea_orm::TransactionTrait::begin(state.writer()).await?;
    let current = get(&txn, tenant, id).await?;
    let keys = &state.config.encryption_keys;
    let mut am: whatsapp_accounts::ActiveModel = current.clone().into();
    let mut changed = Vec::new();
    if let Some(n) = ch.name {
        am.name = Set(n);
        changed.push("name");
    }
    if let Some(t) = ch.access_token {
        am.access_token_enc = Set(secrets::encrypt(keys, tenant.0, id, Purpose::AccessToken, &t));
        am.access_token_last4 = Set(last4(&t));
        // New credentials: a number waiting for re-authorisation can send again.
        if current.status == AccountStatus::NeedsReauth && ch.status.is_none() {
            am.status = Set(AccountStatus::Active);
        }
        changed.push("accessToken");
    }
    if let Some(s) = ch.app_secret {
        am.app_secret_enc = Set(s.map(|s| secrets::encrypt(keys, tenant.0, id, Purpose::AppSecret, &s)));
        changed.push("appSecret");
    }
    if let Some(v) = ch.verify_token {
        am.verify_token = Set(v);
        changed.push("verifyToken");
    }
    if let Some(s) = ch.status {
        am.status = Set(s);
        changed.push("status");
    }
    if let Some(t) = ch.throughput_mps {
        am.throughput_mps = Set(t);
        changed.push("throughputMps");
    }
    am.updated_at = Set(crate::db::now());
    let updated = am.update(&txn).await?;
    audit::record(
        &txn,
        audit::Entry {
            tenant_id: Some(tenant.0),
            actor_user_id: Some(actor.0),
            action: "whatsapp_account.update",
            target_type: Some("whatsapp_account"),
            target_id: Some(id.to_string()),
            details: json!({ "changed": changed }),
            ip: None,
        },
    )
    .await?;
    // Back from needs_reauth: sends that were waiting for credentials go now.
    if current.status == AccountStatus::NeedsReauth && updated.status == AccountStatus::Active {
        use crate::entities::{enums::JobState, jobs};

        let now = crate::db::now();
        jobs::Entity::update_of(tenant)
            .col_expr(jobs::Column::RunAt, sea_orm::sea_query::Expr::value(now))
            .filter(jobs::Column::Queue.eq(crate::jobs::queues::MESSAGE_SEND))
            .filter(jobs::Column::State.eq(JobState::Pending))
            .filter(jobs::Column::RunAt.gt(now))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    state.directory.invalidate();
    state.jobs_wakeup.wake(crate::jobs::queues::MESSAGE_SEND);
    Ok(updated)
}

/// Deletes an account that has no conversations; one with history must be disabled instead, so
/// that no customer conversation is lost by accident.
pub async fn delete(state: &AppState, tenant: TenantId, actor: UserId, id: Uuid) -> AppResult<()> {
    let txn = sea_orm::TransactionTrait::begin(state.writer()).await?;
    let acct = get(&txn, tenant, id).await?;
    let used =
        conversations::Entity::of(tenant).filter(conversations::Column::WhatsappAccountId.eq(id)).count(&txn).await?;
    if used > 0 {
        return Err(AppError::conflict(
            "account_in_use",
            format!("this number has {used} conversation(s); set its status to disabled instead"),
        ));
    }
    whatsapp_accounts::Entity::delete_by_id(acct.id).exec(&txn).await?;
    audit::record(
        &txn,
        audit::Entry {
            tenant_id: Some(tenant.0),
            actor_user_id: Some(actor.0),
            action: "whatsapp_account.delete",
            target_type: Some("whatsapp_account"),
            target_id: Some(id.to_string()),
            details: json!({ "phoneNumberId": acct.phone_number_id }),
            ip: None,
        },
    )
    .await?;
    txn.commit().await?;
    state.directory.invalidate();
    Ok(())
}

/// Decrypts an account's access token for a Graph call.
pub fn access_token(state: &AppState, a: &whatsapp_accounts::Model) -> AppResult<AccessToken> {
    secrets::decrypt(&state.config.encryption_keys, a.tenant_id, a.id, Purpose::AccessToken, &a.access_token_enc)
        .map(AccessToken::new)
}

/// Creates a number in the built-in simulator, wired to this server's webhook endpoint.
pub async fn create_sandbox(state: &AppState, tenant: TenantId, actor: UserId) -> AppResult<whatsapp_accounts::Model> {
    let Some(sim) = state.sandbox.as_ref() else {
        return Err(AppError::new(
            axum::http::StatusCode::NOT_IMPLEMENTED,
            "sandbox_disabled",
            "the sandbox is turned off on this server (SWITCHBOARD_SANDBOX=false)",
        ));
    };
    let n: u64 = Uuid::new_v4().as_u64_pair().0 % 1_000_000_000;
    let phone_number_id = format!("1{n:014}");
    let waba_id = format!("2{n:014}");
    let display = format!("+1 555 {:03} {:04}", n % 1000, (n / 1000) % 10_000);
    let token = switchboard_crypto::token::random_token("EAAsandbox", 24);
    let app_secret = switchboard_crypto::token::random_token("", 24);
    sim.sim.register_number(
        meta_sim::NumberSpec::new(&waba_id, &phone_number_id, &display, &token, &app_secret)
            .with_webhook_url(format!("{}/api/webhooks/whatsapp", state.public_url())),
    );
    let input = NewAccount {
        name: "Sandbox".into(),
        waba_id,
        phone_number_id,
        display_phone_number: Some(display),
        access_token: token,
        app_secret: Some(app_secret),
        verify_token: None,
        throughput_mps: 80,
        is_sandbox: true,
    };
    create(state, tenant, actor, input, None).await
}

/// `phone_number_quality_update` (the number's messaging limit, flagged or not) and
/// `business_capability_update` (the portfolio's daily limit, for every number of the WABA).
/// `phone_number_quality_update` / `business_capability_update` applied to the numbers.
pub async fn apply_limits(
    txn: &sea_orm::DatabaseTransaction,
    events: &mut Vec<crate::events::DomainEvent>,
    acct: &crate::directory::RoutedAccount,
    field: &str,
    value: &serde_json::Value,
) -> Result<(), sea_orm::DbErr> {
    let tier = |v: Option<&serde_json::Value>| -> Option<String> {
        match v? {
            serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
            serde_json::Value::Number(n) => Some(match n.as_i64()? {
                -1 => "TIER_UNLIMITED".into(),
                250 => "TIER_250".into(),
                1000 => "TIER_1K".into(),
                2000 => "TIER_2K".into(),
                10000 => "TIER_10K".into(),
                100000 => "TIER_100K".into(),
                n => format!("TIER_{n}"),
            }),
            _ => None,
        }
    };
    let limit = tier(value.get("current_limit"))
        .or_else(|| tier(value.get("max_daily_conversations_per_business")))
        .or_else(|| tier(value.get("max_daily_conversation_per_phone")));
    let quality = value.get("quality_rating").and_then(serde_json::Value::as_str).map(str::to_string).or_else(|| {
        match value.get("event").and_then(serde_json::Value::as_str) {
            Some("FLAGGED") => Some("FLAGGED".into()),
            Some("UNFLAGGED") => Some("GREEN".into()),
            _ => None,
        }
    });
    if limit.is_none() && quality.is_none() {
        return Ok(());
    }
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
    let number = value.get("display_phone_number").and_then(serde_json::Value::as_str).map(digits);
    let accounts = whatsapp_accounts::Entity::of(TenantId(acct.tenant_id))
        .filter(whatsapp_accounts::Column::WabaId.eq(acct.waba_id.as_str()))
        .all(txn)
        .await?;
    for a in accounts {
        // A quality update names its number; a capability update is for the whole WABA.
        if field == "phone_number_quality_update"
            && number.as_deref().is_some_and(|n| digits(&a.display_phone_number) != n)
            && a.id != acct.id
        {
            continue;
        }
        let mut q = whatsapp_accounts::Entity::update_many()
            .col_expr(whatsapp_accounts::Column::UpdatedAt, sea_orm::sea_query::Expr::value(crate::db::now()))
            .filter(whatsapp_accounts::Column::Id.eq(a.id));
        if let Some(l) = &limit {
            q = q.col_expr(whatsapp_accounts::Column::MessagingLimit, sea_orm::sea_query::Expr::value(l.clone()));
        }
        if let Some(r) = &quality {
            q = q.col_expr(whatsapp_accounts::Column::QualityRating, sea_orm::sea_query::Expr::value(r.clone()));
        }
        q.exec(txn).await?;
        events.push(crate::events::DomainEvent::new(
            acct.tenant_id,
            crate::events::Event::AccountUpdated(crate::events::AccountUpdated {
                whatsapp_account_id: a.id,
                quality_rating: quality.clone().or(a.quality_rating.clone()),
                messaging_limit: limit.clone().or(a.messaging_limit.clone()),
            }),
        ));
    }
    Ok(())
}
