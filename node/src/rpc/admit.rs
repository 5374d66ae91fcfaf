//! The threads that admit transactions sent by JSON-RPC clients.
//!
//! Admission is bounded CPU work (about 50 µs, most of it the sender's
//! signature recovery), too long to run on the async workers that also carry
//! consensus: done inline there, it delayed votes and proposals enough on a
//! 4-validator devnet to take p50 latency from 0.24 s to 2 s. Tokio's blocking
//! pool was the other choice, but under one-request-per-transaction load it
//! grows a thread per concurrent request and wakes one per transaction; the
//! context switches cost a quarter of a single node's CPU. A fixed pool of
//! threads (one per core, at most [`MAX_THREADS`]) draining one bounded queue
//! does the same work with few wake-ups: a busy thread takes the next job
//! without sleeping.

use crate::chain::Chain;
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::sync::Arc;

/// Most admission threads, whatever the core count.
pub(super) const MAX_THREADS: usize = 4;
/// Transactions waiting for an admission thread before new ones are refused
/// as an overload (the client retries; nothing is lost).
pub(super) const MAX_QUEUED: usize = 16_384;

type Job = Box<dyn FnOnce(&Chain) + Send>;

/// Why a transaction could not be handed to admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(super) enum AdmitError {
    /// [`MAX_QUEUED`] transactions already wait.
    #[error("the node is overloaded: {MAX_QUEUED} transactions wait for admission; retry later")]
    Overloaded,
    /// The node is shutting down, or admission of this transaction panicked.
    #[error("admission stopped before the transaction was admitted")]
    Stopped,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
    chain: Arc<Chain>,
}

/// A fixed pool of admission threads over one chain; dropping it stops them
/// once the queue is drained.
pub(super) struct AdmissionPool {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for AdmissionPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdmissionPool").field("queued", &self.shared.queue.lock().jobs.len()).finish()
    }
}

impl AdmissionPool {
    /// Start one admission thread per core (at most [`MAX_THREADS`]).
    pub(super) fn new(chain: Arc<Chain>) -> Self {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, MAX_THREADS);
        let shared = Arc::new(Shared { queue: Mutex::new(Queue::default()), ready: Condvar::new(), chain });
        for i in 0..threads {
            let shared = shared.clone();
            let spawned = std::thread::Builder::new().name(format!("dsec-admit-{i}")).spawn(move || work(&shared));
            if let Err(error) = spawned {
                // Fewer threads (none: every submission answers `Stopped`).
                tracing::error!(%error, "cannot start an admission thread");
            }
        }
        Self { shared }
    }

    /// Run `admit` on an admission thread and return what it returns.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        admit: impl FnOnce(&Chain) -> T + Send + 'static,
    ) -> Result<T, AdmitError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        {
            let mut queue = self.shared.queue.lock();
            if queue.closed {
                return Err(AdmitError::Stopped);
            }
            if queue.jobs.len() >= MAX_QUEUED {
                return Err(AdmitError::Overloaded);
            }
            queue.jobs.push_back(Box::new(move |chain: &Chain| {
                let _ = answer.send(admit(chain));
            }));
        }
        self.shared.ready.notify_one();
        answered.await.map_err(|_| AdmitError::Stopped)
    }
}

impl Drop for AdmissionPool {
    fn drop(&mut self) {
        self.shared.queue.lock().closed = true;
        self.shared.ready.notify_all();
    }
}

/// An admission thread: take jobs until the pool is closed and drained. A job
/// that panics is dropped (its caller gets [`AdmitError::Stopped`]) and the
/// thread goes on.
fn work(shared: &Shared) {
    loop {
        let job = {
            let mut queue = shared.queue.lock();
            loop {
                if let Some(job) = queue.jobs.pop_front() {
                    break job;
                }
                if queue.closed {
                    return;
                }
                shared.ready.wait(&mut queue);
            }
        };
        let chain = &shared.chain;
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(chain))).is_err() {
            tracing::error!("transaction admission panicked: the transaction is refused, admission goes on");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{AdmissionPool, AdmitError, MAX_QUEUED, MAX_THREADS};
    use crate::chain::TxOrigin;
    use crate::chain::tests::{open, transfer};
    use dsec_genesis::devnet::{DevnetSpec, generate};
    use std::sync::Arc;

    #[tokio::test]
    async fn admits_on_its_threads_and_survives_a_panicking_job() {
        let devnet = generate(&DevnetSpec::default());
        let dir = tempfile::tempdir().unwrap();
        let chain = Arc::new(open(dir.path(), &devnet.genesis));
        let pool = AdmissionPool::new(chain.clone());
        let raw = transfer(0, 1);
        let hash = pool.run(move |c| c.submit(&raw, TxOrigin::Local)).await.unwrap().unwrap();
        assert!(chain.pooled(&hash).is_some());
        let name = pool.run(|_| std::thread::current().name().map(str::to_string)).await.unwrap();
        assert!(name.is_some_and(|n| n.starts_with("dsec-admit-")), "ran on an admission thread");
        let panicked = pool.run(|_| -> u8 { panic!("injected") }).await;
        assert_eq!(panicked, Err(AdmitError::Stopped));
        let raw = transfer(1, 1);
        assert!(pool.run(move |c| c.submit(&raw, TxOrigin::Local)).await.unwrap().is_ok(), "admission goes on");
        assert_eq!(chain.mempool_len(), 2);
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_as_an_overload_and_drains() {
        let devnet = generate(&DevnetSpec::default());
        let dir = tempfile::tempdir().unwrap();
        let pool = Arc::new(AdmissionPool::new(Arc::new(open(dir.path(), &devnet.genesis))));
        // Hold every admission thread.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let held = Arc::new(std::sync::Mutex::new(held));
        let mut holders = Vec::new();
        for _ in 0..MAX_THREADS {
            let (pool, held) = (pool.clone(), held.clone());
            holders.push(tokio::spawn(async move { pool.run(move |_| held.lock().unwrap().recv().ok()).await }));
        }
        let mut waiting = Vec::new();
        while pool.shared.queue.lock().jobs.len() < MAX_QUEUED {
            let pool = pool.clone();
            waiting.push(tokio::spawn(async move { pool.run(|_| 1u8).await }));
            tokio::task::yield_now().await;
        }
        assert_eq!(pool.run(|_| 2u8).await, Err(AdmitError::Overloaded));
        for _ in 0..MAX_THREADS {
            release.send(()).unwrap();
        }
        for job in waiting {
            assert_eq!(job.await.unwrap(), Ok(1));
        }
        assert_eq!(pool.run(|_| 3u8).await, Ok(3), "accepted again once drained");
        drop(holders);
    }
}
