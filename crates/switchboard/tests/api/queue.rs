use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use switchboard::entities::enums::JobState;
use switchboard::entities::jobs;
use switchboard::jobs::runner::{QueueSpec, Runner};
use switchboard::jobs::{self as q, NewJob, Outcome};

use crate::helpers::{spawn_app_with, wait_for};

const TEST_QUEUE: &str = "test-queue";

async fn app() -> crate::helpers::TestApp {
    spawn_app_with(&[("SWITCHBOARD_RUN_WORKERS", "false"), ("SWITCHBOARD_SANDBOX", "false")]).await
}

#[tokio::test]
async fn unique_keys_make_a_second_enqueue_a_no_op() {
    let app = app().await;
    let db = app.state.writer();
    assert!(q::enqueue(db, NewJob::new(TEST_QUEUE, json!({"n": 1})).unique("k1")).await.unwrap());
    assert!(!q::enqueue(db, NewJob::new(TEST_QUEUE, json!({"n": 2})).unique("k1")).await.unwrap());
    assert!(q::enqueue(db, NewJob::new(TEST_QUEUE, json!({"n": 3}))).await.unwrap());
    assert!(q::enqueue(db, NewJob::new(TEST_QUEUE, json!({"n": 4}))).await.unwrap(), "no key: never a duplicate");
    let n = q::enqueue_many(
        db,
        vec![NewJob::new(TEST_QUEUE, json!({})).unique("k1"), NewJob::new(TEST_QUEUE, json!({})).unique("k2")],
    )
    .await
    .unwrap();
    assert_eq!(n, 1);
    assert_eq!(app.count(jobs::Entity).await, 4);
}

#[tokio::test]
async fn an_expired_lease_makes_the_job_due_again() {
    let app = app().await;
    let db = app.state.writer();
    q::enqueue(db, NewJob::new(TEST_QUEUE, json!({}))).await.unwrap();
    let first = q::claim(db, TEST_QUEUE, "crashed-worker", 10, Duration::from_millis(50)).await.unwrap();
    assert_eq!(first.len(), 1);
    // While the lease holds, nobody else gets it.
    assert!(q::claim(db, TEST_QUEUE, "other", 10, Duration::from_secs(60)).await.unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(q::recover_expired(db, TEST_QUEUE).await.unwrap(), 1, "the runner does this every few seconds");
    let again = q::claim(db, TEST_QUEUE, "other", 10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, first[0].id);
    assert_eq!(again[0].attempts, 2);
    // The crashed worker can no longer complete it (fencing by lease owner).
    assert!(!q::complete(db, first[0].id, "crashed-worker").await.unwrap());
    assert!(q::complete(db, first[0].id, "other").await.unwrap());
}

#[tokio::test]
async fn concurrent_claimers_never_share_a_job() {
    let app = app().await;
    let jobs_: Vec<NewJob> = (0..200).map(|i| NewJob::new(TEST_QUEUE, json!({ "i": i }))).collect();
    q::enqueue_many(app.state.writer(), jobs_).await.unwrap();
    let mut handles = Vec::new();
    for w in 0..4 {
        let db = app.state.writer().clone();
        handles.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = q::claim(&db, TEST_QUEUE, &format!("w{w}"), 7, Duration::from_secs(60)).await.unwrap();
                if batch.is_empty() {
                    break;
                }
                mine.extend(batch.into_iter().map(|j| j.id));
            }
            mine
        }));
    }
    let mut seen = HashSet::new();
    let mut total = 0;
    for h in handles {
        for id in h.await.unwrap() {
            total += 1;
            assert!(seen.insert(id), "job {id} claimed twice");
        }
    }
    assert_eq!(total, 200);
}

#[tokio::test]
async fn failures_back_off_then_die_and_an_operator_can_retry() {
    let app = app().await;
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let handler: switchboard::jobs::runner::Handler = Arc::new(move |_state, job| {
        let c = c.clone();
        Box::pin(async move {
            c.fetch_add(1, Ordering::SeqCst);
            if job.payload["ok"] == json!(true) {
                Ok(())
            } else {
                Err(Outcome::Retry { error: "boom".into(), after: None })
            }
        })
    });
    let mut spec = QueueSpec::new(TEST_QUEUE, 2);
    spec.backoff_base = Duration::from_millis(5);
    spec.backoff_cap = Duration::from_millis(20);
    let cancel = tokio_util::sync::CancellationToken::new();
    let runner = Runner::new(app.state.clone()).register(spec, handler);
    let run = tokio::spawn(runner.run(cancel.clone()));

    q::enqueue(app.state.writer(), NewJob::new(TEST_QUEUE, json!({"ok": false})).attempts(3)).await.unwrap();
    app.state.jobs_wakeup.wake(TEST_QUEUE);
    let dead = wait_for("dead job", || async {
        let j = jobs::Entity::find().one(&app.state.db).await.unwrap().unwrap();
        (j.state == JobState::Dead).then_some(j)
    })
    .await;
    assert_eq!(dead.attempts, 3);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(dead.last_error.as_deref(), Some("boom"));

    // Listed for operators, with per-queue stats in health.
    let root = app.system_admin().await;
    let list: Value = app.get("/api/admin/jobs?state=dead", Some(&root)).await.json().await.unwrap();
    assert_eq!(list["data"][0]["id"], dead.id);
    let health: Value = app.get("/api/health", None).await.json().await.unwrap();
    let stats = health["jobs"].as_array().unwrap().iter().find(|s| s["queue"] == TEST_QUEUE).unwrap().clone();
    assert_eq!(stats["dead"], 1);
    let bad = app.get("/api/admin/jobs?state=nonsense", Some(&root)).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Retry: back to pending with fresh attempts; make it succeed this time.
    {
        use sea_orm::{ActiveModelTrait, Set};
        let mut am: jobs::ActiveModel = dead.clone().into();
        am.payload = Set(json!({"ok": true}));
        am.update(app.state.writer()).await.unwrap();
    }
    let res = app.post(&format!("/api/admin/jobs/{}/retry", dead.id), &json!({}), Some(&root)).await;
    assert_eq!(res.status(), StatusCode::OK);
    app.state.jobs_wakeup.wake(TEST_QUEUE);
    wait_for("done", || async {
        let j = jobs::Entity::find_by_id(dead.id).one(&app.state.db).await.unwrap().unwrap();
        (j.state == JobState::Done).then_some(())
    })
    .await;
    // A done job is not retryable; an unknown one is 404.
    let res = app.post(&format!("/api/admin/jobs/{}/retry", dead.id), &json!({}), Some(&root)).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let res = app.post("/api/admin/jobs/999999/retry", &json!({}), Some(&root)).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    cancel.cancel();
    run.await.unwrap();
}

#[tokio::test]
async fn deferral_does_not_spend_attempts_and_shutdown_waits_for_running_jobs() {
    let app = app().await;
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let handler: switchboard::jobs::runner::Handler = Arc::new(move |_state, _job| {
        let c = c.clone();
        Box::pin(async move {
            let n = c.fetch_add(1, Ordering::SeqCst);
            if n < 3 {
                return Err(Outcome::Defer { after: Duration::from_millis(5), reason: "rate limited".into() });
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok(())
        })
    });
    let cancel = tokio_util::sync::CancellationToken::new();
    let run = tokio::spawn(
        Runner::new(app.state.clone()).register(QueueSpec::new(TEST_QUEUE, 1), handler).run(cancel.clone()),
    );
    q::enqueue(app.state.writer(), NewJob::new(TEST_QUEUE, json!({})).attempts(2)).await.unwrap();
    app.state.jobs_wakeup.wake(TEST_QUEUE);
    wait_for("fourth call running", || async { (calls.load(Ordering::SeqCst) >= 4).then_some(()) }).await;
    // Shut down while the job sleeps: the runner waits for it to finish and record success.
    cancel.cancel();
    run.await.unwrap();
    let j = jobs::Entity::find().one(&app.state.db).await.unwrap().unwrap();
    assert_eq!(j.state, JobState::Done, "deferred three times with max 2 attempts, still done");
}

#[test]
fn finished_jobs_are_cleaned_up_but_dead_ones_kept() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let app = app().await;
        let db = app.state.writer();
        q::enqueue(db, NewJob::new(TEST_QUEUE, json!({}))).await.unwrap();
        q::enqueue(db, NewJob::new(TEST_QUEUE, json!({}))).await.unwrap();
        let claimed = q::claim(db, TEST_QUEUE, "w", 2, Duration::from_secs(60)).await.unwrap();
        q::complete(db, claimed[0].id, "w").await.unwrap();
        q::finish_unsuccessfully(
            db,
            &claimed[1],
            "w",
            Outcome::Dead { error: "x".into() },
            Duration::ZERO,
            Duration::ZERO,
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(q::cleanup(db, Duration::from_millis(1)).await.unwrap(), 1);
        let left = jobs::Entity::find().all(&app.state.db).await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].state, JobState::Dead);
    });
}
