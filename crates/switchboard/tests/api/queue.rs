use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use switchboard::entities::enums::JobState;
use switchboard::entities::jobs;
use switchboard::jobs::runner::{Done, QueueSpec, Runner};
use switchboard::jobs::{self as q, NewJob, Outcome};

use crate::helpers::{envelope, spawn_app_with, text_message, wait_for};

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
    let handler: switchboard::jobs::runner::Handler<switchboard::state::AppState> = Arc::new(move |_state, job| {
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
    let runner = Runner::new(app.state.clone(), switchboard::startup::job_handles(&app.state)).register(spec, handler);
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
    let handler: switchboard::jobs::runner::Handler<switchboard::state::AppState> = Arc::new(move |_state, _job| {
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
        Runner::new(app.state.clone(), switchboard::startup::job_handles(&app.state))
            .register(QueueSpec::new(TEST_QUEUE, 1), handler)
            .run(cancel.clone()),
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

/// How many handler calls (or jobs) are running now, and the most ever at once.
#[derive(Default)]
struct InFlight {
    now: std::sync::atomic::AtomicUsize,
    max: std::sync::atomic::AtomicUsize,
    finished: std::sync::atomic::AtomicUsize,
}

impl InFlight {
    fn enter(&self, n: usize) {
        let now = self.now.fetch_add(n, Ordering::SeqCst) + n;
        self.max.fetch_max(now, Ordering::SeqCst);
    }
    fn leave(&self, n: usize) {
        self.now.fetch_sub(n, Ordering::SeqCst);
        self.finished.fetch_add(n, Ordering::SeqCst);
    }
    fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }
}

async fn count_in_state(app: &crate::helpers::TestApp, queue: &str, state: JobState) -> usize {
    use sea_orm::{ColumnTrait, QueryFilter};
    jobs::Entity::find()
        .filter(jobs::Column::Queue.eq(queue))
        .filter(jobs::Column::State.eq(state))
        .all(&app.state.db)
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn a_queue_never_runs_more_jobs_at_once_than_its_concurrency() {
    const CONCURRENCY: usize = 3;
    const JOBS: usize = 12;
    let app = app().await;
    let flight = Arc::new(InFlight::default());
    let f = flight.clone();
    let handler: switchboard::jobs::runner::Handler<switchboard::state::AppState> = Arc::new(move |_state, _job| {
        let f = f.clone();
        Box::pin(async move {
            f.enter(1);
            tokio::time::sleep(Duration::from_millis(100)).await;
            f.leave(1);
            Ok(())
        })
    });
    // All due before the runner starts: it could take every one at its first claim.
    q::enqueue_many(app.state.writer(), (0..JOBS).map(|i| NewJob::new(TEST_QUEUE, json!({ "i": i }))).collect())
        .await
        .unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    let run = tokio::spawn(
        Runner::new(app.state.clone(), switchboard::startup::job_handles(&app.state))
            .register(QueueSpec::new(TEST_QUEUE, CONCURRENCY), handler)
            .run(cancel.clone()),
    );
    // The database agrees: never more than CONCURRENCY leased at once.
    let mut max_leased = 0;
    while count_in_state(&app, TEST_QUEUE, JobState::Done).await < JOBS {
        max_leased = max_leased.max(count_in_state(&app, TEST_QUEUE, JobState::Running).await);
        assert!(flight.finished.load(Ordering::SeqCst) <= JOBS);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cancel.cancel();
    run.await.unwrap();
    assert_eq!(flight.finished.load(Ordering::SeqCst), JOBS, "each job ran once");
    assert_eq!(flight.max(), CONCURRENCY, "at most {CONCURRENCY} handlers at once, and the runner used them all");
    assert!((1..=CONCURRENCY).contains(&max_leased), "{max_leased} jobs leased at once");
}

#[tokio::test]
async fn batch_queues_run_at_most_concurrency_batches_and_refill_queues_concurrency_times_batch_jobs() {
    const BATCHES: &str = "test-batches";
    const REFILL: &str = "test-refill";
    const JOBS: usize = 18;
    let app = app().await;
    let calls = Arc::new(InFlight::default());
    let batch_jobs = Arc::new(InFlight::default());
    let biggest_batch = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let refill_jobs = Arc::new(InFlight::default());
    let (c, j, b) = (calls.clone(), batch_jobs.clone(), biggest_batch.clone());
    let batches: switchboard::jobs::runner::BatchHandler<switchboard::state::AppState> =
        Arc::new(move |_state, claimed, _owner| {
            let (c, j, b) = (c.clone(), j.clone(), b.clone());
            Box::pin(async move {
                let n = claimed.len();
                c.enter(1);
                j.enter(n);
                b.fetch_max(n, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
                j.leave(n);
                c.leave(1);
                claimed.into_iter().map(|job| (job, Ok(Done::Pending))).collect()
            })
        });
    let r = refill_jobs.clone();
    let refill: switchboard::jobs::runner::BatchHandler<switchboard::state::AppState> =
        Arc::new(move |_state, claimed, _owner| {
            let r = r.clone();
            Box::pin(async move {
                let n = claimed.len();
                r.enter(n);
                tokio::time::sleep(Duration::from_millis(100)).await;
                r.leave(n);
                claimed.into_iter().map(|job| (job, Ok(Done::Pending))).collect()
            })
        });
    for queue in [BATCHES, REFILL] {
        q::enqueue_many(app.state.writer(), (0..JOBS).map(|i| NewJob::new(queue, json!({ "i": i }))).collect())
            .await
            .unwrap();
    }
    let cancel = tokio_util::sync::CancellationToken::new();
    let run = tokio::spawn(
        Runner::new(app.state.clone(), switchboard::startup::job_handles(&app.state))
            .register_batch(QueueSpec::new(BATCHES, 2).batch(3), batches)
            .register_batch(QueueSpec::new(REFILL, 2).batch(2).refill(), refill)
            .run(cancel.clone()),
    );
    wait_for("every job done", || async {
        let done =
            count_in_state(&app, BATCHES, JobState::Done).await + count_in_state(&app, REFILL, JobState::Done).await;
        (done == 2 * JOBS).then_some(())
    })
    .await;
    cancel.cancel();
    run.await.unwrap();
    assert_eq!(batch_jobs.finished.load(Ordering::SeqCst), JOBS);
    assert_eq!(calls.max(), 2, "concurrency 2: two batches at once, never more");
    assert_eq!(biggest_batch.load(Ordering::SeqCst), 3, "batch 3: at most 3 jobs per call");
    assert_eq!(batch_jobs.max(), 6);
    assert_eq!(refill_jobs.finished.load(Ordering::SeqCst), JOBS);
    assert_eq!(refill_jobs.max(), 4, "refill: at most concurrency × batch = 4 jobs in flight");
}

#[tokio::test]
async fn a_job_scheduled_for_later_is_claimed_only_once_it_is_due() {
    let app = app().await;
    let db = app.state.writer();

    // Claiming directly.
    let due = switchboard::db::now() + chrono::Duration::milliseconds(1000);
    q::enqueue(db, NewJob::new(TEST_QUEUE, json!({"n": 1})).at(due)).await.unwrap();
    assert!(q::claim(db, TEST_QUEUE, "w", 10, Duration::from_secs(60)).await.unwrap().is_empty(), "not due yet");
    tokio::time::sleep((due - chrono::Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(50)).await;
    let claimed = q::claim(db, TEST_QUEUE, "w", 10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(claimed.len(), 1, "due now");
    assert_eq!(claimed[0].payload, json!({"n": 1}));
    assert!(q::complete(db, claimed[0].id, "w").await.unwrap());

    // Through the runner, woken at once: it waits for the job's time.
    let ran_at = Arc::new(std::sync::Mutex::new(None));
    let r = ran_at.clone();
    let handler: switchboard::jobs::runner::Handler<switchboard::state::AppState> = Arc::new(move |_state, _job| {
        let r = r.clone();
        Box::pin(async move {
            r.lock().unwrap().get_or_insert(chrono::Utc::now());
            Ok(())
        })
    });
    let cancel = tokio_util::sync::CancellationToken::new();
    let run = tokio::spawn(
        Runner::new(app.state.clone(), switchboard::startup::job_handles(&app.state))
            .register(QueueSpec::new(TEST_QUEUE, 2), handler)
            .run(cancel.clone()),
    );
    let due = switchboard::db::now() + chrono::Duration::milliseconds(2000);
    q::enqueue(db, NewJob::new(TEST_QUEUE, json!({"n": 2})).at(due)).await.unwrap();
    app.state.jobs_wakeup.wake(TEST_QUEUE);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(ran_at.lock().unwrap().is_none(), "ran before its run_at");
    assert_eq!(count_in_state(&app, TEST_QUEUE, JobState::Pending).await, 1, "still waiting, unclaimed");
    let ran = wait_for("the scheduled job ran", || async { *ran_at.lock().unwrap() }).await;
    assert!(ran >= due, "ran at {ran}, due at {due}");
    wait_for("done", || async { (count_in_state(&app, TEST_QUEUE, JobState::Done).await == 2).then_some(()) }).await;
    cancel.cancel();
    run.await.unwrap();
}

#[tokio::test]
async fn a_job_enqueued_in_a_rolled_back_transaction_does_not_exist() {
    use sea_orm::TransactionTrait;
    let app = app().await;
    let txn = app.state.writer().begin().await.unwrap();
    assert!(q::enqueue(&txn, NewJob::new(TEST_QUEUE, json!({"n": 1})).unique("once")).await.unwrap());
    assert_eq!(q::enqueue_many(&txn, vec![NewJob::new(TEST_QUEUE, json!({"n": 2}))]).await.unwrap(), 1);
    assert_eq!(jobs::Entity::find().all(&txn).await.unwrap().len(), 2, "visible inside the transaction");
    assert_eq!(app.count(jobs::Entity).await, 0, "invisible to others before the commit");
    txn.rollback().await.unwrap();
    assert_eq!(app.count(jobs::Entity).await, 0, "rolled back with the transaction");
    let db = app.state.writer();
    assert!(q::claim(db, TEST_QUEUE, "w", 10, Duration::from_secs(60)).await.unwrap().is_empty());

    // Committed, the same jobs exist (the unique key was never taken) and can be claimed.
    let txn = db.begin().await.unwrap();
    assert!(q::enqueue(&txn, NewJob::new(TEST_QUEUE, json!({"n": 1})).unique("once")).await.unwrap());
    assert_eq!(q::enqueue_many(&txn, vec![NewJob::new(TEST_QUEUE, json!({"n": 2}))]).await.unwrap(), 1);
    assert_eq!(app.count(jobs::Entity).await, 0, "not before the commit");
    txn.commit().await.unwrap();
    assert_eq!(app.count(jobs::Entity).await, 2);
    let claimed = q::claim(db, TEST_QUEUE, "w", 10, Duration::from_secs(60)).await.unwrap();
    let mut payloads: Vec<Value> = claimed.into_iter().map(|j| j.payload).collect();
    payloads.sort_by_key(|p| p["n"].as_i64());
    assert_eq!(payloads, vec![json!({"n": 1}), json!({"n": 2})]);
}

/// A worker claims a webhook's job and dies without finishing it: the real runner (all the
/// product's queues) leaves the job alone while the lease holds, then runs it.
#[tokio::test]
async fn the_runner_runs_a_crashed_workers_job_once_its_lease_expired() {
    const SECRET: &str = "lease-secret";
    let app = spawn_app_with(&[
        ("SWITCHBOARD_RUN_WORKERS", "false"),
        ("SWITCHBOARD_SANDBOX", "false"),
        ("SWITCHBOARD_META_APP_SECRET", SECRET),
    ])
    .await;
    let a = app.register("Acme", "ana@acme.test").await;
    app.create_account(&a.access, "7001", None).await;
    let body =
        envelope("7001", text_message("15550007001", "wamid.lease", "after the crash", chrono::Utc::now().timestamp()));
    assert_eq!(app.post_webhook(&body, SECRET).await.status(), StatusCode::OK);

    let lease = Duration::from_secs(2);
    let claimed = q::claim(app.state.writer(), q::queues::WEBHOOK_PROCESSOR, "crashed-node", 10, lease).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let claimed_at = std::time::Instant::now();
    let id = claimed[0].id;

    let cancel = tokio_util::sync::CancellationToken::new();
    let run = tokio::spawn(switchboard::startup::runner(&app.state, &app.ingest).run(cancel.clone()));
    let message = || async {
        use sea_orm::{ColumnTrait, QueryFilter};
        switchboard::entities::messages::Entity::find()
            .filter(switchboard::entities::messages::Column::WaMessageId.eq("wamid.lease"))
            .one(&app.state.db)
            .await
            .unwrap()
    };
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(message().await.is_none(), "run while another worker's lease held");
    let job = jobs::Entity::find_by_id(id).one(&app.state.db).await.unwrap().unwrap();
    assert_eq!((job.state, job.lease_owner.as_deref()), (JobState::Running, Some("crashed-node")));

    let m = wait_for("the message, once the lease expired", message).await;
    assert!(claimed_at.elapsed() >= lease, "ran after {:?}", claimed_at.elapsed());
    assert!(m.content.to_string().contains("after the crash"), "{}", m.content);
    let job = wait_for("job done", || async {
        let j = jobs::Entity::find_by_id(id).one(&app.state.db).await.unwrap().unwrap();
        (j.state == JobState::Done).then_some(j)
    })
    .await;
    cancel.cancel();
    run.await.unwrap();
    assert_eq!(job.attempts, 2, "the crashed attempt counts");
    assert!(job.last_error.unwrap_or_default().contains("lease expired"));
    // The crashed owner can no longer record anything for it.
    assert!(!q::complete(app.state.writer(), id, "crashed-node").await.unwrap());
}

/// Pending, running, failed, dead and the oldest due job's age, per queue, in the three places
/// that report them.
#[tokio::test]
async fn queue_depths_are_reported_in_health_admin_stats_and_admin_jobs() {
    const OTHER: &str = "test-other";
    let app = app().await;
    let db = app.state.writer();
    let now = chrono::Utc::now();
    // Four jobs run: one finishes, one fails (its retry is in an hour), one dies, one keeps running.
    q::enqueue_many(db, (0..4).map(|i| NewJob::new(TEST_QUEUE, json!({ "i": i }))).collect()).await.unwrap();
    let c = q::claim(db, TEST_QUEUE, "w", 4, Duration::from_secs(60)).await.unwrap();
    assert_eq!(c.len(), 4);
    assert!(q::complete(db, c[0].id, "w").await.unwrap());
    let retry = Outcome::Retry { error: "boom".into(), after: Some(Duration::from_secs(3600)) };
    let failed = q::finish_unsuccessfully(db, &c[1], "w", retry, Duration::ZERO, Duration::ZERO).await.unwrap();
    assert_eq!(failed, JobState::Pending, "waiting for its retry");
    let dead = Outcome::Dead { error: "bad".into() };
    assert_eq!(
        q::finish_unsuccessfully(db, &c[2], "w", dead, Duration::ZERO, Duration::ZERO).await.unwrap(),
        JobState::Dead
    );
    // Three pending: due 30 s ago, due now, and due in an hour.
    q::enqueue(db, NewJob::new(TEST_QUEUE, json!({"p": 1})).at(now - chrono::Duration::seconds(30))).await.unwrap();
    q::enqueue(db, NewJob::new(TEST_QUEUE, json!({"p": 2}))).await.unwrap();
    q::enqueue(db, NewJob::new(TEST_QUEUE, json!({"p": 3})).at(now + chrono::Duration::hours(1))).await.unwrap();
    // Another queue with only a job for later: pending, but nothing due, so no age.
    q::enqueue(db, NewJob::new(OTHER, json!({})).at(now + chrono::Duration::hours(1))).await.unwrap();

    let root = app.system_admin().await;
    let health: Value = app.get("/api/health", None).await.json().await.unwrap();
    let stats = app.get("/api/admin/stats", Some(&root)).await;
    assert_eq!(stats.status(), StatusCode::OK);
    let stats: Value = stats.json().await.unwrap();
    // The list is filtered; its queue depths are not.
    let list = app.get(&format!("/api/admin/jobs?queue={OTHER}"), Some(&root)).await;
    assert_eq!(list.status(), StatusCode::OK);
    let list: Value = list.json().await.unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["queue"], OTHER);
    for (source, queues) in
        [("health", &health["jobs"]), ("admin stats", &stats["queues"]), ("admin jobs", &list["queues"])]
    {
        let find = |name: &str| {
            queues
                .as_array()
                .unwrap_or_else(|| panic!("{source}: {queues}"))
                .iter()
                .find(|s| s["queue"] == name)
                .cloned()
        };
        let s = find(TEST_QUEUE).unwrap_or_else(|| panic!("{source}: no {TEST_QUEUE} in {queues}"));
        let counts = [&s["pending"], &s["running"], &s["failed"], &s["dead"]];
        assert_eq!(counts, [&json!(3), &json!(1), &json!(1), &json!(1)], "{source}: {s}");
        let age = s["oldestPendingAgeSecs"].as_f64().unwrap_or_else(|| panic!("{source}: {s}"));
        assert!((30.0..60.0).contains(&age), "{source}: oldest due job waited {age} s");
        let o = find(OTHER).unwrap_or_else(|| panic!("{source}: no {OTHER} in {queues}"));
        let counts = [&o["pending"], &o["running"], &o["failed"], &o["dead"]];
        assert_eq!(counts, [&json!(1), &json!(0), &json!(0), &json!(0)], "{source}: {o}");
        assert!(o["oldestPendingAgeSecs"].is_null(), "{source}: nothing due: {o}");
    }
    // The OpenAPI document describes them on the job list too.
    let doc: Value = app.get("/api/openapi.json", None).await.json().await.unwrap();
    let list = &doc["components"]["schemas"]["JobList"];
    assert_eq!(list["properties"]["queues"]["items"]["$ref"], "#/components/schemas/QueueStats", "{list}");
    assert!(list["required"].as_array().unwrap().contains(&json!("queues")), "{list}");
    assert!(doc["components"]["schemas"]["QueueStats"]["properties"]["oldestPendingAgeSecs"].is_object());
}

/// Issue #16: a job that runs longer than its lease keeps it (heartbeat) while its worker is
/// alive: another worker's recovery and claims do not take it, and it runs once.
#[tokio::test]
async fn a_long_job_keeps_its_lease_while_its_worker_is_alive() {
    let app = app().await;
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let handler: switchboard::jobs::runner::Handler<switchboard::state::AppState> = Arc::new(move |_state, _job| {
        let c = c.clone();
        Box::pin(async move {
            c.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(2_500)).await; // five leases long
            Ok(())
        })
    });
    let mut spec = QueueSpec::new(TEST_QUEUE, 1);
    spec.lease = Duration::from_millis(500);
    let cancel = tokio_util::sync::CancellationToken::new();
    let run = tokio::spawn(
        Runner::new(app.state.clone(), switchboard::startup::job_handles(&app.state))
            .register(spec, handler)
            .run(cancel.clone()),
    );
    q::enqueue(app.state.writer(), NewJob::new(TEST_QUEUE, json!({}))).await.unwrap();
    app.state.jobs_wakeup.wake(TEST_QUEUE);
    wait_for("the job started", || async { (calls.load(Ordering::SeqCst) == 1).then_some(()) }).await;
    // Another node recovers expired leases and claims, again and again, while the job runs.
    let db = app.state.writer();
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        q::recover_expired(db, TEST_QUEUE).await.unwrap();
        let stolen = q::claim(db, TEST_QUEUE, "other-node", 10, Duration::from_secs(60)).await.unwrap();
        assert!(stolen.is_empty(), "the running job was taken: {stolen:?}");
    }
    let job = wait_for("job done", || async {
        let j = jobs::Entity::find().one(&app.state.db).await.unwrap()?;
        (j.state == JobState::Done).then_some(j)
    })
    .await;
    cancel.cancel();
    run.await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1, "ran once");
    assert_eq!(job.attempts, 1);
}
