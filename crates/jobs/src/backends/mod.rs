//! The five ways to run a job, one file each, all behind [`Queue`](crate::job::Queue).
//!
//! Two axes, and the files line up along them:
//!
//! | file | where the job waits | what survives a crash |
//! |---|---|---|
//! | [`synchronous`] | nowhere: the handler runs it | nothing to survive; the request fails |
//! | [`in_process`] | this process's memory | nothing |
//! | [`redis_list`] | Redis lists (a queue: deleted on ack) | everything; stalled jobs after a timeout |
//! | [`redis_stream`] | a Redis Stream (a log: kept after ack) | everything; replayable by a new group |
//! | [`rabbitmq`] | the broker, on disk | everything; requeued when the connection drops |
//!
//! The two Redis shapes differ only in how a job becomes ready and how a delivery is settled;
//! the rest (delayed set, dead-letter hash, retry, replay) is `redis_common.rs`, which both use
//! and neither of which imports the other.

pub mod in_process;
pub mod rabbitmq;
pub mod redis_common;
pub mod redis_list;
pub mod redis_stream;
pub mod synchronous;
