//! `db::Scoped`: a row of tenant A is invisible, unchangeable and undeletable through tenant B's
//! id, by every beginning of a tenant-scoped query (`of`, `by_id`, `secure_find`, `update_of`,
//! `delete_of`), on a table with a NOT NULL `tenant_id` and on one whose `tenant_id` is nullable.

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use switchboard::db::{Scoped, TenantOwned};
use switchboard::entities::{canned_responses, users};
use switchboard::ids::TenantId;
use uuid::Uuid;

use crate::helpers::spawn_app;

#[tokio::test]
async fn another_tenants_row_is_not_found_changed_or_deleted() {
    let app = spawn_app().await;
    let a = app.register("Acme", "ana@acme.test").await;
    let b = app.register("Globex", "gus@globex.test").await;
    let (ta, tb) = (TenantId(a.tenant_id.parse().unwrap()), TenantId(b.tenant_id.parse().unwrap()));
    let db = app.state.writer();

    let now = switchboard::db::now();
    let id = switchboard::db::new_id();
    canned_responses::ActiveModel {
        id: Set(id),
        tenant_id: Set(ta.0),
        shortcut: Set("hi".into()),
        title: Set("Hi".into()),
        body: Set("Hello!".into()),
        created_by: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .unwrap();

    // Reads.
    assert!(canned_responses::Entity::secure_find(db, tb, id).await.unwrap().is_none());
    assert_eq!(canned_responses::Entity::secure_find(db, ta, id).await.unwrap().map(|r| r.id), Some(id));
    assert!(canned_responses::Entity::by_id(tb, id).one(db).await.unwrap().is_none());
    assert_eq!(canned_responses::Entity::of(tb).count(db).await.unwrap(), 0);
    assert_eq!(canned_responses::Entity::of(ta).count(db).await.unwrap(), 1);
    // The condition is an AND with whatever follows: B asking for A's id by another filter still gets nothing.
    assert_eq!(
        canned_responses::Entity::of(tb).filter(canned_responses::Column::Id.eq(id)).count(db).await.unwrap(),
        0
    );
    assert_eq!(
        canned_responses::Entity::find().filter(canned_responses::Entity::tenant_is(tb)).count(db).await.unwrap(),
        0
    );

    // Writes through B's id touch nothing.
    let r = canned_responses::Entity::update_of(tb)
        .col_expr(canned_responses::Column::Body, Expr::value("changed"))
        .filter(canned_responses::Column::Id.eq(id))
        .exec(db)
        .await
        .unwrap();
    assert_eq!(r.rows_affected, 0);
    let r = canned_responses::Entity::delete_of(tb).filter(canned_responses::Column::Id.eq(id)).exec(db).await.unwrap();
    assert_eq!(r.rows_affected, 0);
    let row = canned_responses::Entity::find_by_id(id).one(db).await.unwrap().unwrap();
    assert_eq!(row.body, "Hello!");

    // Through A's they do.
    let r = canned_responses::Entity::update_of(ta)
        .col_expr(canned_responses::Column::Body, Expr::value("changed"))
        .filter(canned_responses::Column::Id.eq(id))
        .exec(db)
        .await
        .unwrap();
    assert_eq!(r.rows_affected, 1);
    let r = canned_responses::Entity::delete_of(ta).filter(canned_responses::Column::Id.eq(id)).exec(db).await.unwrap();
    assert_eq!(r.rows_affected, 1);

    // A nullable tenant_id (users): each tenant sees only its own users, and no tenant sees a
    // platform user (tenant_id NULL).
    app.system_admin().await;
    let root = users::Entity::find().filter(users::Column::TenantId.is_null()).one(db).await.unwrap().unwrap();
    let ana: Uuid = a.user_id.parse().unwrap();
    assert!(users::Entity::secure_find(db, tb, ana).await.unwrap().is_none());
    assert_eq!(users::Entity::secure_find(db, ta, ana).await.unwrap().map(|u| u.id), Some(ana));
    assert!(users::Entity::secure_find(db, ta, root.id).await.unwrap().is_none());
    let of_a: Vec<Uuid> = users::Entity::of(ta).all(db).await.unwrap().into_iter().map(|u| u.id).collect();
    assert_eq!(of_a, vec![ana]);
    let r = users::Entity::update_of(tb)
        .col_expr(users::Column::Name, Expr::value("nobody"))
        .filter(users::Column::Id.eq(ana))
        .exec(db)
        .await
        .unwrap();
    assert_eq!(r.rows_affected, 0);
    let r = users::Entity::delete_of(ta).filter(users::Column::Id.eq(root.id)).exec(db).await.unwrap();
    assert_eq!(r.rows_affected, 0);
}
