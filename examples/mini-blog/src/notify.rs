//! The background job: telling an author's followers about a new article.
//!
//! A popular author can have thousands of followers, and writing one notification per follower
//! inside `POST /api/articles` would make the author wait for all of them. So the request only
//! enqueues a job (`notify_followers`, with the article id) and answers 201; a worker does the
//! fan-out. The queues are the jobs topic's own backends behind its [`Queue`] trait: RabbitMQ
//! when it answers, else Redis (a reliable list with a visibility timeout), else the
//! in-process queue. The job is the jobs topic's [`Job`] envelope with a [`Task::Named`] task,
//! so the wire format is the one that topic documents.
//!
//! Delivery is at least once on the brokers, so the job is idempotent: a notification row's
//! key is (user, article), and inserting one that exists does nothing. Running the job twice
//! leaves the same rows. A failure is retried with backoff and dead-lettered after
//! [`MAX_ATTEMPTS`]; the article itself is committed either way: a lost notification is a
//! worse user experience, not lost data.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use diesel::prelude::*;
use jobs::job::{Job, Queue, QueueError, Task};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken as CancelFlag;

use crate::db::{AnyConnection, Db};
use crate::schema::blog_articles as a;

/// The task's name on the wire.
pub const TASK: &str = "notify_followers";

/// Attempts before a job is dead-lettered.
pub const MAX_ATTEMPTS: u32 = 5;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Args {
    article_id: i64,
    author_id: i64,
}

/// Enqueues the job and runs the worker that consumes it.
pub struct Notifier {
    queue: Arc<dyn Queue>,
    /// Taken by the first [`Notifier::shutdown`].
    worker: std::sync::Mutex<Option<JoinHandle<()>>>,
    stop: CancelFlag,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("queue", &self.queue.name())
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// Starts one worker on `queue`, writing through `db`.
    pub fn start(queue: Arc<dyn Queue>, db: Db) -> Self {
        let stop = CancelFlag::default();
        let worker = tokio::spawn(work(queue.clone(), db, stop.clone()));
        Self {
            queue,
            worker: std::sync::Mutex::new(Some(worker)),
            stop,
        }
    }

    /// `in-process`, `redis-list`, `rabbitmq`: which backend carries the jobs.
    pub fn backend(&self) -> &'static str {
        self.queue.name()
    }

    /// Asks for the followers of `author_id` to be told about `article_id`.
    pub async fn article_published(
        &self,
        article_id: i64,
        author_id: i64,
    ) -> Result<(), QueueError> {
        let args = serde_json::to_value(Args {
            article_id,
            author_id,
        })
        .unwrap_or_default();
        self.queue
            .enqueue(&Job::new(Task::Named {
                name: TASK.to_owned(),
                args,
            }))
            .await
    }

    /// Jobs waiting or in flight.
    pub async fn pending(&self) -> Result<u64, QueueError> {
        self.queue.pending().await
    }

    /// Stops the worker after the job it holds, and removes what this instance created on
    /// the broker when `delete` is set (tests and the demo).
    pub async fn shutdown(&self, delete: bool) {
        self.stop.cancel();
        let worker = self
            .worker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(worker) = worker {
            let _ = worker.await;
        }
        self.queue.release().await;
        if delete {
            let _ = self.queue.delete().await;
        }
    }
}

async fn work(queue: Arc<dyn Queue>, db: Db, stop: CancelFlag) {
    while !stop.is_cancelled() {
        let delivery = match queue.consume().await {
            Ok(Some(delivery)) => delivery,
            Ok(None) => continue,
            Err(QueueError::Closed) => break,
            Err(e) => {
                tracing::warn!(error = %e, "notification queue unavailable; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let job = match Job::decode(&delivery.payload) {
            Ok(job) => job,
            Err(e) => {
                let _ = queue
                    .dead_letter(delivery, &format!("malformed job: {e}"))
                    .await;
                continue;
            }
        };
        let args = match &job.task {
            Task::Named { name, args } if name == TASK => {
                serde_json::from_value::<Args>(args.clone()).ok()
            }
            _ => None,
        };
        let Some(args) = args else {
            let _ = queue
                .dead_letter(delivery, "not a notify_followers job")
                .await;
            continue;
        };
        let settled = match db.interact(move |c| fan_out(c, &args)).await {
            Ok(written) => {
                tracing::debug!(written, "followers notified");
                queue.ack(delivery).await
            }
            Err(e) if job.attempt >= MAX_ATTEMPTS => {
                queue.dead_letter(delivery, &format!("gave up: {e}")).await
            }
            Err(e) => {
                tracing::warn!(error = %e, attempt = job.attempt, "notification failed; will retry");
                let delay = Duration::from_millis(100 * 2u64.pow(job.attempt));
                queue.retry(delivery, &job.next_attempt(delay), delay).await
            }
        };
        if let Err(e) = settled {
            tracing::warn!(error = %e, "could not settle a notification job");
        }
    }
}

/// One notification per follower of the author, in one statement; existing ones are left as
/// they are, which is what makes a redelivered job harmless. Returns the rows written.
fn fan_out(conn: &mut AnyConnection, args: &Args) -> QueryResult<usize> {
    // Deleted before the job ran: nobody is told about an article that is gone.
    let exists: bool =
        diesel::select(diesel::dsl::exists(a::table.find(args.article_id))).get_result(conn)?;
    if !exists {
        return Ok(0);
    }
    // One INSERT … SELECT: the fan-out happens inside the database, however many followers.
    // `ON CONFLICT DO NOTHING` (SQL, as diesel's multi-backend connection cannot express it;
    // both databases read this spelling) is what makes a redelivered job harmless.
    use diesel::sql_types::{BigInt, Timestamp};
    let written = diesel::sql_query(
        "INSERT INTO blog_notifications (user_id, article_id, created_at) \
         SELECT follower_id, $1, $2 FROM blog_follows WHERE followee_id = $3 \
         ON CONFLICT DO NOTHING",
    )
    .bind::<BigInt, _>(args.article_id)
    .bind::<Timestamp, _>(Utc::now().naive_utc())
    .bind::<BigInt, _>(args.author_id)
    .execute(conn)?;
    Ok(written)
}
