//! Sign-up, sign-in and token rotation. No HTTP here: handlers pass parsed input in.

use chrono::{Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, TransactionTrait};
use serde_json::json;
use switchboard_crypto::token::{random_token, sha256_hex};
use uuid::Uuid;

use crate::access::principal::{ACCESS_TTL_SECS, ACCESS_TYP, AUDIENCE, AccessClaims};
use crate::audit;
use crate::domain::{Email, NewPassword};
use crate::entities::enums::{AgentStatus, Role, TenantStatus};
use crate::entities::{agents, refresh_tokens, tenants, users};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Refresh tokens live 30 days; each use replaces it with a new one in the same family.
pub const REFRESH_TTL_DAYS: i64 = 30;

/// A signed-in session.
pub struct Session {
    pub access_token: String,
    pub refresh_token: String,
    pub user: users::Model,
    pub tenant: Option<tenants::Model>,
}

/// Hashes off the async runtime, with bounded concurrency.
pub async fn hash_password(state: &AppState, password: &NewPassword) -> AppResult<String> {
    let _permit = state.hashing.acquire().await.map_err(AppError::internal)?;
    let pw = password.expose().to_string();
    tokio::task::spawn_blocking(move || switchboard_crypto::password::hash_password(&pw))
        .await?
        .map_err(AppError::internal)
}

async fn verify_password(state: &AppState, password: &str, hash: Option<String>) -> AppResult<bool> {
    let _permit = state.hashing.acquire().await.map_err(AppError::internal)?;
    let pw = password.to_string();
    tokio::task::spawn_blocking(move || match hash {
        Some(h) => switchboard_crypto::password::verify_password(&pw, &h).unwrap_or(false),
        None => {
            switchboard_crypto::password::verify_dummy(&pw);
            false
        }
    })
    .await
    .map_err(AppError::from)
}

/// Input of a sign-up, already parsed.
pub struct Registration {
    pub tenant_name: String,
    pub name: String,
    pub email: Email,
    pub password: NewPassword,
}

/// Sign-ups one client address may make: a burst of 10, then one every 6 minutes (10 an hour).
pub const REGISTER_RATE: crate::ratelimit::Rate = crate::ratelimit::Rate { per_second: 1.0 / 360.0, burst: 10 };

/// What a sign-up did. The caller answers both the same way: a sign-up must not reveal whether an
/// email already has an account.
pub enum Registered {
    Created(Box<Session>),
    /// The email already has an account: nothing was created (the attempt is audited in the
    /// account's own log as `auth.register_existing`).
    EmailTaken,
}

/// Refuses a client address that has signed up too often (429 with Retry-After).
pub fn throttle_registration(state: &AppState, ip: &str) -> AppResult<()> {
    state.signup_throttle.acquire(ip, REGISTER_RATE).map_err(|wait| {
        AppError::too_many("too_many_registrations", "too many sign-ups from this address; retry later", wait.as_secs())
    })
}

/// Creates a tenant with its first TENANT_ADMIN (who is also an agent) and signs them in.
pub async fn register(state: &AppState, r: Registration, ip: &str) -> AppResult<Registered> {
    throttle_registration(state, ip)?;
    // Hashed first, taken or not, so both answers take the same time.
    let hash = hash_password(state, &r.password).await?;
    let txn = state.writer().begin().await?;
    if let Some(existing) = crate::users::find_by_email(&txn, r.email.as_str()).await? {
        txn.rollback().await?;
        audit::record(
            state.writer(),
            audit::Entry {
                tenant_id: existing.tenant_id,
                actor_user_id: None,
                action: "auth.register_existing",
                target_type: Some("user"),
                target_id: Some(existing.id.to_string()),
                details: json!({ "email": existing.email }),
                ip: Some(ip),
            },
        )
        .await?;
        return Ok(Registered::EmailTaken);
    }
    let base = crate::domain::slugify(&r.tenant_name);
    let mut slug = base.clone();
    while tenants::Entity::find().filter(tenants::Column::Slug.eq(&slug)).one(&txn).await?.is_some() {
        slug = format!("{base}-{}", &Uuid::new_v4().simple().to_string()[..6]);
    }
    let tenant = crate::tenants::create(&txn, &r.tenant_name, &slug, crate::tenants::plans::default_plan()).await?;
    let now = crate::db::now();
    let inserted = users::ActiveModel {
        sessions_revoked_at: Set(None),
        id: Set(crate::db::new_id()),
        tenant_id: Set(Some(tenant.id)),
        email: Set(r.email.as_str().to_string()),
        password_hash: Set(hash),
        name: Set(r.name.clone()),
        role: Set(Role::TenantAdmin),
        active: Set(true),
        last_login_at: Set(Some(now)),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await;
    let user = match inserted {
        Ok(u) => u,
        // A concurrent sign-up took the email first: the same answer as a taken email.
        Err(e) if crate::db::is_unique_violation(&e) => {
            txn.rollback().await?;
            return Ok(Registered::EmailTaken);
        }
        Err(e) => return Err(e.into()),
    };
    agents::ActiveModel {
        id: Set(crate::db::new_id()),
        tenant_id: Set(tenant.id),
        user_id: Set(user.id),
        display_name: Set(r.name),
        status: Set(AgentStatus::Offline),
        max_concurrent: Set(10),
        status_changed_at: Set(now),
        last_assigned_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        audit::Entry {
            tenant_id: Some(tenant.id),
            actor_user_id: Some(user.id),
            action: "auth.register",
            target_type: Some("tenant"),
            target_id: Some(tenant.id.to_string()),
            details: json!({ "slug": tenant.slug }),
            ip: Some(ip),
        },
    )
    .await?;
    let refresh_token = insert_refresh_token(&txn, &user, None).await?;
    txn.commit().await?;
    let access_token = access_token(state, &user)?;
    Ok(Registered::Created(Box::new(Session { access_token, refresh_token, user, tenant: Some(tenant) })))
}

const BAD_LOGIN: &str = "invalid email or password";

/// Signs in. Unknown email and wrong password take the same time and give the same answer.
pub async fn login(state: &AppState, email: &str, password: &str, ip: &str) -> AppResult<Session> {
    let email_key = email.trim().to_lowercase();
    if let Err(wait) = state.login_throttle.check(&email_key, ip) {
        return Err(AppError::too_many("too_many_attempts", "too many failed sign-in attempts; retry later", wait));
    }
    let user = match Email::parse(email) {
        Ok(e) => crate::users::find_by_email(&state.db, e.as_str()).await?,
        Err(_) => None,
    };
    let ok = verify_password(state, password, user.as_ref().map(|u| u.password_hash.clone())).await?;
    let user = match (ok, user) {
        (true, Some(u)) => u,
        (_, u) => {
            state.login_throttle.record_failure(&email_key, ip);
            if let Some(u) = u {
                audit::record(
                    state.writer(),
                    audit::Entry::by_user(u.tenant_id, u.id, "auth.login_failed", json!({}), ip),
                )
                .await?;
            }
            return Err(AppError::unauthorized(BAD_LOGIN));
        }
    };
    state.login_throttle.record_success(&email_key, ip);
    let tenant = check_can_sign_in(state, &user).await?;

    let txn = state.writer().begin().await?;
    let now = crate::db::now();
    let mut am: users::ActiveModel = user.clone().into();
    am.last_login_at = Set(Some(now));
    let user = am.update(&txn).await?;
    audit::record(&txn, audit::Entry::by_user(user.tenant_id, user.id, "auth.login", json!({}), ip)).await?;
    let refresh_token = insert_refresh_token(&txn, &user, None).await?;
    txn.commit().await?;
    let access_token = access_token(state, &user)?;
    Ok(Session { access_token, refresh_token, user, tenant })
}

/// A disabled user or a suspended tenant may not sign in or refresh.
async fn check_can_sign_in(state: &AppState, user: &users::Model) -> AppResult<Option<tenants::Model>> {
    if !user.active {
        return Err(AppError::new(axum::http::StatusCode::FORBIDDEN, "account_disabled", "this account is disabled"));
    }
    let Some(tid) = user.tenant_id else {
        return Ok(None);
    };
    let tenant =
        tenants::Entity::find_by_id(tid).one(&state.db).await?.ok_or_else(|| AppError::unauthorized(BAD_LOGIN))?;
    if tenant.status == TenantStatus::Suspended {
        return Err(AppError::new(
            axum::http::StatusCode::FORBIDDEN,
            "tenant_suspended",
            "this workspace is suspended; contact the platform operator",
        ));
    }
    Ok(Some(tenant))
}

/// Exchanges a refresh token for a new pair. A token that was already used (or revoked) revokes
/// its whole family: someone is replaying a stolen token.
pub async fn refresh(state: &AppState, presented: &str, ip: &str) -> AppResult<Session> {
    let invalid = || AppError::unauthorized("invalid or expired refresh token");
    let hash = sha256_hex(presented.as_bytes());
    let Some(row) =
        refresh_tokens::Entity::find().filter(refresh_tokens::Column::TokenHash.eq(hash)).one(&state.db).await?
    else {
        return Err(invalid());
    };
    if row.used_at.is_some() || row.revoked_at.is_some() {
        revoke_family(state, &row, ip).await?;
        return Err(AppError::unauthorized("refresh token was already used; the session has been revoked"));
    }
    if row.expires_at <= Utc::now() {
        return Err(invalid());
    }
    let user = crate::users::find(&state.db, row.user_id).await?.ok_or_else(invalid)?;
    let tenant = check_can_sign_in(state, &user).await?;

    let txn = state.writer().begin().await?;
    // Conditional update: of two concurrent refreshes with one token, exactly one wins.
    let claimed = refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::UsedAt, Expr::value(crate::db::now()))
        .filter(refresh_tokens::Column::Id.eq(row.id))
        .filter(refresh_tokens::Column::UsedAt.is_null())
        .filter(refresh_tokens::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    if claimed.rows_affected != 1 {
        txn.rollback().await?;
        revoke_family(state, &row, ip).await?;
        return Err(AppError::unauthorized("refresh token was already used; the session has been revoked"));
    }
    let refresh_token = insert_refresh_token(&txn, &user, Some(row.family_id)).await?;
    txn.commit().await?;
    let access_token = access_token(state, &user)?;
    Ok(Session { access_token, refresh_token, user, tenant })
}

async fn revoke_family(state: &AppState, row: &refresh_tokens::Model, ip: &str) -> AppResult<()> {
    let txn = state.writer().begin().await?;
    refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::RevokedAt, Expr::value(crate::db::now()))
        .filter(refresh_tokens::Column::FamilyId.eq(row.family_id))
        .filter(refresh_tokens::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        audit::Entry::by_user(
            row.tenant_id,
            row.user_id,
            "auth.refresh_token_reuse",
            json!({ "family": row.family_id }),
            ip,
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Revokes every refresh-token family of `user` (all their sessions end at the next refresh).
pub async fn revoke_sessions<C: ConnectionTrait>(db: &C, user: Uuid) -> AppResult<()> {
    refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::RevokedAt, Expr::value(crate::db::now()))
        .filter(refresh_tokens::Column::UserId.eq(user))
        .filter(refresh_tokens::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Revokes the family of `refresh_token` (when it is the caller's), or every session of the user.
pub async fn logout(state: &AppState, user_id: Uuid, refresh_token: Option<&str>) -> AppResult<()> {
    let mut q = refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::RevokedAt, Expr::value(crate::db::now()))
        .filter(refresh_tokens::Column::UserId.eq(user_id))
        .filter(refresh_tokens::Column::RevokedAt.is_null());
    if let Some(t) = refresh_token {
        let hash = sha256_hex(t.as_bytes());
        let row = refresh_tokens::Entity::find()
            .filter(refresh_tokens::Column::TokenHash.eq(hash))
            .filter(refresh_tokens::Column::UserId.eq(user_id))
            .one(&state.db)
            .await?
            .ok_or_else(|| AppError::field("refreshToken", "is not a session of this user"))?;
        q = q.filter(refresh_tokens::Column::FamilyId.eq(row.family_id));
    }
    q.exec(state.writer()).await?;
    Ok(())
}

/// The signed-in user, while they exist and are active (else 401, as for a stale token).
async fn signed_in_user(state: &AppState, user_id: Uuid) -> AppResult<users::Model> {
    crate::users::find(&state.db, user_id)
        .await?
        .filter(|u| u.active)
        .ok_or_else(|| AppError::unauthorized("this account no longer exists or is disabled"))
}

/// Changes the user's own display name (already parsed); their agent row shows the new name too.
pub async fn update_profile(state: &AppState, user_id: Uuid, name: String, ip: &str) -> AppResult<users::Model> {
    let user = signed_in_user(state, user_id).await?;
    if user.name == name {
        return Ok(user);
    }
    let txn = state.writer().begin().await?;
    let from = user.name.clone();
    let mut am: users::ActiveModel = user.into();
    am.name = Set(name);
    am.updated_at = Set(crate::db::now());
    let user = am.update(&txn).await?;
    crate::agents::service::sync_display_name(&txn, &user).await?;
    audit::record(
        &txn,
        audit::Entry::by_user(
            user.tenant_id,
            user.id,
            "user.updated",
            json!({ "email": user.email, "name": { "from": from, "to": user.name } }),
            ip,
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(user)
}

/// Changes the user's own password after checking the current one, and ends every session of the
/// user (all refresh-token families): whoever signs in next uses the new password.
///
/// A wrong current password is a 422 `invalid_current_password` on the field `currentPassword` (not
/// a 401: the caller's token is fine, and clients sign out on 401). Wrong attempts count towards the
/// sign-in throttle of the account's email and the client's address, so a stolen access token does
/// not allow guessing faster than the sign-in form does.
pub async fn change_password(
    state: &AppState,
    user_id: Uuid,
    current: &str,
    new: &NewPassword,
    ip: &str,
) -> AppResult<users::Model> {
    let user = signed_in_user(state, user_id).await?;
    if let Err(wait) = state.login_throttle.check(&user.email, ip) {
        return Err(AppError::too_many("too_many_attempts", "too many failed password attempts; retry later", wait));
    }
    if !verify_password(state, current, Some(user.password_hash.clone())).await? {
        state.login_throttle.record_failure(&user.email, ip);
        audit::record(
            state.writer(),
            audit::Entry::by_user(user.tenant_id, user.id, "user.password_change_failed", json!({}), ip),
        )
        .await?;
        return Err(AppError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_current_password",
            "currentPassword: is not your current password",
        )
        .with_details(
            json!({ "fields": [crate::error::FieldError::new("currentPassword", "is not your current password")] }),
        ));
    }
    state.login_throttle.record_success(&user.email, ip);
    let hash = hash_password(state, new).await?;
    let txn = state.writer().begin().await?;
    let mut am: users::ActiveModel = user.into();
    am.password_hash = Set(hash);
    am.updated_at = Set(crate::db::now());
    let user = am.update(&txn).await?;
    revoke_sessions(&txn, user.id).await?;
    audit::record(
        &txn,
        audit::Entry::by_user(
            user.tenant_id,
            user.id,
            "user.password_changed",
            json!({ "email": user.email, "sessionsRevoked": true }),
            ip,
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(user)
}

/// A new session (a new refresh-token family) for a user who just proved who they are, such as
/// the browser that changed the password (which ended every earlier session).
pub async fn new_session(state: &AppState, user: users::Model) -> AppResult<Session> {
    let tenant = check_can_sign_in(state, &user).await?;
    let refresh_token = insert_refresh_token(state.writer(), &user, None).await?;
    let access_token = access_token(state, &user)?;
    Ok(Session { access_token, refresh_token, user, tenant })
}

async fn insert_refresh_token<C: ConnectionTrait>(
    db: &C,
    user: &users::Model,
    family: Option<Uuid>,
) -> AppResult<String> {
    let token = random_token("rt_", 32);
    let now = crate::db::now();
    refresh_tokens::ActiveModel {
        id: Set(crate::db::new_id()),
        user_id: Set(user.id),
        tenant_id: Set(user.tenant_id),
        token_hash: Set(sha256_hex(token.as_bytes())),
        family_id: Set(family.unwrap_or_else(crate::db::new_id)),
        used_at: Set(None),
        revoked_at: Set(None),
        expires_at: Set(now + Duration::days(REFRESH_TTL_DAYS)),
        created_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(token)
}

/// Signs a 15-minute HS256 access token.
pub fn access_token(state: &AppState, user: &users::Model) -> AppResult<String> {
    let now = Utc::now().timestamp();
    let claims = AccessClaims {
        sub: user.id,
        tenant: user.tenant_id,
        role: user.role,
        typ: ACCESS_TYP.into(),
        aud: AUDIENCE.into(),
        iat: now,
        exp: now + ACCESS_TTL_SECS,
    };
    state.jwt.encode(&claims).map_err(AppError::internal)
}

/// Creates a SYSTEM_ADMIN (no tenant), for `switchboard admin create-system-admin`.
pub async fn create_system_admin(
    state: &AppState,
    email: &Email,
    name: &str,
    password: &NewPassword,
) -> AppResult<users::Model> {
    let hash = hash_password(state, password).await?;
    let now = crate::db::now();
    let user = users::ActiveModel {
        sessions_revoked_at: Set(None),
        id: Set(crate::db::new_id()),
        tenant_id: Set(None),
        email: Set(email.as_str().to_string()),
        password_hash: Set(hash),
        name: Set(name.to_string()),
        role: Set(Role::SystemAdmin),
        active: Set(true),
        last_login_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(state.writer())
    .await
    .map_err(|e| AppError::unique_or_db(e, "email_taken", "an account with this email already exists"))?;
    audit::record(
        state.writer(),
        audit::Entry {
            tenant_id: None,
            actor_user_id: None,
            action: "admin.create_system_admin",
            target_type: Some("user"),
            target_id: Some(user.id.to_string()),
            details: json!({ "email": user.email }),
            ip: None,
        },
    )
    .await?;
    Ok(user)
}
