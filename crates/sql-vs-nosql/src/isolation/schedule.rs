//! The driver: runs one case's schedule on real connections, deterministically.
//!
//! Steps go out one at a time, in the case's order. After sending a step the driver waits until
//! either the answer arrives or the engine's lock view shows the session waiting on a lock (seen
//! twice in a row, so a view that lags by a moment cannot invent a wait). A blocked session's
//! later steps are held back, as they would be at a terminal that is stuck on a statement, while
//! the other sessions carry on. After every step the driver looks at the blocked sessions again
//! in the same way, so a `COMMIT` that releases a lock is followed by the released statement's
//! answer before the next step goes out.
//!
//! Nothing here waits for a fixed time to decide anything. Time only bounds a run: a step that
//! neither answers nor waits on a lock for 30 s (`STEP_GUARD`) fails the run, and a lock wait
//! ends with the engine's own lock timeout (a session setting, see
//! [`super::session::LOCK_TIMEOUT`]).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::cases::{Action, Case, Tx};
use super::outcome::{FailureKind, Observed, StepRecord, StepResult, TxEnd};
use super::session::{LOCK_TIMEOUT, Monitor, Session};
use super::{IsolationError, Setting, SqlEngine};

/// How often a silent step's session is looked up in the lock view.
const POLL: Duration = Duration::from_millis(10);
/// Consecutive lock-view sightings that make a step "blocked".
const SIGHTINGS: u32 = 2;
/// A step that neither answers nor waits on a lock for this long fails the run: generous,
/// because a loaded machine makes a statement slow, and slowness is not blocking.
const STEP_GUARD: Duration = Duration::from_secs(30);

/// A step that was sent and is waiting on a lock.
struct Pending {
    step: usize,
    answer: oneshot::Receiver<StepResult>,
}

/// One transaction's connection and where its part of the schedule stands.
struct Slot {
    session: Session,
    pending: Option<Pending>,
    /// Steps held back while `pending` is blocked, in schedule order.
    held: VecDeque<usize>,
    end: TxEnd,
}

enum Wait {
    Answered(StepResult),
    Blocked,
}

/// Runs `case` at `setting` on a fresh table and returns what it observed.
pub async fn run(case: &Case, setting: Setting, url: &str) -> Result<Observed, IsolationError> {
    let table = support::names::unique_name(&format!("hermitage_{}", case.name));
    let mut monitor = Monitor::connect(setting.engine, url).await?;
    let engine_suffix = match setting.engine {
        SqlEngine::Postgres => "",
        SqlEngine::MariaDb => " engine = InnoDB",
    };
    monitor
        .execute(&format!(
            "create table {table} (id int primary key, value int){engine_suffix}"
        ))
        .await?;
    let result = async {
        monitor
            .execute(&format!(
                "insert into {table} (id, value) values (1, 10), (2, 20)"
            ))
            .await?;
        let mut driver = Driver::connect(case, setting, url, &table, &mut monitor).await?;
        let steps = driver.run().await;
        let mut ends: Vec<TxEnd> = driver.slots.iter().map(|s| s.end).collect();
        ends.resize(Tx::ALL.len(), TxEnd::Unused);
        let records = std::mem::take(&mut driver.records);
        driver.close(steps.is_ok()).await;
        steps?;
        let final_rows = monitor.rows(&table).await?;
        Ok::<_, IsolationError>(Observed {
            steps: records.into_iter().flatten().collect(),
            ends,
            final_rows,
        })
    }
    .await;
    // Dropped whatever happened, so a failed run leaves nothing behind either.
    let dropped = monitor
        .execute(&format!("drop table if exists {table}"))
        .await;
    let observed = result?;
    dropped?;
    Ok(observed)
}

struct Driver<'a> {
    case: &'a Case,
    setting: Setting,
    table: &'a str,
    monitor: &'a mut Monitor,
    slots: Vec<Slot>,
    /// One per step, filled as answers arrive.
    records: Vec<Option<StepRecord>>,
}

impl<'a> Driver<'a> {
    async fn connect(
        case: &'a Case,
        setting: Setting,
        url: &str,
        table: &'a str,
        monitor: &'a mut Monitor,
    ) -> Result<Driver<'a>, IsolationError> {
        let mut slots = Vec::new();
        for _ in 0..case.transactions() {
            slots.push(Slot {
                session: Session::connect(setting.engine, url, setting.level).await?,
                pending: None,
                held: VecDeque::new(),
                end: TxEnd::Unused,
            });
        }
        Ok(Self {
            case,
            setting,
            table,
            monitor,
            slots,
            records: vec![None; case.steps.len()],
        })
    }

    async fn run(&mut self) -> Result<(), IsolationError> {
        for step in 0..self.case.steps.len() {
            let tx = self.case.steps[step].tx.index();
            if self.slots[tx].pending.is_some() {
                self.slots[tx].held.push_back(step);
                continue;
            }
            self.issue(step).await?;
            self.settle().await?;
        }
        self.drain().await
    }

    /// Sends one step and waits for its answer or for its session to block.
    async fn issue(&mut self, step: usize) -> Result<(), IsolationError> {
        let spec = self.case.steps[step];
        let tx = spec.tx.index();
        if self.slots[tx].end == TxEnd::Aborted {
            // The engine already ended this transaction. Its other statements are not sent; its
            // COMMIT or ROLLBACK becomes a ROLLBACK, which PostgreSQL needs to leave the failed
            // transaction and MariaDB accepts as a no-op.
            if matches!(spec.action, Action::Commit | Action::Rollback) {
                let mut answer = self.slots[tx].session.send("ROLLBACK".to_owned())?;
                let backend = self.slots[tx].session.backend;
                let _ = wait(self.monitor, backend, &mut answer).await?;
            }
            return self.record(step, StepResult::Skipped, false);
        }
        let sql = self.render(spec.action);
        let mut answer = self.slots[tx].session.send(sql)?;
        let backend = self.slots[tx].session.backend;
        match wait(self.monitor, backend, &mut answer).await? {
            Wait::Answered(result) => self.record(step, result, false),
            Wait::Blocked => {
                self.slots[tx].pending = Some(Pending { step, answer });
                Ok(())
            }
        }
    }

    /// Looks at every blocked session again until none changes: each either answers (and then
    /// runs the steps it held back) or is still seen waiting on a lock.
    async fn settle(&mut self) -> Result<(), IsolationError> {
        loop {
            let mut progressed = false;
            for tx in 0..self.slots.len() {
                let Some(mut pending) = self.slots[tx].pending.take() else {
                    continue;
                };
                let backend = self.slots[tx].session.backend;
                match recheck(self.monitor, backend, &mut pending.answer).await? {
                    Wait::Answered(result) => {
                        self.record(pending.step, result, true)?;
                        self.release(tx).await?;
                        progressed = true;
                    }
                    Wait::Blocked => self.slots[tx].pending = Some(pending),
                }
            }
            if !progressed {
                return Ok(());
            }
        }
    }

    /// Runs the steps a session held back while it was blocked, until it blocks again.
    async fn release(&mut self, tx: usize) -> Result<(), IsolationError> {
        while self.slots[tx].pending.is_none() {
            let Some(step) = self.slots[tx].held.pop_front() else {
                return Ok(());
            };
            self.issue(step).await?;
        }
        Ok(())
    }

    /// After the last step: whatever is still blocked can only be ended by the engine (a
    /// deadlock it has yet to detect, or a lock timeout), so wait for it, bounded.
    async fn drain(&mut self) -> Result<(), IsolationError> {
        loop {
            self.settle().await?;
            let Some(tx) = self.slots.iter().position(|s| s.pending.is_some()) else {
                return Ok(());
            };
            let Some(mut pending) = self.slots[tx].pending.take() else {
                return Ok(());
            };
            let bound = LOCK_TIMEOUT + Duration::from_secs(5);
            let result = tokio::time::timeout(bound, &mut pending.answer)
                .await
                .map_err(|_| self.hung(pending.step))?
                .map_err(|_| IsolationError::SessionGone)?;
            self.record(pending.step, result, true)?;
            self.release(tx).await?;
        }
    }

    /// Files an answer and updates its transaction's state. A failure that is not the engine
    /// keeping transactions isolated (a lock timeout, a syntax error) fails the run.
    fn record(
        &mut self,
        step: usize,
        result: StepResult,
        waited: bool,
    ) -> Result<(), IsolationError> {
        let spec = self.case.steps[step];
        let slot = &mut self.slots[spec.tx.index()];
        match (&result, spec.action) {
            (StepResult::Failed(failure), _) if failure.kind.aborts_transaction() => {
                slot.end = TxEnd::Aborted;
            }
            (StepResult::Failed(failure), _) => {
                return Err(IsolationError::Unexpected {
                    case: self.case.name,
                    setting: self.setting.label(),
                    step: self.render(spec.action),
                    code: failure.code.clone(),
                    message: failure.message.clone(),
                    hint: if failure.kind == FailureKind::LockTimeout {
                        " (a lock wait timed out: the schedule waits on itself)"
                    } else {
                        ""
                    },
                });
            }
            (StepResult::Answered { .. }, Action::Commit) => slot.end = TxEnd::Committed,
            (StepResult::Answered { .. }, Action::Rollback) => slot.end = TxEnd::RolledBack,
            (StepResult::Answered { .. }, Action::Begin) => slot.end = TxEnd::Open,
            _ => {}
        }
        let sql = self.render(spec.action);
        self.records[step] = Some(StepRecord {
            tx: spec.tx,
            sql,
            label: spec.label,
            result,
            waited,
            schedule_wait: spec.schedule_wait,
        });
        Ok(())
    }

    fn render(&self, action: Action) -> String {
        match action {
            Action::Begin => self.setting.begin_sql(),
            Action::Sql(sql) => sql.replace("{t}", self.table),
            Action::Commit => "COMMIT".to_owned(),
            Action::Rollback => "ROLLBACK".to_owned(),
        }
    }

    fn hung(&self, step: usize) -> IsolationError {
        IsolationError::Hung {
            case: self.case.name,
            setting: self.setting.label(),
            step: self.render(self.case.steps[step].action),
        }
    }

    /// Closes every session. After a failure some may still be blocked inside a statement; their
    /// backends are ended from the server side first, so their locks go before the table does.
    async fn close(&mut self, clean: bool) {
        for slot in std::mem::take(&mut self.slots) {
            if clean && slot.pending.is_none() {
                slot.session.close().await;
            } else {
                let _ = self.monitor.kill(slot.session.backend).await;
                slot.session.abort();
            }
        }
    }
}

/// Looks at a session already seen blocked: answered by now, still waiting on a lock (one
/// sighting is enough: it was confirmed before, and both lock views are exact at the moment the
/// blocker's COMMIT answers, because the engine hands the lock over before it replies), or
/// running again, in which case it is waited for like a fresh step.
async fn recheck(
    monitor: &mut Monitor,
    backend: u32,
    answer: &mut oneshot::Receiver<StepResult>,
) -> Result<Wait, IsolationError> {
    match answer.try_recv() {
        Ok(result) => return Ok(Wait::Answered(result)),
        Err(oneshot::error::TryRecvError::Closed) => return Err(IsolationError::SessionGone),
        Err(oneshot::error::TryRecvError::Empty) => {}
    }
    if monitor.is_waiting(backend).await? {
        // The answer may have arrived while the view was read: take it rather than a stale "no".
        return Ok(match answer.try_recv() {
            Ok(result) => Wait::Answered(result),
            Err(_) => Wait::Blocked,
        });
    }
    wait(monitor, backend, answer).await
}

/// Waits for `answer` until it arrives or the engine shows `backend` waiting on a lock.
async fn wait(
    monitor: &mut Monitor,
    backend: u32,
    answer: &mut oneshot::Receiver<StepResult>,
) -> Result<Wait, IsolationError> {
    let started = Instant::now();
    let mut sightings = 0;
    loop {
        match tokio::time::timeout(POLL, &mut *answer).await {
            Ok(Ok(result)) => return Ok(Wait::Answered(result)),
            Ok(Err(_)) => return Err(IsolationError::SessionGone),
            Err(_) => {}
        }
        if monitor.is_waiting(backend).await? {
            sightings += 1;
            if sightings >= SIGHTINGS {
                return Ok(Wait::Blocked);
            }
        } else {
            sightings = 0;
        }
        if started.elapsed() > STEP_GUARD {
            return Err(IsolationError::Silent {
                backend,
                waited_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            });
        }
    }
}
