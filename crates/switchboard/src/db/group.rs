//! Group commit: many concurrent callers each submit one write and wait for its commit; writer
//! tasks take everything queued at that moment (up to a maximum) and write it as one group — one
//! statement or transaction — and answer every caller with the group's result. The number of
//! database writes follows the database's latency, not the callers' rate. Webhook ingest (each
//! POST's event and job) and the sender (`send_started_at` marks, recorded sends) use it.
//!
//! It also tells how busy the writers are: [`GroupCommit::waiting`] (submissions not yet taken)
//! and a saturation signal — a writer that finds work already queued when it comes back was not
//! keeping up ([`GroupCommit::saturation`], [`GroupCommit::saturated_within`]).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, mpsc, oneshot};

/// The queue was closed (its writers stopped) or a writer dropped the submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed;

type Entry<T, R> = (T, oneshot::Sender<R>);

/// A group-commit queue of `T`s whose groups produce an `R` (cloned to every caller of the group).
pub struct GroupCommit<T, R> {
    tx: mpsc::Sender<Entry<T, R>>,
    rx: Arc<Mutex<mpsc::Receiver<Entry<T, R>>>>,
    max: usize,
    signal: Arc<Signal>,
}

#[derive(Default)]
struct Signal {
    /// Times a writer found submissions already waiting for it.
    waited: AtomicU64,
    /// When that last happened, in milliseconds since `epoch` (0: never).
    waited_at_ms: AtomicU64,
    epoch: Option<Instant>,
}

impl<T: Send + 'static, R: Clone + Send + 'static> GroupCommit<T, R> {
    /// A queue holding up to `capacity` submissions (callers wait beyond that), written in groups
    /// of at most `max`. Nothing is written until [`Self::spawn_writers`].
    pub fn new(capacity: usize, max: usize) -> Self {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let signal = Signal { epoch: Some(Instant::now()), ..Signal::default() };
        Self { tx, rx: Arc::new(Mutex::new(rx)), max: max.max(1), signal: Arc::new(signal) }
    }

    /// Starts `writers` tasks, each writing one group at a time with `write`. They stop when the
    /// queue is dropped.
    pub fn spawn_writers<F, Fut>(&self, writers: usize, write: F)
    where
        F: Fn(Vec<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send,
    {
        let write = Arc::new(write);
        for _ in 0..writers.max(1) {
            let (rx, signal, write, max) = (self.rx.clone(), self.signal.clone(), write.clone(), self.max);
            tokio::spawn(async move {
                while let Some(group) = next_group(&rx, &signal, max).await {
                    let (items, replies): (Vec<T>, Vec<oneshot::Sender<R>>) = group.into_iter().unzip();
                    let result = write(items).await;
                    for reply in replies {
                        let _ = reply.send(result.clone());
                    }
                }
            });
        }
    }

    /// Submits one item and waits for the result of the group it was written in.
    pub async fn submit(&self, item: T) -> Result<R, Closed> {
        let (tx, rx) = oneshot::channel();
        self.tx.send((item, tx)).await.map_err(|_| Closed)?;
        rx.await.map_err(|_| Closed)
    }

    /// Submissions waiting for a writer to take them.
    pub fn waiting(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// A counter that grows each time a writer found submissions already waiting for it.
    pub fn saturation(&self) -> u64 {
        self.signal.waited.load(Ordering::Relaxed)
    }

    /// Writers found submissions waiting within the last `window`.
    pub fn saturated_within(&self, window: Duration) -> bool {
        let at = self.signal.waited_at_ms.load(Ordering::Relaxed);
        at > 0 && self.signal.elapsed_ms().saturating_sub(at) <= window.as_millis() as u64
    }
}

impl Signal {
    fn elapsed_ms(&self) -> u64 {
        self.epoch.map_or(0, |e| e.elapsed().as_millis() as u64)
    }
}

/// The next group: the first submission (noting when one was already waiting), then whatever
/// else is queued, up to `max`.
async fn next_group<T, R>(
    rx: &Mutex<mpsc::Receiver<Entry<T, R>>>,
    signal: &Signal,
    max: usize,
) -> Option<Vec<Entry<T, R>>> {
    let mut rx = rx.lock().await;
    let first = match rx.try_recv() {
        Ok(first) => {
            signal.waited.fetch_add(1, Ordering::Relaxed);
            signal.waited_at_ms.store(signal.elapsed_ms().max(1), Ordering::Relaxed);
            first
        }
        Err(_) => rx.recv().await?,
    };
    let mut group = Vec::with_capacity(max.min(64));
    group.push(first);
    while group.len() < max {
        match rx.try_recv() {
            Ok(x) => group.push(x),
            Err(_) => break,
        }
    }
    Some(group)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn concurrent_submissions_share_groups_and_each_gets_its_groups_result() {
        let q: Arc<GroupCommit<u32, Vec<u32>>> = Arc::new(GroupCommit::new(1024, 100));
        let writes = Arc::new(AtomicU64::new(0));
        let w = writes.clone();
        q.spawn_writers(1, move |items: Vec<u32>| {
            let w = w.clone();
            async move {
                w.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
                items
            }
        });
        let calls: Vec<_> = (0..300u32)
            .map(|i| {
                let q = q.clone();
                tokio::spawn(async move { (i, q.submit(i).await.unwrap()) })
            })
            .collect();
        for c in calls {
            let (i, group) = c.await.unwrap();
            assert!(group.contains(&i), "{i} answered with another group's result");
            assert!(group.len() <= 100);
        }
        let n = writes.load(Ordering::Relaxed);
        assert!((3..300).contains(&n), "300 submissions in {n} writes");
        assert!(q.saturation() > 0 && q.saturated_within(Duration::from_secs(5)));
        assert_eq!(q.waiting(), 0);
    }

    #[tokio::test]
    async fn a_closed_queue_answers_closed_not_forever() {
        let q: GroupCommit<u32, ()> = GroupCommit::new(4, 4);
        q.rx.lock().await.close(); // as when the writers are gone
        assert_eq!(q.submit(1).await, Err(Closed));
    }
}
