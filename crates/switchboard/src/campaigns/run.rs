//! The `campaign-run` job: plans the audience, then creates each recipient's message at the
//! number's pace, a round at a time, until none is pending. Every round re-reads the campaign: a
//! pause, a cancel or a newer run (another start or resume) ends this one.

use std::sync::Arc;
use std::time::Duration;

use phonenumber::country::Id::US;

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, TransactionTrait};

use super::service::{self, mark};
use super::window::SendWindow;
use super::{Variables, client_message_id, values_for};
use crate::domain::Country;
use crate::entities::enums::{CampaignState, RecipientState};
use crate::entities::{campaign_recipients, campaigns, contacts, templates, tenants};
use crate::error::{AppError, AppResult};
use crate::ids::TenantId;
use crate::jobs::Outcome;
use crate::jobs::payloads::{RetryLimited, RunCampaign};
use crate::jobs::runner::Handler;
use crate::messages::outbound::{self, SendMessageRequest};
use crate::state::AppState;

/// Seconds of the number's throughput that may wait in the send queue at once.
const WINDOW_SECS: u64 = 5;
/// Recipients one round handles at most.
const ROUND: u64 = 200;
/// The pause between rounds while sends are in flight.
const BETWEEN_ROUNDS: Duration = Duration::from_millis(200);

pub fn handler() -> Handler<AppState> {
    Arc::new(|state, job| Box::pin(async move { run(&state, &job).await }))
}

fn retry(e: DbErr) -> Outcome {
    Outcome::Retry { error: e.to_string(), after: None }
}

async fn run(state: &AppState, job: &crate::entities::jobs::Model) -> Result<(), Outcome> {
    let p = <RunCampaign as crate::jobs::Job>::of(job)?;
    let Some(mut c) = campaigns::Entity::find_by_id(p.campaign_id).one(&state.db).await.map_err(retry)? else {
        return Ok(()); // deleted
    };
    if c.run_generation != p.generation {
        return Ok(()); // a newer start or resume has its own run
    }
    match c.state {
        CampaignState::Running => {}
        CampaignState::Scheduled => {
            // Its time has come (the job was scheduled for it).
            let started = campaigns::Entity::update_many()
                .col_expr(campaigns::Column::State, Expr::value(CampaignState::Running.as_str()))
                .col_expr(campaigns::Column::UpdatedAt, Expr::value(crate::db::now()))
                .filter(campaigns::Column::Id.eq(c.id))
                .filter(campaigns::Column::State.eq(CampaignState::Scheduled))
                .filter(campaigns::Column::RunGeneration.eq(c.run_generation))
                .exec(state.writer())
                .await
                .map_err(retry)?;
            if started.rows_affected == 0 {
                return Ok(());
            }
            c.state = CampaignState::Running;
            service::announce(&state.events, &c);
        }
        _ => return Ok(()), // paused, cancelled, completed: this run is over
    }
    let tenant = TenantId(c.tenant_id);
    let Some(template) = templates::Entity::find_by_id(c.template_id).one(&state.db).await.map_err(retry)? else {
        service::settle(
            state.writer(),
            &state.events,
            &c,
            CampaignState::Failed,
            Some("the template was deleted".into()),
        )
        .await
        .map_err(retry)?;
        return Ok(());
    };
    if !template.status.eq_ignore_ascii_case("APPROVED") {
        let why = format!("held by Meta: the template is {}", template.status);
        service::settle(state.writer(), &state.events, &c, CampaignState::Paused, Some(why)).await.map_err(retry)?;
        return Ok(());
    }
    if !c.planned {
        service::plan(state.writer(), &c).await.map_err(retry)?;
    }
    let account = match crate::accounts::service::get(&state.db, tenant, c.whatsapp_account_id).await {
        Ok(a) => a,
        Err(e) => {
            service::settle(state.writer(), &state.events, &c, CampaignState::Failed, Some(e.message))
                .await
                .map_err(retry)?;
            return Ok(());
        }
    };
    let Some(tenant_row) = tenants::Entity::find_by_id(c.tenant_id).one(&state.db).await.map_err(retry)? else {
        return Ok(());
    };
    // Too many of this run's sends failing (a broken template, a number in trouble): stop, with
    // the reason, instead of failing the whole audience.
    if let Some(why) = failing(state, &c, job.created_at).await? {
        service::settle(state.writer(), &state.events, &c, CampaignState::Paused, Some(why)).await.map_err(retry)?;
        return Ok(());
    }
    let pacing = (account.throughput_mps.max(1) as u64 * WINDOW_SECS).max(20);
    let flying = service::in_flight(&state.db, &c).await.map_err(retry)?;
    if flying >= pacing {
        return Err(Outcome::Defer { after: BETWEEN_ROUNDS, reason: "pacing: the send window is full".into() });
    }
    let batch = service::pending(&state.db, &c, (pacing - flying).min(ROUND)).await.map_err(retry)?;
    if batch.is_empty() {
        let completed =
            service::settle(state.writer(), &state.events, &c, CampaignState::Completed, None).await.map_err(retry)?;
        if completed {
            service::progress(&state.db, &state.events, &c, true).await.map_err(retry)?;
        }
        if completed && state.config.campaign_limited_retries > 0 {
            // Recipients Meta limits (131049, reported as their statuses arrive) are tried again
            // after the delay, by a job keyed by this run.
            let at = crate::db::now()
                + chrono::Duration::from_std(state.config.campaign_limited_retry).unwrap_or(chrono::Duration::days(1));
            let p = RetryLimited { campaign_id: c.id, round: c.run_generation };
            let job = crate::jobs::Job::job(&p)
                .unique(format!("{}:{}", c.id, c.run_generation))
                .tenant(c.tenant_id)
                .attempts(20)
                .at(at);
            crate::jobs::enqueue(state.writer(), job).await.map_err(retry)?;
        }
        return Ok(());
    }
    if let Some(wait) = outside_send_window(state, &c, &tenant_row).await? {
        return Err(wait);
    }
    let vars: Variables = serde_json::from_value(c.variables.clone()).unwrap_or_default();
    let marketing = template.category.eq_ignore_ascii_case("MARKETING");
    // The marketing frequency cap: the round's contacts' recent marketing sends, in one query.
    let cap = if marketing { crate::settings::service::dto(&tenant_row).marketing_cap } else { None };
    let mut recent = match cap {
        Some(cap) => {
            let since = crate::db::now() - chrono::Duration::days(i64::from(cap.days));
            let ids: Vec<uuid::Uuid> = batch.iter().map(|r| r.contact_id).collect();
            service::recent_marketing(&state.db, tenant, &ids, since).await.map_err(retry)?
        }
        None => Default::default(),
    };
    let ctx = Ctx {
        state,
        campaign: &c,
        account: &account,
        template: &template,
        tenant: &tenant_row,
        vars: &vars,
        marketing,
        cap: cap.map(|c| (u64::from(c.messages), c.days)),
    };
    for r in batch {
        let sent_before = recent.get(&r.contact_id).copied().unwrap_or(0);
        match ctx.send_one(&r, sent_before).await? {
            Sent::Queued => *recent.entry(r.contact_id).or_default() += 1,
            Sent::Not => {}
            Sent::StopAll(why) => {
                // A rule that stops every send (suspended, disabled, quota): the campaign waits.
                service::settle(state.writer(), &state.events, &c, CampaignState::Paused, Some(why))
                    .await
                    .map_err(retry)?;
                return Ok(());
            }
        }
    }
    service::progress(&state.db, &state.events, &c, false).await.map_err(retry)?;
    Err(Outcome::Defer { after: BETWEEN_ROUNDS, reason: "next round".into() })
}

/// Sends considered by the failure-rate rule, and how many must be decided before it applies.
const FAILURE_WINDOW: u64 = 200;
const FAILURE_MIN_DECIDED: u64 = 20;

/// `Some(reason)` when more than the configured share of this run's last 200 decided sends failed.
/// Only sends since the run began count, so a person resuming after fixing the cause starts afresh.
async fn failing(
    state: &AppState,
    c: &campaigns::Model,
    run_began: chrono::DateTime<chrono::Utc>,
) -> Result<Option<String>, Outcome> {
    let limit = u64::from(state.config.campaign_failure_pause_percent);
    if limit == 0 {
        return Ok(None);
    }
    let (decided, failed, top) =
        service::recent_outcomes(&state.db, c, run_began, FAILURE_WINDOW).await.map_err(retry)?;
    if decided < FAILURE_MIN_DECIDED || failed * 100 <= decided * limit {
        return Ok(None);
    }
    let most = top
        .map(|code| {
            format!(
                ", most with {code} ({})",
                meta_cloud::error::title(i64::from(code)).unwrap_or("see the recipients")
            )
        })
        .unwrap_or_default();
    Ok(Some(format!(
        "paused: {failed} of the last {decided} sends failed ({}%, over the {limit}% limit){most}",
        failed * 100 / decided
    )))
}

/// The reason shown while a campaign waits for its send window (cleared when it opens).
const WAITING: &str = "waiting for the send window";

/// Outside the campaign's daily send window: the run waits (without spending an attempt) until it
/// opens, and the campaign says so. Inside, a stale "waiting" reason is cleared.
async fn outside_send_window(
    state: &AppState,
    c: &campaigns::Model,
    tenant: &tenants::Model,
) -> Result<Option<Outcome>, Outcome> {
    let Some(w) = SendWindow::of(c) else {
        return Ok(None);
    };
    let tz = crate::settings::service::dto(tenant).zone();
    let now = crate::db::now();
    let reason = if w.contains(tz, now) {
        None
    } else {
        let opens = w.next_open(tz, now);
        Some((
            opens,
            format!(
                "{WAITING} {}; it opens at {}",
                w.describe(tz),
                opens.with_timezone(&tz.0).format("%Y-%m-%d %H:%M")
            ),
        ))
    };
    let shown = c.state_reason.as_deref().unwrap_or("");
    let want = reason.as_ref().map(|(_, r)| r.as_str());
    let stale = shown.starts_with(WAITING) && want.is_none();
    if want.is_some_and(|r| r != shown) || stale {
        let r = campaigns::Entity::update_many()
            .col_expr(campaigns::Column::StateReason, Expr::value(want.map(str::to_string)))
            .col_expr(campaigns::Column::UpdatedAt, Expr::value(now))
            .filter(campaigns::Column::Id.eq(c.id))
            .filter(campaigns::Column::State.eq(CampaignState::Running))
            .filter(campaigns::Column::RunGeneration.eq(c.run_generation))
            .exec(state.writer())
            .await
            .map_err(retry)?;
        if r.rows_affected == 1 {
            let shown = campaigns::Model { state_reason: want.map(str::to_string), updated_at: now, ..c.clone() };
            service::announce(&state.events, &shown);
        }
    }
    Ok(reason.map(|(opens, why)| {
        let after = (opens - now).to_std().unwrap_or(Duration::from_secs(60)).max(Duration::from_secs(1));
        Outcome::Defer { after, reason: why }
    }))
}

/// What became of one recipient.
enum Sent {
    /// Its message was created.
    Queued,
    /// Skipped or failed, with the reason on the recipient row.
    Not,
    /// A rule that stops every send: the campaign must pause with this reason.
    StopAll(String),
}

pub fn retry_handler() -> Handler<AppState> {
    Arc::new(|state, job| Box::pin(async move { retry_limited(&state, &job).await }))
}

/// The `campaign-retry` job: puts the recipients Meta limited (131049) with attempts left back to
/// pending, each on its next attempt, and runs the campaign again — in one transaction with the
/// new run job. A campaign changed meanwhile (resumed, cancelled, run again) is left alone.
async fn retry_limited(state: &AppState, job: &crate::entities::jobs::Model) -> Result<(), Outcome> {
    let p = <RetryLimited as crate::jobs::Job>::of(job)?;
    let Some(c) = campaigns::Entity::find_by_id(p.campaign_id).one(&state.db).await.map_err(retry)? else {
        return Ok(());
    };
    if c.state != CampaignState::Completed || c.run_generation != p.round {
        return Ok(());
    }
    let max = state.config.campaign_limited_retries as i32;
    let txn = state.writer().begin().await.map_err(retry)?;
    let ids = service::limited_recipients(&txn, &c, max).await.map_err(retry)?;
    if ids.is_empty() {
        return Ok(());
    }
    let reason = format!("trying again {} recipients Meta limited (131049)", ids.len());
    let detail = "tried again after Meta limited it (131049)";
    let Some(again) = service::send_again(&txn, &c, &ids, detail, Some(reason)).await.map_err(retry)? else {
        return Ok(()); // changed meanwhile: the transaction rolls back
    };
    txn.commit().await.map_err(retry)?;
    state.jobs_wakeup.wake(crate::jobs::queues::CAMPAIGN_RUN);
    service::announce(&state.events, &again);
    Ok(())
}

/// Why [`Ctx::message_for`] created no message.
enum NotSent {
    /// A rule or the input refused it (the recipient is skipped or failed with the code).
    Refused(AppError),
    /// The database or the sender's queue failed: try again.
    Transient(AppError),
}

/// A test send: the campaign's template with `contact`'s values, to that one contact now, in any
/// state of the campaign; not a recipient, not in the funnel. With `key` (`Idempotency-Key`) a
/// repeat returns the same message and sends nothing more.
pub async fn test_send(
    state: &AppState,
    tenant: TenantId,
    campaign: uuid::Uuid,
    contact: uuid::Uuid,
    key: Option<String>,
) -> AppResult<crate::entities::messages::Model> {
    use crate::db::scoped::Scoped;
    let c = service::get(&state.db, tenant, campaign).await?;
    let template = templates::Entity::secure_find(&state.db, tenant, c.template_id)
        .await?
        .ok_or_else(|| AppError::conflict("template_deleted", "the campaign's template was deleted"))?;
    if !template.status.eq_ignore_ascii_case("APPROVED") {
        return Err(AppError::conflict(
            "template_not_approved",
            format!("the template is {}; only an approved template can be sent", template.status),
        ));
    }
    let account = crate::accounts::service::get(&state.db, tenant, c.whatsapp_account_id).await?;
    let tenant_row =
        tenants::Entity::find_by_id(tenant.0).one(&state.db).await?.ok_or_else(|| AppError::not_found("tenant"))?;
    let person = contacts::Entity::secure_find(&state.db, tenant, contact)
        .await?
        .ok_or_else(|| AppError::field("contactId", "no such contact"))?;
    let vars: Variables = serde_json::from_value(c.variables.clone()).unwrap_or_default();
    let params = values_for(&vars, &person)
        .map_err(|k| AppError::field("contactId", format!("this contact has no value for template parameter {k}")))?;
    let ctx = Ctx {
        state,
        campaign: &c,
        account: &account,
        template: &template,
        tenant: &tenant_row,
        vars: &vars,
        marketing: false,
        cap: None,
    };
    let client_id = format!("campaign-test:{}:{}", c.id, key.unwrap_or_else(|| crate::db::new_id().to_string()));
    match ctx.message_for(&person, params, client_id).await {
        Ok(m) => Ok(m),
        Err(NotSent::Refused(e) | NotSent::Transient(e)) => Err(e),
    }
}

struct Ctx<'a> {
    state: &'a AppState,
    campaign: &'a campaigns::Model,
    account: &'a crate::entities::whatsapp_accounts::Model,
    template: &'a templates::Model,
    tenant: &'a tenants::Model,
    vars: &'a Variables,
    /// The template is MARKETING.
    marketing: bool,
    /// The marketing frequency cap: (messages, days).
    cap: Option<(u64, u32)>,
}

/// Codes of the rules that stop the whole campaign rather than one recipient.
const STOPS_ALL: &[&str] = &["tenant_suspended", "account_disabled", "quota_exceeded"];

impl Ctx<'_> {
    /// Creates one recipient's message (or skips or fails the recipient with the reason).
    /// `recent`: the contact's marketing campaign messages within the cap's days.
    async fn send_one(&self, r: &campaign_recipients::Model, recent: u64) -> Result<Sent, Outcome> {
        let db = self.state.writer();
        let c = self.campaign;
        let contact = contacts::Entity::find_by_id(r.contact_id)
            .filter(contacts::Column::TenantId.eq(c.tenant_id))
            .one(&self.state.db)
            .await
            .map_err(retry)?;
        let Some(contact) = contact else {
            mark(db, r.id, RecipientState::Failed, Some("contact_deleted"), None, None).await.map_err(retry)?;
            return Ok(Sent::Not);
        };
        if contact.wa_id.is_none() && contact.user_id.is_none() {
            mark(db, r.id, RecipientState::Skipped, Some("no_phone_number"), None, None).await.map_err(retry)?;
            return Ok(Sent::Not);
        }
        if self.marketing && contact.wa_id.as_deref().and_then(Country::of_wa_id) == Some(Country(US)) {
            let detail = Some("Meta does not deliver marketing templates to US (+1) numbers".to_string());
            mark(db, r.id, RecipientState::Skipped, Some("us_marketing"), detail, None).await.map_err(retry)?;
            return Ok(Sent::Not);
        }
        if let Some((most, days)) = self.cap
            && recent >= most
        {
            let detail = Some(format!("{recent} marketing messages in the last {days} days (the cap is {most})"));
            mark(db, r.id, RecipientState::Skipped, Some("frequency_cap"), detail, None).await.map_err(retry)?;
            return Ok(Sent::Not);
        }
        let params = match values_for(self.vars, &contact) {
            Ok(p) => p,
            Err(key) => {
                let detail = Some(format!("no value for template parameter {key}"));
                mark(db, r.id, RecipientState::Failed, Some("missing_variable"), detail, None).await.map_err(retry)?;
                return Ok(Sent::Not);
            }
        };
        let client_id = client_message_id(c.id, contact.id, r.attempt);
        match self.message_for(&contact, params, client_id).await {
            Ok(msg) => {
                mark(db, r.id, RecipientState::Queued, None, None, Some(msg.id)).await.map_err(retry)?;
                Ok(Sent::Queued)
            }
            Err(NotSent::Refused(e)) => self.refused(r, e).await,
            Err(NotSent::Transient(e)) => Err(Outcome::Retry { error: e.message, after: None }),
        }
    }

    /// The campaign's template message to `contact` with these parameter values, queued to the
    /// sender (in the contact's conversation on the campaign's number) under `client_id`; or why
    /// not.
    async fn message_for(
        &self,
        contact: &contacts::Model,
        params: serde_json::Map<String, serde_json::Value>,
        client_id: String,
    ) -> Result<crate::entities::messages::Model, NotSent> {
        let c = self.campaign;
        let mut body = serde_json::Map::new();
        body.insert(
            "template".into(),
            serde_json::json!({"name": self.template.name, "language": self.template.language, "parameters": params}),
        );
        let req = SendMessageRequest { msg_type: "template".into(), client_message_id: None, reply_to: None, body };
        let composed = outbound::compose(&self.state.db, TenantId(c.tenant_id), self.account, None, &req)
            .await
            .map_err(NotSent::Refused)?;
        // The conversation and its usage count commit together.
        let transient = |e: DbErr| NotSent::Transient(e.into());
        let txn = self.state.writer().begin().await.map_err(transient)?;
        let conv = crate::conversations::service::for_bulk_send(&txn, c.tenant_id, contact.id, self.account.id)
            .await
            .map_err(transient)?;
        txn.commit().await.map_err(transient)?;
        outbound::check_rules(&self.state.db, self.tenant, self.account, Some(&conv), contact, &composed)
            .await
            .map_err(NotSent::Refused)?;
        let (msg, _) =
            outbound::enqueue(self.state, &conv, composed, Some(client_id), None).await.map_err(NotSent::Transient)?;
        Ok(msg)
    }

    /// A send the rules refused: the recipient is skipped with the rule's code, or, for a rule
    /// that stops every send, the campaign pauses.
    async fn refused(&self, r: &campaign_recipients::Model, e: AppError) -> Result<Sent, Outcome> {
        if STOPS_ALL.contains(&e.code) {
            return Ok(Sent::StopAll(e.message));
        }
        if e.status.is_server_error() {
            return Err(Outcome::Retry { error: e.message, after: None });
        }
        let state = if e.code == "opted_out" { RecipientState::Skipped } else { RecipientState::Failed };
        mark(self.state.writer(), r.id, state, Some(e.code), Some(e.message), None).await.map_err(retry)?;
        Ok(Sent::Not)
    }
}
