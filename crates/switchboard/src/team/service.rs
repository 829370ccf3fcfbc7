//! Team membership: invitations, role and activation changes, removal. Every function takes the
//! caller's tenant; team changes lock the tenant row (PostgreSQL) so that the last-admin rule and
//! the plan's agent limit hold under concurrent changes.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait,
};
use serde::Serialize;
use serde_json::json;
use switchboard_crypto::token::{random_token, sha256_hex};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::audit;
use crate::auth::service::Session;
use crate::db::Scoped;
use crate::domain::{Email, NewPassword};
use crate::entities::enums::{AgentStatus, ConversationStatus, Role, TenantStatus};
use crate::entities::{agents, conversations, invitations, refresh_tokens, tenants, users};
use crate::error::{AppError, AppResult};
use crate::ids::{TenantId, UserId};
use crate::state::AppState;

/// Invitation links work for 7 days.
pub const INVITE_TTL_DAYS: i64 = 7;

/// Roles that work the inbox, count against the plan's agents and have an agent row.
const INBOX_ROLES: [Role; 2] = [Role::TenantAdmin, Role::Agent];

/// Roles a tenant admin may give (never SYSTEM_ADMIN).
pub fn parse_role(raw: &str) -> Result<Role, String> {
    match Role::parse(raw.trim()) {
        Some(r) if r != Role::SystemAdmin => Ok(r),
        _ => Err("must be TENANT_ADMIN, AGENT or BILLING_ADMIN".into()),
    }
}

/// A team member as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberDto {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub active: bool,
    /// `active`, `invited` (invitation not accepted yet) or `disabled`.
    pub status: &'static str,
    /// When the open invitation expires (invited members only).
    pub invitation_expires_at: Option<DateTime<Utc>>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

fn member(u: users::Model, invite: Option<&invitations::Model>) -> MemberDto {
    let pending = invite.filter(|i| i.accepted_at.is_none());
    MemberDto {
        status: if u.active {
            "active"
        } else if pending.is_some() {
            "invited"
        } else {
            "disabled"
        },
        invitation_expires_at: pending.map(|i| i.expires_at),
        id: u.id,
        email: u.email,
        name: u.name,
        role: u.role,
        active: u.active,
        last_login_at: u.last_login_at,
        created_at: u.created_at,
    }
}

/// The tenant's users, oldest first.
pub async fn list<C: ConnectionTrait>(db: &C, tenant: TenantId) -> AppResult<Vec<MemberDto>> {
    let us = users::Entity::of(tenant)
        .order_by_asc(users::Column::CreatedAt)
        .order_by_asc(users::Column::Id)
        .all(db)
        .await?;
    let invites = invitations::Entity::of(tenant).filter(invitations::Column::AcceptedAt.is_null()).all(db).await?;
    Ok(us
        .into_iter()
        .map(|u| {
            let inv = invites.iter().find(|i| i.user_id == u.id);
            member(u, inv)
        })
        .collect())
}

/// Locks the tenant row for the rest of the transaction (PostgreSQL; SQLite has one writer).
async fn lock_tenant(txn: &DatabaseTransaction, tenant: TenantId) -> AppResult<tenants::Model> {
    tenants::Entity::find_by_id(tenant.0).lock_exclusive().one(txn).await?.ok_or_else(|| AppError::not_found("tenant"))
}

async fn find_user<C: ConnectionTrait>(db: &C, tenant: TenantId, id: Uuid) -> AppResult<users::Model> {
    users::Entity::secure_find(db, tenant, id).await?.ok_or_else(|| AppError::not_found("user"))
}

async fn open_invitation<C: ConnectionTrait>(db: &C, user: Uuid) -> AppResult<Option<invitations::Model>> {
    Ok(invitations::Entity::find()
        .filter(invitations::Column::UserId.eq(user))
        .filter(invitations::Column::AcceptedAt.is_null())
        .one(db)
        .await?)
}

/// Seats taken against the plan's agents: active TENANT_ADMIN and AGENT users plus invited ones
/// whose invitation is still open.
pub async fn seats_used<C: ConnectionTrait>(db: &C, tenant: TenantId) -> AppResult<i64> {
    let active = users::Entity::of(tenant)
        .filter(users::Column::Active.eq(true))
        .filter(users::Column::Role.is_in(INBOX_ROLES))
        .count(db)
        .await?;
    let pending: Vec<Uuid> = invitations::Entity::of(tenant)
        .select_only()
        .column(invitations::Column::UserId)
        .filter(invitations::Column::AcceptedAt.is_null())
        .filter(invitations::Column::ExpiresAt.gt(crate::db::now()))
        .into_tuple()
        .all(db)
        .await?;
    let invited = if pending.is_empty() {
        0
    } else {
        users::Entity::of(tenant)
            .filter(users::Column::Active.eq(false))
            .filter(users::Column::Role.is_in(INBOX_ROLES))
            .filter(users::Column::Id.is_in(pending))
            .count(db)
            .await?
    };
    Ok((active + invited) as i64)
}

fn plan_limit(t: &tenants::Model) -> AppError {
    AppError::new(
        axum::http::StatusCode::FORBIDDEN,
        "plan_limit",
        format!(
            "the {} plan allows {} agent(s) (TENANT_ADMIN and AGENT users, invitations included)",
            t.plan, t.limit_max_agents
        ),
    )
    .with_details(json!({ "limit": t.limit_max_agents }))
}

async fn check_seat_available(txn: &DatabaseTransaction, t: &tenants::Model) -> AppResult<()> {
    if seats_used(txn, TenantId(t.id)).await? >= t.limit_max_agents as i64 {
        return Err(plan_limit(t));
    }
    Ok(())
}

/// 409 `last_admin` unless another active TENANT_ADMIN remains besides `user`.
async fn check_not_last_admin(txn: &DatabaseTransaction, tenant: TenantId, user: Uuid) -> AppResult<()> {
    let others = users::Entity::of(tenant)
        .filter(users::Column::Active.eq(true))
        .filter(users::Column::Role.eq(Role::TenantAdmin))
        .filter(users::Column::Id.ne(user))
        .count(txn)
        .await?;
    if others == 0 {
        return Err(AppError::conflict(
            "last_admin",
            "this is the workspace's last active TENANT_ADMIN; make someone else an admin first",
        ));
    }
    Ok(())
}

/// Creates the user's agent row when missing.
async fn ensure_agent_row<C: ConnectionTrait>(db: &C, tenant: TenantId, u: &users::Model) -> AppResult<()> {
    let now = crate::db::now();
    agents::Entity::insert(agents::ActiveModel {
        id: Set(crate::db::new_id()),
        tenant_id: Set(tenant.0),
        user_id: Set(u.id),
        display_name: Set(u.name.clone()),
        status: Set(AgentStatus::Offline),
        max_concurrent: Set(10),
        status_changed_at: Set(now),
        last_assigned_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict(OnConflict::column(agents::Column::UserId).do_nothing().to_owned())
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// A user who no longer works the inbox: their open conversations go back to the unassigned queue
/// and their presence goes offline.
async fn leave_inbox<C: ConnectionTrait>(db: &C, tenant: TenantId, user: Uuid) -> AppResult<u64> {
    let now = crate::db::now();
    let res = conversations::Entity::update_of(tenant)
        .col_expr(conversations::Column::AssigneeId, Expr::value(Option::<Uuid>::None))
        .col_expr(conversations::Column::UpdatedAt, Expr::value(now))
        .filter(conversations::Column::AssigneeId.eq(user))
        .filter(conversations::Column::Status.ne(ConversationStatus::Resolved))
        .exec(db)
        .await?;
    agents::Entity::update_of(tenant)
        .col_expr(agents::Column::Status, Expr::value(AgentStatus::Offline.as_str()))
        .col_expr(agents::Column::StatusChangedAt, Expr::value(now))
        .col_expr(agents::Column::UpdatedAt, Expr::value(now))
        .filter(agents::Column::UserId.eq(user))
        .filter(agents::Column::Status.ne(AgentStatus::Offline.as_str()))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// Parsed input of an invitation.
pub struct NewInvite {
    pub email: Email,
    pub role: Role,
    pub name: Option<String>,
}

/// A created invitation: the token is shown once, in the link.
pub struct Invited {
    pub member: MemberDto,
    pub invite_url: String,
    pub expires_at: DateTime<Utc>,
}

/// Creates an inactive user with an unguessable password and a 7-day invitation. Inviting an
/// email whose invitation is still open in this tenant replaces that invitation (new link, role
/// and expiry); any other existing email is a 409 `email_taken`.
pub async fn invite(
    state: &AppState,
    tenant: TenantId,
    actor: UserId,
    input: NewInvite,
    ip: &str,
) -> AppResult<Invited> {
    // Nobody knows this password: the account is unusable until the invitation is accepted.
    let unusable = NewPassword::parse(&random_token("x", 32)).map_err(|e| AppError::internal(anyhow::anyhow!(e)))?;
    let hash = crate::auth::service::hash_password(state, &unusable).await?;
    let token = random_token("inv_", 32);
    let now = crate::db::now();
    let expires_at = now + Duration::days(INVITE_TTL_DAYS);

    let txn = state.writer().begin().await?;
    let t = lock_tenant(&txn, tenant).await?;
    let existing = crate::users::find_by_email(&txn, input.email.as_str()).await?;
    let user = match existing {
        Some(u) => {
            let reinvite = u.tenant_id == Some(tenant.0) && !u.active && open_invitation(&txn, u.id).await?.is_some();
            if !reinvite {
                return Err(AppError::conflict("email_taken", "an account with this email already exists"));
            }
            invitations::Entity::delete_many().filter(invitations::Column::UserId.eq(u.id)).exec(&txn).await?;
            let mut am: users::ActiveModel = u.into();
            am.role = Set(input.role);
            if let Some(n) = &input.name {
                am.name = Set(n.clone());
            }
            am.updated_at = Set(now);
            am.update(&txn).await?
        }
        None => {
            let name = input
                .name
                .clone()
                .unwrap_or_else(|| input.email.as_str().split('@').next().unwrap_or_default().to_string());
            users::ActiveModel {
                sessions_revoked_at: Set(None),
                id: Set(crate::db::new_id()),
                tenant_id: Set(Some(tenant.0)),
                email: Set(input.email.as_str().to_string()),
                password_hash: Set(hash),
                name: Set(name),
                role: Set(input.role),
                active: Set(false),
                last_login_at: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await
            .map_err(|e| AppError::unique_or_db(e, "email_taken", "an account with this email already exists"))?
        }
    };
    if INBOX_ROLES.contains(&user.role) {
        // Counted before this invitation exists (a replaced one is already gone).
        check_seat_available(&txn, &t).await?;
        ensure_agent_row(&txn, tenant, &user).await?;
    }
    let inv = invitations::ActiveModel {
        id: Set(crate::db::new_id()),
        tenant_id: Set(tenant.0),
        user_id: Set(user.id),
        token_hash: Set(sha256_hex(token.as_bytes())),
        invited_by: Set(Some(actor.0)),
        expires_at: Set(expires_at),
        accepted_at: Set(None),
        created_at: Set(now),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        audit::Entry {
            tenant_id: Some(tenant.0),
            actor_user_id: Some(actor.0),
            action: "user.invite",
            target_type: Some("user"),
            target_id: Some(user.id.to_string()),
            details: json!({ "email": user.email, "role": user.role, "expiresAt": expires_at }),
            ip: Some(ip),
        },
    )
    .await?;
    txn.commit().await?;
    let invite_url = format!("{}/invite/{token}", state.public_url().trim_end_matches('/'));
    Ok(Invited { member: member(user, Some(&inv)), invite_url, expires_at })
}

/// Accepts an invitation: sets the password (and name), activates the user, then signs them in
/// through the ordinary sign-in path. A used or unknown token is a 404, an expired one a 410.
pub async fn accept(
    state: &AppState,
    token: &str,
    password: NewPassword,
    name: Option<String>,
    ip: &str,
) -> AppResult<Session> {
    let hash = sha256_hex(token.trim().as_bytes());
    let unknown = || AppError::not_found("invitation");
    let inv = invitations::Entity::find()
        .filter(invitations::Column::TokenHash.eq(hash))
        .one(&state.db)
        .await?
        .ok_or_else(unknown)?;
    if inv.accepted_at.is_some() {
        return Err(unknown());
    }
    if inv.expires_at <= Utc::now() {
        return Err(AppError::new(
            axum::http::StatusCode::GONE,
            "invite_expired",
            "this invitation has expired; ask an administrator for a new one",
        ));
    }
    let t = tenants::Entity::find_by_id(inv.tenant_id).one(&state.db).await?.ok_or_else(unknown)?;
    if t.status == TenantStatus::Suspended {
        return Err(AppError::new(
            axum::http::StatusCode::FORBIDDEN,
            "tenant_suspended",
            "this workspace is suspended; contact the platform operator",
        ));
    }
    let password_hash = crate::auth::service::hash_password(state, &password).await?;

    let txn = state.writer().begin().await?;
    // Conditional update: of two concurrent acceptances exactly one wins.
    let claimed = invitations::Entity::update_many()
        .col_expr(invitations::Column::AcceptedAt, Expr::value(crate::db::now()))
        .filter(invitations::Column::Id.eq(inv.id))
        .filter(invitations::Column::AcceptedAt.is_null())
        .exec(&txn)
        .await?;
    if claimed.rows_affected != 1 {
        return Err(unknown());
    }
    let user = users::Entity::secure_find(&txn, TenantId(inv.tenant_id), inv.user_id).await?.ok_or_else(unknown)?;
    let mut am: users::ActiveModel = user.into();
    am.password_hash = Set(password_hash);
    am.active = Set(true);
    if let Some(n) = name {
        am.name = Set(n);
    }
    am.updated_at = Set(crate::db::now());
    let user = am.update(&txn).await?;
    if INBOX_ROLES.contains(&user.role) {
        ensure_agent_row(&txn, TenantId(inv.tenant_id), &user).await?;
        crate::agents::service::sync_display_name(&txn, &user).await?;
    }
    audit::record(
        &txn,
        audit::Entry {
            tenant_id: Some(inv.tenant_id),
            actor_user_id: Some(user.id),
            action: "user.invite_accept",
            target_type: Some("user"),
            target_id: Some(user.id.to_string()),
            details: json!({ "email": user.email, "role": user.role }),
            ip: Some(ip),
        },
    )
    .await?;
    txn.commit().await?;
    crate::auth::service::login(state, &user.email, password.expose(), ip).await
}

/// Parsed changes to a member.
#[derive(Default)]
pub struct MemberChanges {
    pub role: Option<Role>,
    pub active: Option<bool>,
}

/// Changes a member's role or activation. The last active TENANT_ADMIN cannot be demoted or
/// deactivated (409 `last_admin`); taking an agent seat respects the plan (403 `plan_limit`).
/// Deactivation revokes the member's sessions; leaving the inbox unassigns their open conversations.
pub async fn update(
    state: &AppState,
    tenant: TenantId,
    actor: UserId,
    id: Uuid,
    ch: MemberChanges,
    ip: &str,
) -> AppResult<MemberDto> {
    let txn = state.writer().begin().await?;
    let t = lock_tenant(&txn, tenant).await?;
    let u = find_user(&txn, tenant, id).await?;
    let invite = open_invitation(&txn, u.id).await?;
    let role = ch.role.unwrap_or(u.role);
    let active = ch.active.unwrap_or(u.active);
    if ch.active == Some(true) && !u.active && invite.is_some() {
        return Err(AppError::conflict(
            "invite_pending",
            "this user has not accepted their invitation yet; they become active by accepting it",
        ));
    }
    if u.active && u.role == Role::TenantAdmin && (role != Role::TenantAdmin || !active) {
        check_not_last_admin(&txn, tenant, u.id).await?;
    }
    let pending = invite.as_ref().is_some_and(|i| i.expires_at > Utc::now());
    let had_seat = INBOX_ROLES.contains(&u.role) && (u.active || pending);
    let has_seat = INBOX_ROLES.contains(&role) && (active || pending);
    if has_seat && !had_seat {
        check_seat_available(&txn, &t).await?;
    }
    let role_changed = role != u.role;
    let active_changed = active != u.active;
    let was_in_inbox = INBOX_ROLES.contains(&u.role) && u.active;
    let mut am: users::ActiveModel = u.clone().into();
    am.role = Set(role);
    am.active = Set(active);
    am.updated_at = Set(crate::db::now());
    let updated = am.update(&txn).await?;
    if INBOX_ROLES.contains(&role) {
        ensure_agent_row(&txn, tenant, &updated).await?;
    }
    if was_in_inbox && !(INBOX_ROLES.contains(&role) && active) {
        leave_inbox(&txn, tenant, u.id).await?;
    }
    let mut revoked_keys = Vec::new();
    if active_changed && !active {
        crate::auth::service::revoke_sessions(&txn, u.id).await?;
        // Its access tokens stay dead after a reactivation too (`access::standing`).
        users::Entity::update_many()
            .col_expr(users::Column::SessionsRevokedAt, sea_orm::sea_query::Expr::value(crate::db::now()))
            .filter(users::Column::Id.eq(u.id))
            .exec(&txn)
            .await?;
        revoked_keys = revoke_grants(&txn, tenant, u.id, actor, "creator_deactivated", ip).await?;
    }
    let entry = |action, details| audit::Entry {
        tenant_id: Some(tenant.0),
        actor_user_id: Some(actor.0),
        action,
        target_type: Some("user"),
        target_id: Some(u.id.to_string()),
        details,
        ip: Some(ip),
    };
    if role_changed {
        audit::record(&txn, entry("user.role_change", json!({ "email": u.email, "from": u.role, "to": role }))).await?;
    }
    if active_changed {
        let action = if active { "user.activate" } else { "user.deactivate" };
        audit::record(&txn, entry(action, json!({ "email": u.email }))).await?;
    }
    txn.commit().await?;
    if active_changed {
        crate::access::standing::forget_user(u.id);
        crate::access::keys::forget(&revoked_keys);
    }
    Ok(member(updated, invite.as_ref()))
}

/// Removes a member (and their agent row, sessions and invitation). The last active TENANT_ADMIN
/// cannot be removed.
pub async fn delete(state: &AppState, tenant: TenantId, actor: UserId, id: Uuid, ip: &str) -> AppResult<()> {
    let txn = state.writer().begin().await?;
    lock_tenant(&txn, tenant).await?;
    let u = find_user(&txn, tenant, id).await?;
    if u.active && u.role == Role::TenantAdmin {
        check_not_last_admin(&txn, tenant, u.id).await?;
    }
    leave_inbox(&txn, tenant, u.id).await?;
    let revoked_keys = revoke_grants(&txn, tenant, u.id, actor, "creator_removed", ip).await?;
    agents::Entity::delete_many().filter(agents::Column::UserId.eq(u.id)).exec(&txn).await?;
    refresh_tokens::Entity::delete_many().filter(refresh_tokens::Column::UserId.eq(u.id)).exec(&txn).await?;
    invitations::Entity::delete_many().filter(invitations::Column::UserId.eq(u.id)).exec(&txn).await?;
    users::Entity::delete_of(tenant).filter(users::Column::Id.eq(u.id)).exec(&txn).await?;
    audit::record(
        &txn,
        audit::Entry {
            tenant_id: Some(tenant.0),
            actor_user_id: Some(actor.0),
            action: "user.delete",
            target_type: Some("user"),
            target_id: Some(u.id.to_string()),
            details: json!({ "email": u.email, "role": u.role }),
            ip: Some(ip),
        },
    )
    .await?;
    txn.commit().await?;
    crate::access::standing::forget_user(u.id);
    crate::access::keys::forget(&revoked_keys);
    Ok(())
}

/// What a member who loses access (removed or deactivated) had handed out ends with them: their
/// API keys are revoked and their pending invitations expire (the invited user stays listed as
/// invited; an admin may invite them again). Each is audited (`api_key.revoke`,
/// `user.invite_revoke`) with `reason`. Returns the revoked keys' hashes, for the cache.
async fn revoke_grants<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    user: Uuid,
    actor: UserId,
    reason: &str,
    ip: &str,
) -> AppResult<Vec<String>> {
    let hashes = crate::apikeys::service::revoke_created_by(db, tenant, user, actor, reason, ip).await?;
    let now = crate::db::now();
    let pending = invitations::Entity::of(tenant)
        .filter(invitations::Column::InvitedBy.eq(user))
        .filter(invitations::Column::AcceptedAt.is_null())
        .filter(invitations::Column::ExpiresAt.gt(now))
        .all(db)
        .await?;
    for inv in pending {
        let invitee = inv.user_id;
        let mut am: invitations::ActiveModel = inv.into();
        am.expires_at = Set(now);
        am.update(db).await?;
        audit::record(
            db,
            audit::Entry {
                tenant_id: Some(tenant.0),
                actor_user_id: Some(actor.0),
                action: "user.invite_revoke",
                target_type: Some("user"),
                target_id: Some(invitee.to_string()),
                details: json!({ "reason": reason, "invitedBy": user }),
                ip: Some(ip),
            },
        )
        .await?;
    }
    Ok(hashes)
}
