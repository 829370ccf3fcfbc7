//! Who a customer is. A contact is one person, known by their phone number (`wa_id`), by Meta's
//! business-scoped user id (`user_id`, the BSUID), or both; either may be missing and either may
//! change. One implementation of the rules, used by every path that learns about a customer
//! (inbound messages one at a time or in batches, echoes, history, app state sync, starting a
//! conversation from the API):
//!
//! 1. Resolve by user id first, then by phone number. A phone number held by a contact with a
//!    *different* user id belongs to another person now (numbers are recycled): that is a new
//!    contact, and the number moves to it.
//! 2. What a sighting says is adopted: a user id on a contact that had none, a new phone number
//!    for a known user id (the customer changed number), the profile name and username.
//! 3. A phone number or user id belongs to one contact at a time: when another contact holds it,
//!    it is taken from that contact (recorded as `moved`), never refused — an acknowledged message
//!    must always find its contact.
//! 4. Explicit changes (`user_changed_number`, `user_changed_user_id` system messages) set the new
//!    value on the contact found by the old ones.
//! 5. Every change of a phone number or user id is kept in `contact_identity_changes`: a value
//!    replaced by another, or taken by another contact (`moved`). Learning one a contact did not
//!    have yet is not a change and is not recorded — so the history does not depend on whether
//!    the contact was created in an earlier batch or earlier in the same one.
//!
//! Set-based: the contacts of all sightings are read with one query per identifier kind, and only
//! changed or new rows are written. On PostgreSQL, new contacts whose identifiers no other row
//! held are inserted outside the caller's transaction (`autocommit`), so that concurrent batches
//! do not wait for each other's uncommitted inserts; a conflict with a concurrent insert is
//! resolved by reading again.

use std::collections::{BTreeMap, HashMap, HashSet};

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::json;
use uuid::Uuid;

use crate::db::Scoped;
use crate::entities::{contact_identity_changes, contacts};
use crate::ids::TenantId;

/// Rows per `IN (…)` list or multi-row insert.
const CHUNK: usize = 200;

/// What told us about the customer (kept with each identity change).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// An inbound message, echo or history message.
    Message,
    /// A `user_changed_number` / `user_changed_user_id` system message.
    System,
    /// The Business app's contact book (`smb_app_state_sync`).
    AppStateSync,
    /// Created or edited through the API.
    Api,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Message => "message",
            Source::System => "system",
            Source::AppStateSync => "app_state_sync",
            Source::Api => "api",
        }
    }
}

/// What one event says about its customer. Empty strings count as absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sighting<'a> {
    pub tenant: Uuid,
    pub wa_id: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub profile_name: Option<&'a str>,
    pub username: Option<&'a str>,
    /// An explicit change: the customer's new phone number / user id.
    pub new_wa_id: Option<&'a str>,
    pub new_user_id: Option<&'a str>,
    pub source: Source,
}

impl<'a> Sighting<'a> {
    pub fn new(tenant: Uuid, wa_id: Option<&'a str>, user_id: Option<&'a str>) -> Self {
        Sighting {
            tenant,
            wa_id: nonempty(wa_id),
            user_id: nonempty(user_id),
            profile_name: None,
            username: None,
            new_wa_id: None,
            new_user_id: None,
            source: Source::Message,
        }
    }
    pub fn profile(mut self, name: Option<&'a str>, username: Option<&'a str>) -> Self {
        self.profile_name = nonempty(name);
        self.username = nonempty(username);
        self
    }
    pub fn changes_to(mut self, wa_id: Option<&'a str>, user_id: Option<&'a str>) -> Self {
        self.new_wa_id = nonempty(wa_id);
        self.new_user_id = nonempty(user_id);
        self.source = Source::System;
        self
    }
    pub fn source(mut self, source: Source) -> Self {
        self.source = source;
        self
    }
    /// Whether it names anyone at all.
    pub fn identifies(&self) -> bool {
        self.wa_id.is_some() || self.user_id.is_some()
    }
}

fn nonempty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// A new contact row with every optional field empty (the one place the row is spelled out).
pub fn new_row(tenant: Uuid, wa_id: Option<String>, user_id: Option<String>) -> contacts::ActiveModel {
    let now = crate::db::now();
    contacts::ActiveModel {
        id: Set(crate::db::new_id()),
        tenant_id: Set(tenant),
        wa_id: Set(wa_id),
        user_id: Set(user_id),
        profile_name: Set(None),
        username: Set(None),
        name: Set(None),
        opted_out: Set(false),
        opted_out_at: Set(None),
        opt_out_source: Set(None),
        tags: Set(json!([])),
        attributes: Set(json!({})),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

/// What [`resolve`] did.
pub struct Resolved {
    /// The contact of each sighting, in order (`None` for a sighting that names no one).
    pub contacts: Vec<Option<contacts::Model>>,
    /// Existing contacts whose row changed (for `contact.updated` events).
    pub updated: Vec<Uuid>,
    /// New contacts inserted inside the caller's transaction (uncommitted until it commits): rows
    /// referencing them must be written in that transaction too — on another connection, the
    /// foreign-key check would wait for this transaction, which waits for that connection.
    pub uncommitted: HashSet<Uuid>,
}

struct Work {
    model: contacts::Model,
    original: Option<contacts::Model>,
}

/// Resolves (finds, updates or creates) the contact of every sighting; see the module
/// documentation for the rules.
pub async fn resolve(
    txn: &DatabaseTransaction,
    autocommit: Option<&DatabaseConnection>,
    sightings: &[Sighting<'_>],
) -> Result<Resolved, DbErr> {
    let mut last_err = None;
    // A concurrent insert of the same customer (PostgreSQL) makes ours a no-op: read again.
    for _ in 0..4 {
        match attempt(txn, autocommit, sightings).await? {
            Some(r) => return Ok(r),
            None => last_err = Some(DbErr::RecordNotFound("contact after upsert (concurrent change)".into())),
        }
    }
    Err(last_err.unwrap_or_else(|| DbErr::RecordNotFound("contact".into())))
}

async fn attempt(
    txn: &DatabaseTransaction,
    autocommit: Option<&DatabaseConnection>,
    sightings: &[Sighting<'_>],
) -> Result<Option<Resolved>, DbErr> {
    // Every identifier the sightings mention, per tenant.
    let mut wa: BTreeMap<Uuid, HashSet<&str>> = BTreeMap::new();
    let mut users: BTreeMap<Uuid, HashSet<&str>> = BTreeMap::new();
    for s in sightings {
        for w in [s.wa_id, s.new_wa_id].into_iter().flatten() {
            wa.entry(s.tenant).or_default().insert(w);
        }
        for u in [s.user_id, s.new_user_id].into_iter().flatten() {
            users.entry(s.tenant).or_default().insert(u);
        }
    }
    let mut work: HashMap<Uuid, Work> = HashMap::new();
    let mut by_wa: HashMap<(Uuid, String), Uuid> = HashMap::new();
    let mut by_user: HashMap<(Uuid, String), Uuid> = HashMap::new();
    let tenants: HashSet<Uuid> = wa.keys().chain(users.keys()).copied().collect();
    for tenant in tenants {
        let wa_ids: Vec<&str> = wa.get(&tenant).map(|s| s.iter().copied().collect()).unwrap_or_default();
        let user_ids: Vec<&str> = users.get(&tenant).map(|s| s.iter().copied().collect()).unwrap_or_default();
        // Read without locks: most contacts a batch reads it does not change, and locking them all
        // made concurrent batches that share customers wait for each other's whole transaction
        // (a convoy: PostgreSQL processing fell from ~5,600 to ~1,300 messages/s at c = 128).
        // The rows it does change are locked and checked below.
        let mut found = Vec::new();
        for chunk in wa_ids.chunks(CHUNK) {
            found.extend(
                contacts::Entity::of(TenantId(tenant))
                    .filter(contacts::Column::WaId.is_in(chunk.iter().copied()))
                    .all(txn)
                    .await?,
            );
        }
        for chunk in user_ids.chunks(CHUNK) {
            found.extend(
                contacts::Entity::of(TenantId(tenant))
                    .filter(contacts::Column::UserId.is_in(chunk.iter().copied()))
                    .all(txn)
                    .await?,
            );
        }
        for c in found {
            if work.contains_key(&c.id) {
                continue;
            }
            if let Some(w) = &c.wa_id {
                by_wa.insert((tenant, w.clone()), c.id);
            }
            if let Some(u) = &c.user_id {
                by_user.insert((tenant, u.clone()), c.id);
            }
            work.insert(c.id, Work { model: c.clone(), original: Some(c) });
        }
    }
    // Identifiers some existing row held when read: a new contact taking one must be inserted in
    // the transaction that takes it from that row.
    let held_wa: HashSet<(Uuid, String)> = by_wa.keys().cloned().collect();
    let held_user: HashSet<(Uuid, String)> = by_user.keys().cloned().collect();

    let mut history: Vec<contact_identity_changes::ActiveModel> = Vec::new();
    let mut record = |tenant: Uuid, contact: Uuid, field: &str, old: Option<String>, new: Option<String>, src: &str| {
        history.push(contact_identity_changes::ActiveModel {
            id: Set(crate::db::new_id()),
            tenant_id: Set(tenant),
            contact_id: Set(contact),
            field: Set(field.to_string()),
            old_value: Set(old),
            new_value: Set(new),
            source: Set(src.to_string()),
            created_at: Set(crate::db::now()),
        });
    };
    let mut out: Vec<Option<Uuid>> = Vec::with_capacity(sightings.len());
    let mut order: Vec<Uuid> = Vec::new(); // new contacts, in creation order
    for s in sightings {
        if !s.identifies() {
            out.push(None);
            continue;
        }
        let t = s.tenant;
        let by_u = s.user_id.and_then(|u| by_user.get(&(t, u.to_string())).copied());
        let by_w = s.wa_id.and_then(|w| by_wa.get(&(t, w.to_string())).copied()).filter(|id| {
            // The number is held by someone else with another user id: not this person.
            !(s.user_id.is_some() && work[id].model.user_id.as_deref().is_some_and(|u| Some(u) != s.user_id))
        });
        let id = match by_u.or(by_w) {
            Some(id) => id,
            None => {
                let model: contacts::Model = sea_orm::TryIntoModel::try_into_model(new_row(t, None, None))?;
                let id = model.id;
                work.insert(id, Work { model, original: None });
                order.push(id);
                id
            }
        };
        // The phone number and user id this sighting gives the contact.
        let want_wa = s.new_wa_id.or(s.wa_id);
        let want_user = s.new_user_id.or(s.user_id);
        if let Some(u) = want_user
            && work[&id].model.user_id.as_deref() != Some(u)
        {
            if let Some(other) = by_user.get(&(t, u.to_string())).copied().filter(|o| *o != id) {
                work.get_mut(&other).expect("indexed").model.user_id = None;
                record(t, other, "user_id", Some(u.to_string()), None, "moved");
            }
            let old = work.get_mut(&id).expect("present").model.user_id.replace(u.to_string());
            if let Some(o) = &old {
                by_user.remove(&(t, o.clone()));
            }
            by_user.insert((t, u.to_string()), id);
            if old.is_some() {
                record(t, id, "user_id", old, Some(u.to_string()), s.source.as_str());
            }
        }
        if let Some(w) = want_wa
            && work[&id].model.wa_id.as_deref() != Some(w)
        {
            if let Some(other) = by_wa.get(&(t, w.to_string())).copied().filter(|o| *o != id) {
                work.get_mut(&other).expect("indexed").model.wa_id = None;
                record(t, other, "wa_id", Some(w.to_string()), None, "moved");
            }
            let old = work.get_mut(&id).expect("present").model.wa_id.replace(w.to_string());
            if let Some(o) = &old {
                by_wa.remove(&(t, o.clone()));
            }
            by_wa.insert((t, w.to_string()), id);
            if old.is_some() {
                record(t, id, "wa_id", old, Some(w.to_string()), s.source.as_str());
            }
        }
        let m = &mut work.get_mut(&id).expect("present").model;
        if let Some(n) = s.profile_name {
            m.profile_name = Some(n.to_string());
        }
        if let Some(u) = s.username {
            m.username = Some(u.to_string());
        }
        out.push(Some(id));
    }

    // Existing rows that changed. A change of number or user id ("identity") and a change of
    // profile name or username only are written differently.
    let now = crate::db::now();
    let mut updated = Vec::new();
    let (mut changed, mut renamed): (Vec<&Work>, Vec<&Work>) = work
        .values()
        .filter(|w| w.original.as_ref().is_some_and(|o| *o != w.model))
        .partition(|w| w.original.as_ref().is_some_and(|o| o.wa_id != w.model.wa_id || o.user_id != w.model.user_id));
    changed.sort_by_key(|w| w.model.id); // rows locked in id order
    renamed.sort_by_key(|w| w.model.id);
    // Identity: the rows are locked (`FOR NO KEY UPDATE` on PostgreSQL; SQLite has one writer)
    // and must still be as they were read: otherwise a concurrent batch changed one in between,
    // and writing ours would put back a stale number or user id over its change (a customer's
    // number change and a recycled number arriving at once once left the contact without its
    // new number), so everything is read again. Not `FOR UPDATE`: that would also block the
    // foreign-key checks of the conversations this batch inserts on its second connection (a
    // wait on itself).
    if txn.get_database_backend() == sea_orm::DbBackend::Postgres && !changed.is_empty() {
        let ids: Vec<Uuid> = changed.iter().map(|w| w.model.id).collect();
        for chunk in ids.chunks(CHUNK) {
            let now: Vec<contacts::Model> = contacts::Entity::find()
                .filter(contacts::Column::Id.is_in(chunk.iter().copied()))
                .order_by_asc(contacts::Column::Id)
                .lock(sea_orm::sea_query::LockType::NoKeyUpdate)
                .all(txn)
                .await?;
            if now.len() != chunk.len() || now.iter().any(|c| work[&c.id].original.as_ref() != Some(c)) {
                return Ok(None);
            }
        }
    }
    // Identifiers they lose or change are cleared first, so that the rows taking them never meet
    // them in the unique indexes; then each row gets its final values.
    for w in &changed {
        let o = w.original.as_ref().expect("existing");
        let mut q = contacts::Entity::update_many().filter(contacts::Column::Id.eq(w.model.id));
        let mut any = false;
        if o.wa_id.is_some() && o.wa_id != w.model.wa_id {
            q = q.col_expr(contacts::Column::WaId, Expr::value(Option::<String>::None));
            any = true;
        }
        if o.user_id.is_some() && o.user_id != w.model.user_id {
            q = q.col_expr(contacts::Column::UserId, Expr::value(Option::<String>::None));
            any = true;
        }
        if any {
            q.exec(txn).await?;
        }
    }
    for w in &changed {
        let mut am: contacts::ActiveModel = w.original.clone().expect("existing").into();
        let m = &w.model;
        am.wa_id = Set(m.wa_id.clone());
        am.user_id = Set(m.user_id.clone());
        am.profile_name = Set(m.profile_name.clone());
        am.username = Set(m.username.clone());
        am.updated_at = Set(now);
        am.update(txn).await?;
        updated.push(m.id);
    }
    // Profile name or username only (every contact imported without a name, at its first
    // message): one statement per chunk that sets those two columns and nothing else, so a stale
    // read cannot put back an old identifier. On PostgreSQL it commits at once on the second
    // connection: inside the batch's transaction, its row locks would make every concurrent
    // batch that names one of these customers wait for this whole transaction (a convoy that held
    // a 200,000-contact backlog to ~2,500 messages/s). A row this transaction itself inserted
    // (invisible there) or locked (an earlier event of the batch, such as `user_preferences`), or
    // one another batch holds for over 250 ms, is renamed in the transaction instead.
    for chunk in renamed.chunks(CHUNK) {
        let rename = rename_statement(chunk, now);
        let outside = match autocommit {
            Some(db) => async {
                let t = crate::db::begin_bounded(db).await?;
                t.execute_unprepared("SET LOCAL lock_timeout = '250ms'").await?;
                let n = rename.clone().exec(&t).await?.rows_affected;
                if n != chunk.len() as u64 {
                    return Err(DbErr::RecordNotUpdated); // rolled back: done inside
                }
                t.commit().await
            }
            .await
            .is_ok(),
            None => false,
        };
        if !outside {
            rename.exec(txn).await?;
        }
        updated.extend(chunk.iter().map(|w| w.model.id));
    }
    // New contacts.
    let (mut outside, mut inside) = (Vec::new(), Vec::new());
    let mut uncommitted = HashSet::new();
    for id in &order {
        let m = &work[id].model;
        let takes_held = m.wa_id.as_ref().is_some_and(|w| held_wa.contains(&(m.tenant_id, w.clone())))
            || m.user_id.as_ref().is_some_and(|u| held_user.contains(&(m.tenant_id, u.clone())));
        let row: contacts::ActiveModel = m.clone().into();
        if autocommit.is_some() && !takes_held {
            outside.push(row)
        } else {
            uncommitted.insert(*id);
            inside.push(row)
        }
    }
    for chunk in outside.chunks(CHUNK) {
        let db = autocommit.expect("outside only with autocommit");
        // Bounded (`db::begin_bounded`): two batches each taking a number the other inserts
        // would otherwise wait for each other unseen.
        let t = crate::db::begin_bounded(db).await?;
        let insert =
            contacts::Entity::insert_many(chunk.to_vec()).on_conflict(OnConflict::new().do_nothing().to_owned());
        ignore_none(insert.exec_without_returning(&t).await)?;
        t.commit().await?;
    }
    for chunk in inside.chunks(CHUNK) {
        let insert =
            contacts::Entity::insert_many(chunk.to_vec()).on_conflict(OnConflict::new().do_nothing().to_owned());
        ignore_none(insert.exec_without_returning(txn).await)?;
    }
    for chunk in history.chunks(CHUNK) {
        contact_identity_changes::Entity::insert_many(chunk.to_vec()).exec_without_returning(txn).await?;
    }
    if !order.is_empty() {
        // Which of ours went in (a concurrent insert of the same customer wins over ours).
        let mut present: HashSet<Uuid> = HashSet::new();
        for chunk in order.chunks(CHUNK) {
            let ids: Vec<Uuid> = contacts::Entity::find()
                .filter(contacts::Column::Id.is_in(chunk.iter().copied()))
                .all(txn)
                .await?
                .into_iter()
                .map(|c| c.id)
                .collect();
            present.extend(ids);
        }
        if present.len() != order.len() {
            return Ok(None);
        }
    }
    let contacts = out.into_iter().map(|id| id.map(|id| work[&id].model.clone())).collect();
    Ok(Some(Resolved { contacts, updated, uncommitted }))
}

/// `UPDATE contacts SET profile_name = CASE id …, username = CASE id …, updated_at` for rows whose
/// identifiers stay as they are: each row's column only where this sighting changed it, so two
/// batches naming one customer at once each keep the other's change.
fn rename_statement(rows: &[&Work], now: chrono::DateTime<chrono::Utc>) -> sea_orm::UpdateMany<contacts::Entity> {
    use contacts::Column as C;
    use sea_orm::sea_query::{CaseStatement, ExprTrait};
    let (mut name, mut user) = (CaseStatement::new(), CaseStatement::new());
    let (mut names, mut users) = (false, false);
    for w in rows {
        let o = w.original.as_ref().expect("existing");
        let is = || ExprTrait::eq(Expr::col(C::Id), w.model.id);
        if o.profile_name != w.model.profile_name {
            name = name.case(is(), Expr::val(w.model.profile_name.clone()));
            names = true;
        }
        if o.username != w.model.username {
            user = user.case(is(), Expr::val(w.model.username.clone()));
            users = true;
        }
    }
    let mut q = contacts::Entity::update_many().col_expr(C::UpdatedAt, Expr::value(now));
    if names {
        q = q.col_expr(C::ProfileName, name.finally(Expr::col(C::ProfileName)).into());
    }
    if users {
        q = q.col_expr(C::Username, user.finally(Expr::col(C::Username)).into());
    }
    q.filter(C::Id.is_in(rows.iter().map(|w| w.model.id)))
}

fn ignore_none(r: Result<u64, DbErr>) -> Result<u64, DbErr> {
    match r {
        Err(DbErr::RecordNotInserted) => Ok(0),
        r => r,
    }
}

/// A contact's identity changes, newest first.
pub async fn history<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    contact: Uuid,
) -> Result<Vec<contact_identity_changes::Model>, DbErr> {
    use sea_orm::QueryOrder;
    contact_identity_changes::Entity::of(tenant)
        .filter(contact_identity_changes::Column::ContactId.eq(contact))
        .order_by_desc(contact_identity_changes::Column::CreatedAt)
        .all(db)
        .await
}
