//! The `message-send` queue: paces sends at Meta's limits and records the outcome.
//!
//! Pacing: a GCRA per number at the account's throughput (80/s by default, up to 1,000/s), per
//! recipient (1 per 6 s, burst 45: Meta's pair rate), and the tenant's plan per minute. A job that
//! must wait is deferred (no attempt spent).
//!
//! Never twice: `send_started_at` is committed before the request to Meta. A job that finds it set
//! without a wamid (a crash or a timeout after the request left) does not send again: the message
//! is failed as `outcome_unknown`. Meta echoes our message id in `biz_opaque_callback_data`, so a
//! status webhook for it later attaches the wamid and corrects the status. Retries happen only
//! when Meta certainly did not accept the message (an error answer, or no connection at all).

use std::sync::Arc;
use std::time::Duration;

use meta_cloud::client::GraphError;
use meta_cloud::error::ErrorClass;
use meta_cloud::send::SendRequest;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::entities::enums::{AccountStatus, MessageStatus};
use crate::entities::{contacts, conversations, media, messages, tenants, whatsapp_accounts};
use crate::events::DomainEvent;
use crate::jobs::Outcome;
use crate::jobs::runner::Handler;
use crate::ratelimit::Rate;
use crate::state::AppState;

/// Longest pacing wait spent inside a job before it is deferred through the queue instead.
const MAX_INLINE_WAIT: Duration = Duration::from_secs(5);

pub fn handler() -> Handler {
    Arc::new(|state, job| {
        Box::pin(async move {
            if job.payload.get("kind").and_then(Value::as_str) == Some("markRead") {
                return mark_read(&state, &job.payload).await;
            }
            let id = job
                .payload
                .get("messageId")
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<Uuid>().ok())
                .ok_or_else(|| Outcome::Dead { error: "payload has no messageId".into() })?;
            send(&state, id, job.attempts).await
        })
    })
}

fn db_retry(e: sea_orm::DbErr) -> Outcome {
    Outcome::Retry { error: e.to_string(), after: None }
}

/// Marks the message failed with Meta's (or our) code, title and details.
async fn fail(
    state: &AppState,
    m: &messages::Model,
    code: Option<i64>,
    title: &str,
    details: Option<String>,
) -> Result<(), Outcome> {
    let now = crate::db::now();
    crate::messages::status::apply(
        state.writer(),
        m.tenant_id,
        m.id,
        MessageStatus::Failed,
        now,
        Some(crate::messages::status::Failure {
            code: code.map(|c| c as i32),
            title: Some(title.to_string()),
            details,
        }),
    )
    .await
    .map_err(db_retry)?;
    publish_status(state, m.id).await;
    Ok(())
}

async fn publish_status(state: &AppState, id: Uuid) {
    if let Ok(Some(m)) = messages::Entity::find_by_id(id).one(&state.db).await {
        state.events.publish(DomainEvent {
            tenant_id: m.tenant_id,
            kind: "message.status",
            data: json!({
                "messageId": m.id, "conversationId": m.conversation_id, "status": m.status, "waMessageId": m.wa_message_id,
                "error": m.error_code.map(|c| json!({"code": c, "title": m.error_title, "details": m.error_details})),
            }),
        });
    }
}

async fn send(state: &AppState, id: Uuid, attempt: i32) -> Result<(), Outcome> {
    let Some(m) = messages::Entity::find_by_id(id).one(&state.db).await.map_err(db_retry)? else {
        return Err(Outcome::Dead { error: format!("message {id} not found") });
    };
    if m.status != MessageStatus::Queued || m.wa_message_id.is_some() {
        return Ok(()); // already sent or failed: a duplicate job does nothing
    }
    if m.send_started_at.is_some() {
        return fail(
            state,
            &m,
            None,
            "outcome_unknown",
            Some(
                "the request to Meta was interrupted; the message may have been delivered and is not sent again".into(),
            ),
        )
        .await;
    }
    let conv = conversations::Entity::find_by_id(m.conversation_id)
        .one(&state.db)
        .await
        .map_err(db_retry)?
        .ok_or_else(|| Outcome::Dead { error: "conversation not found".into() })?;
    let acct = whatsapp_accounts::Entity::find_by_id(conv.whatsapp_account_id)
        .one(&state.db)
        .await
        .map_err(db_retry)?
        .ok_or_else(|| Outcome::Dead { error: "account not found".into() })?;
    let contact = contacts::Entity::find_by_id(conv.contact_id)
        .one(&state.db)
        .await
        .map_err(db_retry)?
        .ok_or_else(|| Outcome::Dead { error: "contact not found".into() })?;
    let tenant = tenants::Entity::find_by_id(m.tenant_id)
        .one(&state.db)
        .await
        .map_err(db_retry)?
        .ok_or_else(|| Outcome::Dead { error: "tenant not found".into() })?;

    match acct.status {
        // Waiting for new credentials: keep the message queued.
        AccountStatus::NeedsReauth => {
            return Err(Outcome::Defer {
                after: Duration::from_secs(30),
                reason: "account needs re-authorisation".into(),
            });
        }
        AccountStatus::Disabled => return fail(state, &m, None, "account_disabled", None).await,
        AccountStatus::Active => {}
    }
    if tenant.status == crate::entities::enums::TenantStatus::Suspended {
        return fail(state, &m, None, "tenant_suspended", None).await;
    }

    // Pacing: the number, the plan, then the recipient.
    let limits = [
        (format!("num:{}", acct.id), Rate::per_second(acct.throughput_mps.max(1) as f64).burst(1)),
        (
            format!("plan:{}", tenant.id),
            Rate::per_second(tenant.limit_messages_per_minute.max(1) as f64 / 60.0)
                .burst(tenant.limit_messages_per_minute.max(1) as u32),
        ),
        (
            format!("pair:{}:{}", acct.id, contact.wa_id.clone().unwrap_or_default()),
            Rate::per_second(1.0 / 6.0).burst(45),
        ),
    ];
    // A short wait is slept in place (the job keeps its slot); only a long one goes back to the
    // queue. Deferring every lost cell through the job table cost more than the send itself and
    // held numbers far below their rate (docs/BENCHMARKS.md).
    let started_pacing = std::time::Instant::now();
    for (key, rate) in &limits {
        loop {
            match state.limiter.acquire(key, *rate).await {
                Ok(()) => break,
                Err(wait) if started_pacing.elapsed() + wait <= MAX_INLINE_WAIT => tokio::time::sleep(wait).await,
                Err(wait) => return Err(Outcome::Defer { after: wait, reason: format!("pacing {key}") }),
            }
        }
    }

    let token = crate::accounts::service::access_token(state, &acct).map_err(|e| Outcome::Dead { error: e.message })?;
    let graph = state.graph_for(&acct);

    // Uploaded files go to Meta first (their Meta id replaces ours).
    let mut body = m.content.clone();
    // (A media message's body, or a template's header parameter.)
    if let Some(local) = crate::templates::params::local_media_slot(&mut body)
        .and_then(|o| o.get("localMediaId"))
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<Uuid>().ok())
    {
        let file = media::Entity::find_by_id(local)
            .filter(media::Column::TenantId.eq(m.tenant_id))
            .one(&state.db)
            .await
            .map_err(db_retry)?
            .ok_or_else(|| Outcome::Dead { error: "uploaded media not found".into() })?;
        let bytes = tokio::fs::read(state.config.media_dir.join(&file.path))
            .await
            .map_err(|e| Outcome::Retry { error: format!("reading media: {e}"), after: None })?;
        let up = graph
            .upload_media(
                &token,
                &acct.phone_number_id,
                bytes,
                &file.mime_type,
                file.filename.as_deref().unwrap_or("file"),
            )
            .await;
        match up {
            Ok(u) => {
                if let Some(o) = crate::templates::params::local_media_slot(&mut body) {
                    o.remove("localMediaId");
                    o.insert("id".into(), Value::String(u.id));
                }
            }
            Err(e) => return handle_error(state, &m, &acct, e, attempt, false).await,
        }
    }

    let to = contact.wa_id.clone().ok_or_else(|| Outcome::Dead { error: "contact has no WhatsApp id".into() })?;
    let mut request = json!({
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
        "type": m.msg_type, m.msg_type.clone(): body, "biz_opaque_callback_data": m.id.to_string(),
    });
    if let Some(w) = &m.reply_to_wa_id
        && m.msg_type != "reaction"
    {
        request["context"] = json!({ "message_id": w });
    }
    let request = match SendRequest::from_value(request) {
        Ok(r) => r,
        Err(e) => return fail(state, &m, None, "invalid_request", Some(e)).await,
    };

    // Commit that the request is about to leave before it leaves.
    let started = messages::Entity::update_many()
        .col_expr(messages::Column::SendStartedAt, Expr::value(crate::db::now()))
        .filter(messages::Column::Id.eq(m.id))
        .filter(messages::Column::SendStartedAt.is_null())
        .exec(state.writer())
        .await
        .map_err(db_retry)?;
    if started.rows_affected != 1 {
        return Ok(()); // another worker got here first
    }
    match graph.send_message(&token, &acct.phone_number_id, &request).await {
        Ok(resp) => {
            let Some(wamid) = resp.message_id().map(str::to_string) else {
                return fail(state, &m, None, "outcome_unknown", Some("Meta accepted without a message id".into()))
                    .await;
            };
            record_sent(state, &m, &wamid).await
        }
        Err(e) => handle_error(state, &m, &acct, e, attempt, true).await,
    }
}

/// Records the wamid and `sent`, and applies statuses that arrived before it.
async fn record_sent(state: &AppState, m: &messages::Model, wamid: &str) -> Result<(), Outcome> {
    let txn = state.writer().begin().await.map_err(db_retry)?;
    let now = crate::db::now();
    messages::Entity::update_many()
        .col_expr(messages::Column::WaMessageId, Expr::value(wamid))
        .col_expr(messages::Column::UpdatedAt, Expr::value(now))
        .filter(messages::Column::Id.eq(m.id))
        .exec(&txn)
        .await
        .map_err(db_retry)?;
    crate::messages::status::apply(&txn, m.tenant_id, m.id, MessageStatus::Sent, now, None).await.map_err(db_retry)?;
    let updated = messages::Entity::find_by_id(m.id).one(&txn).await.map_err(db_retry)?;
    let mut events = Vec::new();
    if let Some(u) = &updated {
        crate::webhooks::processor::apply_pending_statuses(&txn, &mut events, u).await.map_err(db_retry)?;
    }
    txn.commit().await.map_err(db_retry)?;
    for e in events {
        state.events.publish(e);
    }
    publish_status(state, m.id).await;
    Ok(())
}

/// Clears `send_started_at`: Meta certainly did not take the message, so it may be sent again.
async fn release(state: &AppState, m: &messages::Model) -> Result<(), Outcome> {
    messages::Entity::update_many()
        .col_expr(messages::Column::SendStartedAt, Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None))
        .filter(messages::Column::Id.eq(m.id))
        .exec(state.writer())
        .await
        .map_err(db_retry)?;
    Ok(())
}

async fn handle_error(
    state: &AppState,
    m: &messages::Model,
    acct: &whatsapp_accounts::Model,
    e: GraphError,
    attempt: i32,
    started: bool,
) -> Result<(), Outcome> {
    let attempt = attempt.max(0) as u32;
    match &e {
        GraphError::Api { class, body, .. } => {
            if started {
                release(state, m).await?;
            }
            let code = body.code;
            let details = body.error_data.as_ref().and_then(|d| d.details.clone()).or(Some(body.message.clone()));
            match class {
                ErrorClass::RetryLater => Err(Outcome::Retry {
                    error: e.to_string(),
                    after: meta_cloud::error::retry_after(code, attempt).or(Some(Duration::from_secs(1))),
                }),
                ErrorClass::Credentials => {
                    needs_reauth(state, acct, &e).await?;
                    Err(Outcome::Defer {
                        after: Duration::from_secs(30),
                        reason: "account needs re-authorisation".into(),
                    })
                }
                ErrorClass::WindowClosed => fail(state, m, Some(code), "window_closed", details).await,
                ErrorClass::QualityHold => {
                    Err(Outcome::Retry { error: e.to_string(), after: Some(Duration::from_secs(24 * 3600)) })
                }
                _ => fail(state, m, Some(code), &body.message, details).await,
            }
        }
        // No connection was made: certainly not sent.
        GraphError::Connect(_) => {
            if started {
                release(state, m).await?;
            }
            Err(Outcome::Retry { error: e.to_string(), after: None })
        }
        GraphError::Status { status, .. } if *status == 429 || (*status >= 500 && !started) => {
            if started {
                release(state, m).await?;
            }
            Err(Outcome::Retry { error: e.to_string(), after: None })
        }
        // The request may have reached Meta: never resend (see the module docs).
        GraphError::Timeout | GraphError::Transport(_) | GraphError::Decode(_) | GraphError::Status { .. }
            if started =>
        {
            fail(state, m, None, "outcome_unknown", Some(format!("{e}; not resent to avoid a duplicate"))).await
        }
        _ => {
            if started {
                release(state, m).await?;
            }
            Err(Outcome::Retry { error: e.to_string(), after: None })
        }
    }
}

/// Credentials rejected: the account waits for new ones (its sends stay queued) and admins are told.
async fn needs_reauth(state: &AppState, acct: &whatsapp_accounts::Model, e: &GraphError) -> Result<(), Outcome> {
    let r = whatsapp_accounts::Entity::update_many()
        .col_expr(whatsapp_accounts::Column::Status, Expr::value(AccountStatus::NeedsReauth.as_str()))
        .col_expr(whatsapp_accounts::Column::UpdatedAt, Expr::value(crate::db::now()))
        .filter(whatsapp_accounts::Column::Id.eq(acct.id))
        .filter(whatsapp_accounts::Column::Status.eq(AccountStatus::Active))
        .exec(state.writer())
        .await
        .map_err(db_retry)?;
    if r.rows_affected == 1 {
        state.directory.invalidate();
        crate::audit::record(
            state.writer(),
            crate::audit::Entry {
                tenant_id: Some(acct.tenant_id),
                actor_user_id: None,
                action: "whatsapp_account.needs_reauth",
                target_type: Some("whatsapp_account"),
                target_id: Some(acct.id.to_string()),
                details: json!({ "error": e.to_string() }),
                ip: None,
            },
        )
        .await
        .map_err(|e| Outcome::Retry { error: e.message, after: None })?;
        state.events.publish(DomainEvent {
            tenant_id: acct.tenant_id,
            kind: "account.needs_reauth",
            data: json!({ "whatsappAccountId": acct.id, "phoneNumberId": acct.phone_number_id, "error": e.to_string() }),
        });
        tracing::warn!(account = %acct.id, "WhatsApp account credentials rejected; sends wait for new credentials");
    }
    Ok(())
}

async fn mark_read(state: &AppState, p: &Value) -> Result<(), Outcome> {
    let account: Uuid = p
        .get("accountId")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Outcome::Dead { error: "payload has no accountId".into() })?;
    let wamid = p.get("waMessageId").and_then(Value::as_str).unwrap_or_default();
    let acct = whatsapp_accounts::Entity::find_by_id(account)
        .one(&state.db)
        .await
        .map_err(db_retry)?
        .ok_or_else(|| Outcome::Dead { error: "account not found".into() })?;
    if acct.status != AccountStatus::Active {
        return Err(Outcome::Defer { after: Duration::from_secs(30), reason: "account not active".into() });
    }
    let token = crate::accounts::service::access_token(state, &acct).map_err(|e| Outcome::Dead { error: e.message })?;
    match state.graph_for(&acct).mark_read(&token, &acct.phone_number_id, wamid, true).await {
        Ok(_) => Ok(()),
        Err(GraphError::Api { class: ErrorClass::RetryLater, .. })
        | Err(GraphError::Connect(_))
        | Err(GraphError::Timeout) => Err(Outcome::Retry { error: "mark-as-read failed".into(), after: None }),
        Err(GraphError::Api { class: ErrorClass::Credentials, .. }) => {
            Err(Outcome::Defer { after: Duration::from_secs(60), reason: "credentials".into() })
        }
        // A read receipt is best effort: an old or unknown message is not worth retrying.
        Err(e) => Err(Outcome::Dead { error: e.to_string() }),
    }
}
