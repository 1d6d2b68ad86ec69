//! RabbitMQ with lapin: the broker keeps the job until a worker acknowledges it.
//!
//! Three durable queues per job queue:
//!
//! ```text
//! <name>        the work queue: x-max-priority, dead-letters into <name>.dead
//! <name>.retry  no consumers; each message carries a TTL (`expiration`) and, when it expires,
//!               is dead-lettered back into <name>: delayed jobs and backoff retries
//! <name>.dead   the dead-letter queue: inspect with basic.get, replay by republishing
//! ```
//!
//! What each setting buys:
//! - **durable queues + persistent messages** (`delivery_mode = 2`): the job survives a broker
//!   restart, not only a worker crash.
//! - **publisher confirms**: `enqueue` returns only after the broker has taken responsibility for
//!   the message (written it for a durable queue). Without them a publish is fire-and-forget.
//! - **manual acks**: the broker keeps a delivered message as "unacked" until the worker acks it;
//!   if the worker's channel or connection closes first (it crashed), the message is requeued and
//!   delivered again with `redelivered = true`. No visibility timeout to wait for: the broker
//!   notices the closed TCP connection (or missed heartbeats) instead.
//! - **prefetch** (`basic.qos`): at most this many unacked messages per consumer, so one worker
//!   does not hoard the queue and a crash requeues at most that many.
//! - **dead-letter exchange**: a message rejected without requeue goes to `<name>.dead` by broker
//!   configuration. This file publishes dead letters itself (with an `x-reason` header) and then
//!   acks, because the rejection path cannot carry the reason.
//! - **per-message TTL into a retry queue**: RabbitMQ's classic way to delay. Its catch: TTLs
//!   expire only at the head of the queue, so a 10 s message blocks a 1 s one behind it.
//!   Production uses one retry queue per delay level, or the delayed-message exchange plugin.
//!
//! Celery on RabbitMQ is this design (`acks_late=True` for ack-after-work); Sidekiq and BullMQ
//! are Redis-only.

use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Acker, BasicProperties, Channel, Connection, ConnectionProperties, Consumer};
use uuid::Uuid;

use crate::job::{DeadLetter, Delivery, Job, MAX_PRIORITY, Queue, QueueError, millis, now_ms};

/// How long `consume` waits for a delivery before returning `None`.
const POLL: Duration = Duration::from_millis(100);
/// AMQP `delivery_mode` for messages written to disk.
const PERSISTENT: u8 = 2;
/// Header carrying the reason a message was dead-lettered.
pub const REASON_HEADER: &str = "x-reason";
/// The default exchange: routes by queue name.
const DEFAULT_EXCHANGE: &str = "";

/// A job queue on RabbitMQ. Each instance has its own connection, like a worker process would.
pub struct RabbitQueue {
    connection: Connection,
    publisher: Channel,
    prefetch: u16,
    /// Created on the first `consume`, closed by `release` (which requeues what it prefetched).
    consumer: tokio::sync::Mutex<Option<(Channel, Consumer)>>,
    main: String,
    retry_queue: String,
    dead: String,
}

impl std::fmt::Debug for RabbitQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RabbitQueue")
            .field("queue", &self.main)
            .finish_non_exhaustive()
    }
}

/// The names of the three queues behind job queue `name`.
pub fn queue_names(name: &str) -> (String, String, String) {
    (
        name.to_owned(),
        format!("{name}.retry"),
        format!("{name}.dead"),
    )
}

fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

impl RabbitQueue {
    /// Connects, declares the three queues (idempotent) and sets `prefetch` for consumers.
    pub async fn connect(url: &str, name: &str, prefetch: u16) -> Result<Self, QueueError> {
        // One TCP connection, many channels: a channel is a lightweight session inside it, and
        // each has its own settings (confirm mode here, prefetch on the consumer's channel).
        let connection = Connection::connect(url, ConnectionProperties::default()).await?;
        let publisher = connection.create_channel().await?;
        // Publisher confirms: from now on the broker answers every publish on this channel with
        // an ack (it has the message; for a persistent message on a durable queue, on disk) or a
        // nack (it could not take it). Without this, `basic_publish` succeeds as soon as the
        // bytes leave the socket, and a broker crash a millisecond later loses the job silently.
        publisher
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let (main, retry_queue, dead) = queue_names(name);
        // Durable: the queue itself survives a broker restart (its persistent messages with it).
        // Declaring is idempotent when the arguments match, so every worker process declares on
        // start and whichever comes first creates them. Arguments cannot change afterwards: a
        // redeclare with different ones is refused (PRECONDITION_FAILED), so production changes
        // them with a policy or a new queue name.
        let durable = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        // The dead-letter queue first, so the work queue's dead-letter route never points at a
        // queue that does not exist yet (the broker would drop what it routed there).
        publisher
            .queue_declare(dead.as_str().into(), durable, FieldTable::default())
            .await?;
        let mut main_args = FieldTable::default();
        // Priorities are a property of the queue, fixed at declaration: the broker keeps one
        // sub-queue per level up to this maximum (each level costs memory and CPU, hence 9, not
        // 255). A message's `priority` above it counts as the maximum.
        main_args.insert(
            "x-max-priority".into(),
            AMQPValue::LongInt(i32::from(MAX_PRIORITY)),
        );
        // The dead-letter exchange (DLX): a message rejected without requeue, or expired, is
        // republished by the broker to this exchange with this routing key. The default exchange
        // ("") routes by queue name, so the key is simply the dead-letter queue's name.
        main_args.insert("x-dead-letter-exchange".into(), text(DEFAULT_EXCHANGE));
        main_args.insert("x-dead-letter-routing-key".into(), text(&dead));
        publisher
            .queue_declare(main.as_str().into(), durable, main_args)
            .await?;
        // The retry queue has no consumer at all. Each message in it carries a TTL; when the TTL
        // runs out the broker dead-letters it, and this queue's DLX points back at the work
        // queue: a delay built from two standard features, no plugin.
        let mut retry_args = FieldTable::default();
        retry_args.insert("x-dead-letter-exchange".into(), text(DEFAULT_EXCHANGE));
        retry_args.insert("x-dead-letter-routing-key".into(), text(&main));
        publisher
            .queue_declare(retry_queue.as_str().into(), durable, retry_args)
            .await?;
        Ok(Self {
            connection,
            publisher,
            prefetch,
            consumer: tokio::sync::Mutex::new(None),
            main,
            retry_queue,
            dead,
        })
    }

    /// Publishes persistently and waits for the broker's confirm.
    async fn publish(
        &self,
        channel: &Channel,
        queue: &str,
        payload: &[u8],
        properties: BasicProperties,
    ) -> Result<(), QueueError> {
        // Two awaits: the first sends the frame and hands back a pending confirm, the second
        // waits for the broker's answer. Awaiting both before returning is what makes `enqueue`
        // mean "the broker has it"; it also costs a round trip per job (the bare-broker table
        // shows what pipelining many confirms at once gains).
        let confirm = channel
            .basic_publish(
                DEFAULT_EXCHANGE.into(),
                queue.into(),
                BasicPublishOptions::default(),
                payload,
                // Persistent: written to disk on a durable queue, so a broker restart keeps it.
                properties.with_delivery_mode(PERSISTENT),
            )
            .await?
            .await?;
        // A nack means the broker refused responsibility (an internal error, or a queue at its
        // length limit with `overflow: reject-publish`): the caller must not count the job as
        // accepted.
        if confirm.is_nack() {
            return Err(QueueError::Nacked);
        }
        Ok(())
    }

    /// Publishes a job to the work queue, or to the retry queue with a TTL when it is not due.
    async fn publish_job(&self, job: &Job, payload: &[u8]) -> Result<(), QueueError> {
        // The job id as `message_id`: the management UI and tracing tools show it, and a consumer
        // could deduplicate on it without parsing the body.
        let properties = BasicProperties::default()
            .with_message_id(ShortString::from(job.id.to_string()))
            .with_content_type("application/json".into())
            .with_priority(job.priority);
        let delay = job.delay_left();
        if delay.is_zero() {
            self.publish(&self.publisher, &self.main, payload, properties)
                .await
        } else {
            // Per-message TTL: `expiration` is a string of milliseconds (AMQP's odd choice). The
            // broker expires messages only from the head of a queue, so a long delay at the head
            // holds back shorter ones behind it: fine for one backoff schedule, not for mixed
            // delays (production uses one retry queue per delay, or the delayed-message plugin).
            let ttl = ShortString::from(millis(delay).to_string());
            self.publish(
                &self.publisher,
                &self.retry_queue,
                payload,
                properties.with_expiration(ttl),
            )
            .await
        }
    }

    /// Reads every message of the dead-letter queue on a throwaway channel without acking; closing
    /// the channel puts them all back. `pick` may choose one to republish and ack.
    async fn scan_dead(&self, pick: Option<Uuid>) -> Result<(Vec<DeadLetter>, bool), QueueError> {
        // A queue has no "peek": listing means taking every message without acking it. On a
        // throwaway channel, so that closing it hands them all back (unacked messages return to
        // their queue when their channel closes) and no consumer elsewhere is disturbed.
        let channel = self.connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let mut entries = Vec::new();
        let mut replayed = false;
        // `basic_get` pulls one message (no_ack false by default: it stays unacked, ours until
        // the channel closes); `None` once the queue is empty.
        while let Some(message) = channel
            .basic_get(self.dead.as_str().into(), BasicGetOptions::default())
            .await?
        {
            let delivery = message.delivery;
            let reason = delivery
                .properties
                .headers()
                .as_ref()
                .and_then(|h| h.inner().get(REASON_HEADER).cloned())
                .map_or_else(
                    || "rejected (dead-letter exchange)".to_owned(),
                    |v| match v {
                        AMQPValue::LongString(s) => s.to_string(),
                        other => format!("{other:?}"),
                    },
                );
            let mut entry = DeadLetter::new(&delivery.data, &reason);
            // AMQP timestamps are whole seconds.
            entry.at_ms = delivery.properties.timestamp().unwrap_or(0) * 1000;
            if !replayed
                && pick.is_some()
                && entry.id == pick
                && let Ok(job) = Job::decode(&delivery.data)
            {
                // Republish (confirmed) first, then ack the dead copy: a crash in between leaves
                // the job both queued and dead, never neither.
                let job = job.replayed();
                self.publish_job(&job, &job.encode()).await?;
                delivery.acker.ack(BasicAckOptions::default()).await?;
                replayed = true;
                continue;
            }
            entries.push(entry);
        }
        channel.close(200, "scan done".into()).await?;
        Ok((entries, replayed))
    }
}

fn acker(delivery: &Delivery) -> Result<&Acker, QueueError> {
    delivery
        .receipt
        .downcast_ref::<Acker>()
        .ok_or(QueueError::ForeignDelivery)
}

#[async_trait::async_trait]
impl Queue for RabbitQueue {
    fn name(&self) -> &'static str {
        "rabbitmq"
    }

    async fn enqueue(&self, job: &Job) -> Result<(), QueueError> {
        self.publish_job(job, &job.encode()).await
    }

    async fn enqueue_raw(&self, payload: Vec<u8>) -> Result<(), QueueError> {
        self.publish(
            &self.publisher,
            &self.main,
            &payload,
            BasicProperties::default(),
        )
        .await
    }

    async fn consume(&self) -> Result<Option<Delivery>, QueueError> {
        let mut consumer = self.consumer.lock().await;
        if consumer.is_none() {
            // The consumer gets a channel of its own: prefetch is per channel, and closing it
            // (`release`) must return its unacked messages without touching the publisher.
            let channel = self.connection.create_channel().await?;
            // Prefetch (basic.qos): the broker pushes at most this many unacked messages to the
            // channel. The workers share this one consumer, so it should be at least the worker
            // count or some of them idle; much more and one process hoards jobs that another
            // could run, and a crash sends more of them back to the queue at once.
            channel
                .basic_qos(self.prefetch, BasicQosOptions::default())
                .await?;
            // Manual acks: `BasicConsumeOptions::default()` has `no_ack: false`, so every
            // delivery stays "unacked" at the broker until the worker acks it after the work.
            // With `no_ack: true` the broker would forget it on sending: at-most-once. The empty
            // consumer tag asks the broker to make one up.
            let stream = channel
                .basic_consume(
                    self.main.as_str().into(),
                    "".into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await?;
            *consumer = Some((channel, stream));
        }
        let Some((_, stream)) = consumer.as_mut() else {
            return Ok(None);
        };
        match tokio::time::timeout(POLL, stream.next()).await {
            Ok(Some(delivery)) => {
                let delivery = delivery?;
                Ok(Some(Delivery {
                    payload: delivery.data,
                    receipt: Box::new(delivery.acker),
                }))
            }
            // The stream ends only when the channel closed (released, or the broker closed it).
            Ok(None) => Err(QueueError::Closed),
            // Nothing within the poll: return, so the worker can look at shutdown.
            Err(_) => Ok(None),
        }
    }

    async fn ack(&self, delivery: Delivery) -> Result<(), QueueError> {
        // One ack per delivery (`multiple: false`): acking several with one frame is cheaper but
        // would settle deliveries other workers are still running.
        acker(&delivery)?.ack(BasicAckOptions::default()).await?;
        Ok(())
    }

    async fn retry(
        &self,
        delivery: Delivery,
        next: &Job,
        _delay: Duration,
    ) -> Result<(), QueueError> {
        // Publish the next attempt (confirmed) before acking this one: a crash in between runs
        // the job once more, never zero times.
        self.publish_job(next, &next.encode()).await?;
        self.ack(delivery).await
    }

    async fn dead_letter(&self, delivery: Delivery, reason: &str) -> Result<(), QueueError> {
        // Not `basic_reject(requeue: false)`, though the DLX would route that to the same queue:
        // a rejection cannot say why. Publishing a copy with an `x-reason` header (confirmed),
        // then acking the original, keeps the reason, at the cost of a window in which a crash
        // leaves the job both dead and redelivered (harmless: handlers are idempotent).
        let mut headers = FieldTable::default();
        headers.insert(REASON_HEADER.into(), text(reason));
        let properties = BasicProperties::default()
            .with_headers(headers)
            .with_timestamp(now_ms() / 1000);
        self.publish(&self.publisher, &self.dead, &delivery.payload, properties)
            .await?;
        self.ack(delivery).await
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, QueueError> {
        Ok(self.scan_dead(None).await?.0)
    }

    async fn replay(&self, id: Uuid) -> Result<bool, QueueError> {
        Ok(self.scan_dead(Some(id)).await?.1)
    }

    async fn pending(&self) -> Result<u64, QueueError> {
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        // A passive declare creates nothing; it reports a queue's `message_count`, which counts
        // messages ready for delivery, not those delivered and still unacked (a worker holds
        // them). Shutdown calls `release` first, so its count includes what was prefetched.
        let mut total = 0;
        for queue in [&self.main, &self.retry_queue] {
            let q = self
                .publisher
                .queue_declare(queue.as_str().into(), passive, FieldTable::default())
                .await?;
            total += u64::from(q.message_count());
        }
        Ok(total)
    }

    async fn release(&self) {
        // Closing the consumer's channel returns its prefetched, unacked messages to the queue
        // at once, for the next worker process; acks already sent are unaffected.
        if let Some((channel, _)) = self.consumer.lock().await.take() {
            let _ = channel.close(200, "shutting down".into()).await;
        }
    }

    async fn crash(&self) {
        // The connection goes away (320 is AMQP's CONNECTION_FORCED); the broker requeues every
        // unacked delivery at once, marked `redelivered`. A real crash just drops the TCP socket,
        // and the broker notices the same way, or by missed heartbeats if the network hangs.
        let _ = self.connection.close(320, "worker crashed".into()).await;
    }

    async fn delete(&self) -> Result<(), QueueError> {
        for queue in [&self.main, &self.retry_queue, &self.dead] {
            self.publisher
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await?;
        }
        let _ = self.connection.close(200, "done".into()).await;
        Ok(())
    }
}
