//! Celery's task message, protocol version 2, spoken from Rust over RabbitMQ, and Celery's Redis
//! result backend written and read from Rust.
//!
//! A Celery task message is one AMQP message. Everything a worker needs to route and schedule it
//! is in the AMQP **headers**, so a worker can decide without parsing the body; the **body** holds
//! only the call:
//!
//! ```text
//! properties  correlation_id = <task id>   content_type = application/json
//!             content_encoding = utf-8     delivery_mode = 2 (persistent)   priority = 0
//!             reply_to = <queue for the rpc result backend, or empty>
//! headers     lang = "py"   task = "rust.add"   id = <task id>   root_id   parent_id   group
//!             retries = 0   eta = "2026-12-02T21:40:00.123456+00:00" or void   expires
//!             timelimit = [void, void]   argsrepr = "(2, 3)"   kwargsrepr = "{}"
//!             origin = "gen1234@host"   ignore_result = false   replaced_task_nesting = 0 …
//! body        [[2, 3], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]
//!              args    kwargs  embed: what to run after this task (canvas), unused here
//! ```
//!
//! Celery publishes a task for queue `q` to a direct exchange named `q` with routing key `q`,
//! and the queue `q` is bound to it: [`declare_queue`] declares exactly that, so whichever side
//! starts first creates the same objects (declaring is idempotent when the arguments match).
//!
//! What the worker does with the headers, here as in Celery's own worker:
//! - **`eta`**: not before this instant. The message is held, unacknowledged, until then; a worker
//!   that stops meanwhile leaves it in the broker, which redelivers it to the next worker.
//! - **`expires`**: after this instant the task is not run but marked `REVOKED`.
//! - **`retries`**: a retry is not a redelivery. The worker publishes a *new* message with the same
//!   `id`, `retries + 1` and an `eta` of now plus the countdown, then acknowledges the old one.
//!   Celery's `self.retry(countdown=…)` does the same; the count travels with the message.
//!
//! The result backend is a Redis string per task, `celery-task-meta-<id>` (after an optional
//! global prefix), holding JSON:
//!
//! ```text
//! {"status": "SUCCESS", "result": 5, "traceback": null, "children": [],
//!  "date_done": "2026-12-02T21:40:00.223456+00:00", "task_id": "<id>"}
//! ```
//!
//! written with `SETEX` and announced with `PUBLISH` on a channel of the same name. Celery's
//! `AsyncResult.get()` subscribes to that channel and also reads the key, so it sees a result
//! stored before or after it started waiting. A failure stores `"status": "FAILURE"` with
//! `"result": {"exc_type", "exc_message", "exc_module"}`, from which Python rebuilds and raises the
//! exception.
//!
//! Acknowledgement comes after the result is stored: at-least-once, Celery's `acks_late=True`
//! (Celery's default is to ack on receipt, at-most-once for a task whose worker dies).
//!
//! Simplifications, and what production would do: only the JSON serializer (Celery also speaks
//! pickle, which a Rust worker must refuse to unpickle anyway, and msgpack/yaml); canvas fields
//! (`callbacks`, `chain`, `chord`, groups) are carried but not acted on; no worker heartbeats,
//! events (`-E`) or remote control (`celery inspect`): this worker is invisible to Flower. Time
//! limits are not enforced. Production would also bound how many ETA messages it holds at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldArray, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use super::InteropError;

/// The content type of every message and result here: Celery's `json` serializer.
pub const CONTENT_TYPE: &str = "application/json";
/// The body's character encoding, as Celery declares it.
pub const CONTENT_ENCODING: &str = "utf-8";
/// The prefix of a task's result key in the Redis result backend.
pub const RESULT_KEY_PREFIX: &str = "celery-task-meta-";
/// How long a stored result lives, as Celery's `result_expires` (default one day).
pub const RESULT_EXPIRES: Duration = Duration::from_secs(24 * 3600);
/// AMQP `delivery_mode` for a message written to disk.
const PERSISTENT: u8 = 2;
/// Unacknowledged messages one Rust worker holds at once: the ones waiting for their ETA count.
const PREFETCH: u16 = 16;
/// `origin` header of the messages this crate sends.
const ORIGIN: &str = "jobs-rust";

/// One Celery task call: the decoded headers and body of a protocol-2 message.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskMessage {
    /// The task id (`id` header and `correlation_id`): the key of its result.
    pub id: String,
    /// The registered task name (`task` header), e.g. `rust.add`.
    pub task: String,
    pub args: Vec<Value>,
    pub kwargs: Map<String, Value>,
    /// How many times this call was retried before this message.
    pub retries: u32,
    /// Not before this instant.
    pub eta: Option<DateTime<Utc>>,
    /// Not after this instant (then `REVOKED`).
    pub expires: Option<DateTime<Utc>>,
    /// The first task of the workflow this call belongs to (itself when alone).
    pub root_id: String,
    pub parent_id: Option<String>,
    pub group: Option<String>,
    /// The sender's node name.
    pub origin: String,
    /// The sender's language (`lang` header): `py` from Celery, `rs` from this crate.
    pub lang: String,
}

/// The headers of a protocol-2 message, as Celery writes them. Decoding through this struct is
/// the check that a message has the fields a worker needs; `Option` marks the ones Celery may
/// send as void (`None`).
#[derive(Debug, Serialize, Deserialize)]
struct Headers {
    lang: String,
    task: String,
    id: String,
    #[serde(default)]
    shadow: Option<String>,
    #[serde(default)]
    eta: Option<String>,
    #[serde(default)]
    expires: Option<String>,
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    group_index: Option<u32>,
    #[serde(default)]
    retries: Option<u32>,
    #[serde(default)]
    timelimit: Option<(Option<f64>, Option<f64>)>,
    #[serde(default)]
    root_id: Option<String>,
    #[serde(default)]
    parent_id: Option<String>,
    #[serde(default)]
    argsrepr: Option<String>,
    #[serde(default)]
    kwargsrepr: Option<String>,
    #[serde(default)]
    origin: Option<String>,
    #[serde(default)]
    ignore_result: Option<bool>,
    #[serde(default)]
    replaced_task_nesting: Option<u32>,
}

impl TaskMessage {
    /// A new call of `task` with a fresh id, to be sent by this crate.
    pub fn new(task: &str, args: Vec<Value>, kwargs: Map<String, Value>) -> Self {
        let id = uuid::Uuid::new_v4().to_string();
        Self {
            root_id: id.clone(),
            id,
            task: task.to_owned(),
            args,
            kwargs,
            retries: 0,
            eta: None,
            expires: None,
            parent_id: None,
            group: None,
            origin: ORIGIN.to_owned(),
            lang: "rs".to_owned(),
        }
    }

    /// The same call, not before `eta` (Celery's `apply_async(eta=…)`; `countdown` is now + n).
    pub fn with_eta(mut self, eta: DateTime<Utc>) -> Self {
        self.eta = Some(eta);
        self
    }

    /// The same call, not after `expires` (Celery's `apply_async(expires=…)`).
    pub fn with_expires(mut self, expires: DateTime<Utc>) -> Self {
        self.expires = Some(expires);
        self
    }

    /// The message a retry publishes: same id and call, one more retry, due after `countdown`.
    pub fn retried(&self, countdown: Duration, now: DateTime<Utc>) -> Self {
        let mut next = self.clone();
        next.retries += 1;
        next.eta = Some(now + chrono::Duration::from_std(countdown).unwrap_or_default());
        next
    }

    /// The AMQP headers of this call, as Celery's `as_task_v2` writes them.
    pub fn headers(&self) -> FieldTable {
        let headers = Headers {
            lang: self.lang.clone(),
            task: self.task.clone(),
            id: self.id.clone(),
            shadow: None,
            eta: self.eta.map(iso8601),
            expires: self.expires.map(iso8601),
            group: self.group.clone(),
            group_index: None,
            retries: Some(self.retries),
            timelimit: Some((None, None)),
            root_id: Some(self.root_id.clone()),
            parent_id: self.parent_id.clone(),
            // Celery puts a Python repr here for logs and monitoring; JSON is the closest thing
            // a Rust sender has, and no worker parses it.
            argsrepr: Some(Value::from(self.args.clone()).to_string()),
            kwargsrepr: Some(Value::from(self.kwargs.clone()).to_string()),
            origin: Some(self.origin.clone()),
            ignore_result: Some(false),
            replaced_task_nesting: Some(0),
        };
        match json_to_amqp(&serde_json::to_value(headers).unwrap_or_default()) {
            AMQPValue::FieldTable(table) => table,
            _ => FieldTable::default(),
        }
    }

    /// The body: `[args, kwargs, embed]`, JSON.
    pub fn body(&self) -> Vec<u8> {
        json!([
            self.args,
            self.kwargs,
            {"callbacks": null, "errbacks": null, "chain": null, "chord": null}
        ])
        .to_string()
        .into_bytes()
    }

    /// The AMQP properties: the task id as `correlation_id`, the serializer, persistence.
    pub fn properties(&self) -> BasicProperties {
        BasicProperties::default()
            .with_correlation_id(ShortString::from(self.id.as_str()))
            .with_content_type(ShortString::from(CONTENT_TYPE))
            .with_content_encoding(ShortString::from(CONTENT_ENCODING))
            .with_delivery_mode(PERSISTENT)
            .with_priority(0)
            .with_reply_to(ShortString::from(""))
            .with_headers(self.headers())
    }

    /// Decodes a delivered message. Refuses anything that is not protocol 2 with the JSON
    /// serializer: a version-1 message (no `task` header) or a pickled body.
    pub fn decode(properties: &BasicProperties, body: &[u8]) -> Result<Self, InteropError> {
        let content_type = properties
            .content_type()
            .as_ref()
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default();
        if content_type != CONTENT_TYPE {
            return Err(InteropError::malformed(
                "content_type",
                format!("{content_type:?}, only {CONTENT_TYPE} is accepted"),
            ));
        }
        let table = properties
            .headers()
            .as_ref()
            .ok_or_else(|| InteropError::malformed("headers", "none: not protocol 2"))?;
        let headers: Headers = serde_json::from_value(table_to_json(table))
            .map_err(|e| InteropError::malformed("headers", e))?;
        let (args, kwargs, _embed): (Vec<Value>, Map<String, Value>, Value) =
            serde_json::from_slice(body).map_err(|e| InteropError::malformed("body", e))?;
        Ok(Self {
            root_id: headers.root_id.unwrap_or_else(|| headers.id.clone()),
            id: headers.id,
            task: headers.task,
            args,
            kwargs,
            retries: headers.retries.unwrap_or(0),
            eta: headers.eta.as_deref().map(parse_time).transpose()?,
            expires: headers.expires.as_deref().map(parse_time).transpose()?,
            parent_id: headers.parent_id,
            group: headers.group,
            origin: headers.origin.unwrap_or_default(),
            lang: headers.lang,
        })
    }
}

/// Python's `datetime.isoformat()` for an aware UTC time: microseconds and `+00:00`.
pub fn iso8601(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, false)
}

/// An ISO 8601 time as Celery writes it. A naive one (no offset, from a sender with
/// `enable_utc=False`) is taken as UTC, which is what such a sender meant only if its clock is UTC.
fn parse_time(text: &str) -> Result<DateTime<Utc>, InteropError> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .map(|naive| naive.and_utc())
        .map_err(|e| InteropError::malformed("eta/expires", format!("{text:?}: {e}")))
}

/// An AMQP header table as JSON: the shape serde can check. Python's `None` arrives as void.
pub fn table_to_json(table: &FieldTable) -> Value {
    Value::Object(
        table
            .inner()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), amqp_to_json(v)))
            .collect(),
    )
}

fn amqp_to_json(value: &AMQPValue) -> Value {
    match value {
        AMQPValue::Boolean(b) => Value::Bool(*b),
        AMQPValue::ShortShortInt(n) => json!(n),
        AMQPValue::ShortShortUInt(n) => json!(n),
        AMQPValue::ShortInt(n) => json!(n),
        AMQPValue::ShortUInt(n) => json!(n),
        AMQPValue::LongInt(n) => json!(n),
        AMQPValue::LongUInt(n) => json!(n),
        AMQPValue::LongLongInt(n) => json!(n),
        AMQPValue::Timestamp(n) => json!(n),
        AMQPValue::Float(n) => json!(n),
        AMQPValue::Double(n) => json!(n),
        AMQPValue::DecimalValue(d) => json!(f64::from(d.value) / 10f64.powi(i32::from(d.scale))),
        AMQPValue::ShortString(s) => Value::String(s.as_str().to_owned()),
        AMQPValue::LongString(s) => Value::String(s.to_string()),
        AMQPValue::ByteArray(b) => Value::String(String::from_utf8_lossy(b.as_slice()).into()),
        AMQPValue::FieldArray(a) => Value::Array(a.as_slice().iter().map(amqp_to_json).collect()),
        AMQPValue::FieldTable(t) => table_to_json(t),
        AMQPValue::Void => Value::Null,
    }
}

/// JSON as AMQP values, the types py-amqp writes for the same Python values (`None` → void,
/// `int` → signed 64-bit, `str` → long string, list → array, dict → table).
fn json_to_amqp(value: &Value) -> AMQPValue {
    match value {
        Value::Null => AMQPValue::Void,
        Value::Bool(b) => AMQPValue::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => AMQPValue::LongLongInt(i),
            None => AMQPValue::Double(n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => AMQPValue::LongString(LongString::from(s.as_str())),
        Value::Array(items) => AMQPValue::FieldArray(FieldArray::from(
            items.iter().map(json_to_amqp).collect::<Vec<_>>(),
        )),
        Value::Object(map) => {
            let mut table = FieldTable::default();
            for (k, v) in map {
                table.insert(ShortString::from(k.as_str()), json_to_amqp(v));
            }
            AMQPValue::FieldTable(table)
        }
    }
}

/// The header table with each value's AMQP type letter, for showing the message on the wire.
pub fn describe_headers(table: &FieldTable) -> Vec<(String, char, Value)> {
    table
        .inner()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                v.get_type().get_id(),
                amqp_to_json(v),
            )
        })
        .collect()
}

/// The properties a Celery message sets, as text, for showing the message on the wire.
pub fn describe_properties(properties: &BasicProperties) -> Vec<(&'static str, String)> {
    let text = |value: &Option<ShortString>| {
        value
            .as_ref()
            .map(|v| format!("{:?}", v.as_str()))
            .unwrap_or_else(|| "unset".into())
    };
    let number = |value: Option<u8>| {
        value
            .map(|v| v.to_string())
            .unwrap_or_else(|| "unset".into())
    };
    vec![
        ("correlation_id", text(properties.correlation_id())),
        ("content_type", text(properties.content_type())),
        ("content_encoding", text(properties.content_encoding())),
        ("delivery_mode", number(*properties.delivery_mode())),
        ("priority", number(*properties.priority())),
        ("reply_to", text(properties.reply_to())),
    ]
}

/// Declares what Celery declares for queue `queue`: a durable direct exchange named `queue`, a
/// durable queue `queue`, and the binding between them with routing key `queue`.
pub async fn declare_queue(channel: &Channel, queue: &str) -> Result<(), InteropError> {
    channel
        .exchange_declare(
            queue.into(),
            ExchangeKind::Direct,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_bind(
            queue.into(),
            queue.into(),
            queue.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok(())
}

/// Publishes `message` for `queue` the way Celery routes it (exchange and routing key both the
/// queue's name) on a channel in confirm mode, and waits for the broker's confirm.
pub async fn publish(
    channel: &Channel,
    queue: &str,
    message: &TaskMessage,
) -> Result<(), InteropError> {
    let confirm = channel
        .basic_publish(
            queue.into(),
            queue.into(),
            BasicPublishOptions::default(),
            &message.body(),
            message.properties(),
        )
        .await?
        .await?;
    if confirm.is_nack() {
        return Err(InteropError::NotConfirmed(message.id.clone()));
    }
    Ok(())
}

/// A task's state in the result backend, Celery's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum State {
    Pending,
    Started,
    Retry,
    Success,
    Failure,
    Revoked,
}

impl State {
    /// Whether the task will not change state again (Celery's `READY_STATES`).
    pub fn is_ready(self) -> bool {
        matches!(self, State::Success | State::Failure | State::Revoked)
    }
}

/// One stored result: the JSON under `celery-task-meta-<id>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultMeta {
    pub status: State,
    pub result: Value,
    pub traceback: Option<String>,
    #[serde(default)]
    pub children: Vec<Value>,
    pub date_done: Option<String>,
    pub task_id: String,
}

/// The exception Celery stores for a failure and Python rebuilds: type, arguments, module.
pub fn exception(exc_type: &str, exc_module: &str, message: &str) -> Value {
    json!({"exc_type": exc_type, "exc_message": [message], "exc_module": exc_module})
}

/// Celery's Redis result backend, from Rust: the same keys, JSON and channel.
#[derive(Clone)]
pub struct ResultBackend {
    client: redis::Client,
    conn: redis::aio::ConnectionManager,
    /// Celery's `result_backend_transport_options["global_keyprefix"]` (empty by default).
    prefix: String,
}

impl std::fmt::Debug for ResultBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultBackend")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl ResultBackend {
    /// Connects to the Redis at `url`; `prefix` must equal the Celery side's global key prefix.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, InteropError> {
        let client = redis::Client::open(url)?;
        let conn = redis::aio::ConnectionManager::new(client.clone()).await?;
        Ok(Self {
            client,
            conn,
            prefix: prefix.to_owned(),
        })
    }

    /// The key (and channel) of task `id`'s result.
    pub fn key(&self, id: &str) -> String {
        format!("{}{RESULT_KEY_PREFIX}{id}", self.prefix)
    }

    /// Stores a state and announces it, in one round trip: `SETEX` then `PUBLISH`, as Celery's
    /// backend pipelines them. A ready state gets `date_done`.
    pub async fn store(&self, id: &str, status: State, result: Value) -> Result<(), InteropError> {
        let meta = ResultMeta {
            status,
            result,
            traceback: None,
            children: Vec::new(),
            date_done: status.is_ready().then(|| iso8601(Utc::now())),
            task_id: id.to_owned(),
        };
        let text =
            serde_json::to_string(&meta).map_err(|e| InteropError::malformed("result", e))?;
        let key = self.key(id);
        let mut conn = self.conn.clone();
        redis::pipe()
            .set_ex(&key, &text, RESULT_EXPIRES.as_secs())
            .ignore()
            .publish(&key, &text)
            .ignore()
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    /// The stored state of `id`, if any (Celery reports a missing key as `PENDING`).
    pub async fn get(&self, id: &str) -> Result<Option<ResultMeta>, InteropError> {
        let mut conn = self.conn.clone();
        let text: Option<String> = redis::cmd("GET")
            .arg(self.key(id))
            .query_async(&mut conn)
            .await?;
        text.map(|t| serde_json::from_str(&t).map_err(|e| InteropError::malformed("result", e)))
            .transpose()
    }

    /// Waits for `id` to reach a ready state, as `AsyncResult.get()` does on this backend:
    /// subscribe to the result's channel first, then read the key (a result stored before the
    /// subscription), then wait for announcements. Bounded by `timeout`.
    pub async fn wait(&self, id: &str, timeout: Duration) -> Result<ResultMeta, InteropError> {
        let key = self.key(id);
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(&key).await?;
        if let Some(meta) = self.get(id).await?
            && meta.status.is_ready()
        {
            return Ok(meta);
        }
        let mut messages = pubsub.on_message();
        let waiting = async {
            while let Some(message) = messages.next().await {
                let text: String = message.get_payload()?;
                let meta: ResultMeta = serde_json::from_str(&text)
                    .map_err(|e| InteropError::malformed("result", e))?;
                if meta.status.is_ready() {
                    return Ok(meta);
                }
            }
            Err(InteropError::malformed("result", "the subscription closed"))
        };
        tokio::time::timeout(timeout, waiting)
            .await
            .map_err(|_| InteropError::Timeout(id.to_owned(), timeout))?
    }
}

/// What a Rust task implementation answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Stored as `SUCCESS` with this result.
    Success(Value),
    /// Run again after `countdown` (Celery's `self.retry(countdown=…)`), unless the message has
    /// reached the worker's `max_retries`: then a `FAILURE` (`MaxRetriesExceededError`).
    Retry { countdown: Duration, reason: String },
    /// Stored as `FAILURE`: the exception type and message Python will raise.
    Failure { exc_type: String, message: String },
}

/// A Rust implementation of a Celery task: a plain function of the call.
pub type TaskFn = Arc<dyn Fn(&TaskMessage) -> Outcome + Send + Sync>;

/// What the worker saw and did with one message: the demo and the tests show it.
#[derive(Debug, Clone)]
pub struct Received {
    pub message: TaskMessage,
    /// The AMQP properties that carry Celery fields: name and value.
    pub properties: Vec<(&'static str, String)>,
    /// The headers on the wire: name, AMQP type letter, value.
    pub headers: Vec<(String, char, Value)>,
    pub body: Vec<u8>,
    /// When the task ran (after waiting for its `eta`), or `None` if it was revoked.
    pub ran_at: Option<DateTime<Utc>>,
    pub state: State,
}

/// A worker for Celery task messages, in Rust: consumes a Celery queue on RabbitMQ, runs the tasks
/// registered with [`CeleryWorker::task`], and stores results in Celery's Redis result backend.
pub struct CeleryWorker {
    connection: Connection,
    queue: String,
    tasks: HashMap<String, TaskFn>,
    results: ResultBackend,
    max_retries: u32,
    received: Arc<Mutex<Vec<Received>>>,
}

impl std::fmt::Debug for CeleryWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CeleryWorker")
            .field("queue", &self.queue)
            .field("tasks", &self.tasks.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl CeleryWorker {
    /// Connects to RabbitMQ and declares `queue` as Celery does; results go to `results`.
    pub async fn connect(
        amqp_url: &str,
        queue: &str,
        results: ResultBackend,
    ) -> Result<Self, InteropError> {
        let connection = Connection::connect(amqp_url, ConnectionProperties::default()).await?;
        let channel = connection.create_channel().await?;
        declare_queue(&channel, queue).await?;
        let _ = channel.close(200, "declared".into()).await;
        Ok(Self {
            connection,
            queue: queue.to_owned(),
            tasks: HashMap::new(),
            results,
            max_retries: 3,
            received: Arc::default(),
        })
    }

    /// Registers the Rust implementation of task `name`.
    pub fn task(
        mut self,
        name: &str,
        run: impl Fn(&TaskMessage) -> Outcome + Send + Sync + 'static,
    ) -> Self {
        self.tasks.insert(name.to_owned(), Arc::new(run));
        self
    }

    /// Retries allowed per call before a `Retry` becomes a failure (Celery's default is 3).
    pub fn max_retries(mut self, max: u32) -> Self {
        self.max_retries = max;
        self
    }

    /// Every message this worker has handled, in the order it finished them.
    pub fn received(&self) -> Arc<Mutex<Vec<Received>>> {
        Arc::clone(&self.received)
    }

    /// Consumes until `stop` is cancelled. Each delivery is handled in its own task, so a message
    /// waiting for its ETA does not hold up the ones behind it; the broker's prefetch bounds how
    /// many are held. On stop, the ones still waiting are left unacknowledged, and closing the
    /// connection hands them back to the broker.
    pub async fn run(self, stop: CancellationToken) -> Result<(), InteropError> {
        let consuming = self.connection.create_channel().await?;
        consuming
            .basic_qos(PREFETCH, BasicQosOptions::default())
            .await?;
        let publishing = self.connection.create_channel().await?;
        publishing
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let mut consumer = consuming
            .basic_consume(
                self.queue.as_str().into(),
                "jobs-rust-celery-worker".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let shared = Arc::new(Shared {
            queue: self.queue.clone(),
            tasks: self.tasks,
            results: self.results,
            max_retries: self.max_retries,
            received: self.received,
            publishing,
        });
        let mut handling = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                delivery = consumer.next() => {
                    let Some(delivery) = delivery else { break };
                    let delivery = delivery?;
                    let (shared, stop) = (Arc::clone(&shared), stop.clone());
                    handling.spawn(async move {
                        if let Err(e) = shared.handle(delivery, stop).await {
                            tracing::warn!(error = %e, "celery message not handled");
                        }
                    });
                }
                // Reap finished handlers so the set does not grow with every message.
                Some(_) = handling.join_next(), if !handling.is_empty() => {}
            }
        }
        handling.abort_all();
        let _ = self.connection.close(200, "worker stopped".into()).await;
        Ok(())
    }
}

/// What every delivery's handler needs.
struct Shared {
    queue: String,
    tasks: HashMap<String, TaskFn>,
    results: ResultBackend,
    max_retries: u32,
    received: Arc<Mutex<Vec<Received>>>,
    publishing: Channel,
}

impl Shared {
    async fn handle(
        &self,
        delivery: lapin::message::Delivery,
        stop: CancellationToken,
    ) -> Result<(), InteropError> {
        let message = match TaskMessage::decode(&delivery.properties, &delivery.data) {
            Ok(message) => message,
            Err(e) => {
                // Celery's worker also rejects what it cannot decode, without requeue: a message
                // that cannot be parsed now never will be, and requeueing it loops forever.
                tracing::warn!(error = %e, "rejecting a message that is not a Celery v2 task");
                delivery
                    .nack(BasicNackOptions {
                        requeue: false,
                        ..BasicNackOptions::default()
                    })
                    .await?;
                return Ok(());
            }
        };
        if let Some(eta) = message.eta {
            let wait = (eta - Utc::now()).to_std().unwrap_or_default();
            tokio::select! {
                // Stopping: leave the message unacknowledged; the broker redelivers it.
                () = stop.cancelled() => return Ok(()),
                () = tokio::time::sleep(wait) => {}
            }
        }
        let headers = delivery
            .properties
            .headers()
            .as_ref()
            .map(describe_headers)
            .unwrap_or_default();
        let properties = describe_properties(&delivery.properties);
        let now = Utc::now();
        let (state, ran_at) = if message.expires.is_some_and(|at| at < now) {
            let revoked = exception("TaskRevokedError", "celery.exceptions", "expired");
            self.results
                .store(&message.id, State::Revoked, revoked)
                .await?;
            (State::Revoked, None)
        } else {
            (self.run(&message).await?, Some(now))
        };
        // Acknowledged only now, after the result (or the retry's new message) is stored.
        delivery.ack(BasicAckOptions::default()).await?;
        if let Ok(mut received) = self.received.lock() {
            received.push(Received {
                message,
                properties,
                headers,
                body: delivery.data,
                ran_at,
                state,
            });
        }
        Ok(())
    }

    async fn run(&self, message: &TaskMessage) -> Result<State, InteropError> {
        let outcome = match self.tasks.get(&message.task) {
            Some(task) => task(message),
            // Celery answers an unregistered task the same way: an error, stored as a failure.
            None => Outcome::Failure {
                exc_type: "NotRegistered".into(),
                message: message.task.clone(),
            },
        };
        match outcome {
            Outcome::Success(value) => {
                self.results
                    .store(&message.id, State::Success, value)
                    .await?;
                Ok(State::Success)
            }
            Outcome::Retry { countdown, reason } if message.retries < self.max_retries => {
                // The next attempt is a new message with the count in its headers; publish it
                // (confirmed) before acknowledging this one, so a crash in between duplicates the
                // attempt rather than losing it.
                publish(
                    &self.publishing,
                    &self.queue,
                    &message.retried(countdown, Utc::now()),
                )
                .await?;
                let retry = exception("Retry", "celery.exceptions", &reason);
                self.results.store(&message.id, State::Retry, retry).await?;
                Ok(State::Retry)
            }
            Outcome::Retry { reason, .. } => {
                let failed = exception(
                    "MaxRetriesExceededError",
                    "celery.exceptions",
                    &format!("{} retries: {reason}", message.retries),
                );
                self.results
                    .store(&message.id, State::Failure, failed)
                    .await?;
                Ok(State::Failure)
            }
            Outcome::Failure {
                exc_type,
                message: text,
            } => {
                let module = if exc_type == "NotRegistered" {
                    "celery.exceptions"
                } else {
                    "builtins"
                };
                self.results
                    .store(
                        &message.id,
                        State::Failure,
                        exception(&exc_type, module, &text),
                    )
                    .await?;
                Ok(State::Failure)
            }
        }
    }
}

/// A Celery producer in Rust: publishes task messages that Celery workers run.
pub struct CeleryClient {
    connection: Connection,
    channel: Channel,
}

impl std::fmt::Debug for CeleryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CeleryClient").finish_non_exhaustive()
    }
}

impl CeleryClient {
    /// Connects with a channel in confirm mode.
    pub async fn connect(amqp_url: &str) -> Result<Self, InteropError> {
        let connection = Connection::connect(amqp_url, ConnectionProperties::default()).await?;
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(Self {
            connection,
            channel,
        })
    }

    /// Declares `queue` as Celery does, so a message sent before the worker starts is kept.
    pub async fn declare(&self, queue: &str) -> Result<(), InteropError> {
        declare_queue(&self.channel, queue).await
    }

    /// Sends `message` to `queue` (confirmed) and returns its task id.
    pub async fn send(&self, queue: &str, message: &TaskMessage) -> Result<String, InteropError> {
        publish(&self.channel, queue, message).await?;
        Ok(message.id.clone())
    }

    /// Closes the connection.
    pub async fn close(self) {
        let _ = self.connection.close(200, "done".into()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_decodes_to_what_was_encoded() {
        let eta = Utc::now();
        let message =
            TaskMessage::new("py.add", vec![json!(2), json!(3)], Map::new()).with_eta(eta);
        let decoded = TaskMessage::decode(&message.properties(), &message.body()).unwrap();
        // Microseconds survive the ISO text; nanoseconds do not, as in Python.
        let mut expected = message.clone();
        expected.eta = Some(parse_time(&iso8601(eta)).unwrap());
        assert_eq!(decoded, expected);
    }

    #[test]
    fn python_none_in_headers_is_void_on_the_wire() {
        let message = TaskMessage::new("py.add", vec![], Map::new());
        let headers = message.headers();
        let eta = headers.inner().get("eta").unwrap();
        assert_eq!(eta, &AMQPValue::Void);
        assert_eq!(
            headers.inner().get("timelimit").unwrap(),
            &AMQPValue::FieldArray(FieldArray::from(vec![AMQPValue::Void, AMQPValue::Void]))
        );
    }

    #[test]
    fn a_retry_keeps_the_id_and_counts_with_an_eta() {
        let now = Utc::now();
        let first = TaskMessage::new("rust.flaky", vec![json!(2)], Map::new());
        let second = first.retried(Duration::from_millis(200), now);
        assert_eq!(second.id, first.id);
        assert_eq!(second.retries, 1);
        assert_eq!(second.eta, Some(now + chrono::Duration::milliseconds(200)));
    }

    #[test]
    fn a_pickled_or_headerless_message_is_refused() {
        let message = TaskMessage::new("py.add", vec![], Map::new());
        let pickled = message
            .properties()
            .with_content_type("application/x-python-serialize".into());
        assert!(TaskMessage::decode(&pickled, &message.body()).is_err());
        let v1 = BasicProperties::default().with_content_type(CONTENT_TYPE.into());
        assert!(TaskMessage::decode(&v1, &message.body()).is_err());
    }

    #[test]
    fn a_result_stored_by_celery_parses_and_is_ready() {
        // As a real Celery 5.7 worker stored it (quoted in the README).
        let stored = r#"{"status": "SUCCESS", "result": {"sum": 5, "processed_by": "celery"}, "traceback": null, "children": [], "date_done": "2026-12-02T22:08:36.821842+00:00", "task_id": "370daf0a-c5e6-47cf-b3e0-ccb22d605d5c"}"#;
        let meta: ResultMeta = serde_json::from_str(stored).unwrap();
        assert!(meta.status.is_ready());
        assert_eq!(meta.result["sum"], 5);
        assert_eq!(meta.task_id, "370daf0a-c5e6-47cf-b3e0-ccb22d605d5c");
        assert!(!State::Retry.is_ready() && !State::Pending.is_ready());
    }

    #[test]
    fn naive_and_aware_times_parse_as_utc() {
        let aware = parse_time("2026-12-02T21:40:00.123456+00:00").unwrap();
        let naive = parse_time("2026-12-02T21:40:00.123456").unwrap();
        assert_eq!(aware, naive);
    }
}
