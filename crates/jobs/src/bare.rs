//! The bare broker: plain lapin loops with no job framework, as a ceiling for the RabbitMQ backend.
//!
//! How a client confirms and acknowledges is most of what decides a broker's throughput:
//!
//! - **Pipelined confirms**: publish many messages, then collect their confirms. The broker
//!   batches its disk writes (`fsync`) across all of them.
//! - **Confirm each before the next publish**: one round trip and one durable write per message.
//!   The rate is capped near 1 / (write latency), whatever the network.
//! - **Ack each, awaited in the receive loop**: one round trip per message before the next one is
//!   looked at.
//! - **`multiple` acks**: ack every k-th delivery tag with `multiple = true`; one frame settles k.
//! - **Acks off the receive loop**: hand each acker to another task, so receiving never waits.

use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::join_all;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use tokio::sync::mpsc;

/// Unacked deliveries the bare consumer may hold.
pub const BARE_PREFETCH: u16 = 512;
/// Acks per `multiple` ack.
pub const ACK_BATCH: u64 = 64;
/// The body of every bare message (about the size of a small job).
const BODY: &[u8] = b"{\"id\":\"00000000-0000-0000-0000-000000000000\",\"kind\":\"noop\"}";

/// How the bare consumer acknowledges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckMode {
    /// `ack().await` on every delivery, inside the receive loop.
    EachAwaited,
    /// One `multiple = true` ack per [`ACK_BATCH`] deliveries.
    Multiple,
    /// Every ack sent from a separate task.
    OffLoop,
}

async fn declare(channel: &Channel, queue: &str) -> lapin::Result<()> {
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    channel
        .queue_declare(queue.into(), durable, FieldTable::default())
        .await?;
    Ok(())
}

fn persistent() -> BasicProperties {
    BasicProperties::default().with_delivery_mode(2)
}

/// Publishes `count` persistent messages with pipelined confirms while a consumer acks them in
/// `mode`; returns when the last one is acked. The queue is deleted afterwards.
pub async fn pipelined(
    url: &str,
    queue: &str,
    count: u64,
    mode: AckMode,
) -> anyhow::Result<Duration> {
    let connection = Connection::connect(url, ConnectionProperties::default()).await?;
    let publisher = connection.create_channel().await?;
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    declare(&publisher, queue).await?;
    let consumer_channel = connection.create_channel().await?;
    consumer_channel
        .basic_qos(BARE_PREFETCH, BasicQosOptions::default())
        .await?;
    let mut consumer = consumer_channel
        .basic_consume(
            queue.into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;

    let started = std::time::Instant::now();
    let consuming = tokio::spawn(async move {
        let (ack_tx, mut ack_rx) = mpsc::unbounded_channel::<lapin::Acker>();
        let acker_task = tokio::spawn(async move {
            while let Some(acker) = ack_rx.recv().await {
                acker.ack(BasicAckOptions::default()).await?;
            }
            anyhow::Ok(())
        });
        let mut received = 0u64;
        while received < count {
            let Some(delivery) = consumer.next().await else {
                break;
            };
            let delivery = delivery?;
            received += 1;
            match mode {
                AckMode::EachAwaited => {
                    delivery.acker.ack(BasicAckOptions::default()).await?;
                }
                AckMode::Multiple => {
                    if received.is_multiple_of(ACK_BATCH) || received == count {
                        delivery
                            .acker
                            .ack(BasicAckOptions { multiple: true })
                            .await?;
                    }
                }
                AckMode::OffLoop => {
                    let _ = ack_tx.send(delivery.acker);
                }
            };
        }
        drop(ack_tx);
        acker_task.await??;
        anyhow::Ok(received)
    });

    let mut confirms = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    for _ in 0..count {
        let confirm = publisher
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                BODY,
                persistent(),
            )
            .await?;
        confirms.push(confirm);
    }
    for confirm in join_all(confirms).await {
        anyhow::ensure!(confirm?.is_ack(), "the broker nacked a publish");
    }
    let received = consuming.await??;
    let elapsed = started.elapsed();
    anyhow::ensure!(received == count, "received {received} of {count}");
    publisher
        .queue_delete(queue.into(), QueueDeleteOptions::default())
        .await?;
    connection.close(200, "done".into()).await?;
    Ok(elapsed)
}

/// Publishes `count` persistent messages, waiting for each confirm before the next publish.
pub async fn confirm_each(url: &str, queue: &str, count: u64) -> anyhow::Result<Duration> {
    let connection = Connection::connect(url, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    declare(&channel, queue).await?;
    let started = std::time::Instant::now();
    for _ in 0..count {
        let confirm = channel
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                BODY,
                persistent(),
            )
            .await?
            .await?;
        anyhow::ensure!(confirm.is_ack(), "the broker nacked a publish");
    }
    let elapsed = started.elapsed();
    channel
        .queue_delete(queue.into(), QueueDeleteOptions::default())
        .await?;
    connection.close(200, "done".into()).await?;
    Ok(elapsed)
}
