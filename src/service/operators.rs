//! The operators' side of the service: schedules (read, change, refresh), pausing and resuming
//! every sync through Priority, pause and run metrics, the actor tree and restarting, stopping
//! and starting its actors. Calls actors with the configured timeout; must NOT touch SQLite
//! (the read model does) nor decide anything an operator did not ask for.

use super::{PRIORITY, SCHEDULER, Service, ServiceError};
use crate::records::Kind;
use crate::store::ledger::KindMetrics;
use blackant_actors::directory::CallError;
use blackant_actors::priority::{PauseMetrics, PauseReport, PriorityMessage};
use blackant_actors::root::{ChildInfo, SupervisorError};
use blackant_actors::scheduler::{KindSchedule, SchedulePatch, ScheduleView, SchedulerMessage};
use std::time::Duration;

impl Service {
    /// Every kind's schedule and the Scheduler's plan for it.
    pub async fn schedules(&self) -> Result<Vec<ScheduleView>, ServiceError> {
        let scheduler = self.scheduler()?;
        let timeout = Some(self.tuning.call_timeout);
        self.call(SCHEDULER, &scheduler, SchedulerMessage::Get, timeout)
            .await
    }

    /// Change a kind's schedule (stored in sync.db, in effect at once).
    pub async fn update_schedule(
        &self,
        kind: Kind,
        patch: SchedulePatch,
    ) -> Result<KindSchedule, ServiceError> {
        let scheduler = self.scheduler()?;
        let kind = kind.name().to_string();
        let timeout = Some(self.tuning.call_timeout);
        let build = |reply| SchedulerMessage::Update { kind, patch, reply };
        Ok(self.call(SCHEDULER, &scheduler, build, timeout).await??)
    }

    /// A kind's interval: what EnsureFresh and reconnects call fresh. The Scheduler's current
    /// schedule when it runs, else the kind table's default.
    pub async fn interval(&self, kind: Kind) -> Duration {
        match self.schedules().await {
            Ok(views) => views
                .into_iter()
                .find(|v| v.schedule.kind == kind.name())
                .map_or(kind.spec().interval(), |v| v.schedule.interval),
            Err(_) => kind.spec().interval(),
        }
    }

    /// Tell the Scheduler to look again now (an agent's session opened).
    pub fn refresh_schedule(&self) {
        if let Ok(scheduler) = self.scheduler() {
            let _ = scheduler.cast(SchedulerMessage::Refresh);
        }
    }

    /// Run-history metrics per kind (durations, runs, failures, joined requests).
    pub async fn run_metrics(&self) -> Result<Vec<KindMetrics>, ServiceError> {
        self.reads.run_metrics().await
    }

    /// The run history: the latest runs matching `filter`, newest first.
    pub async fn recent_runs(
        &self,
        filter: crate::store::ledger::RunFilter,
        limit: u32,
    ) -> Result<Vec<crate::store::ledger::RunRow>, ServiceError> {
        self.reads.runs(filter, limit).await
    }

    /// Pause every sync at its next page boundary (through the Priority actor); they stay
    /// paused until [`Service::resume_syncs`]. Pauses are serialized.
    pub async fn pause_syncs(&self) -> Result<PauseReport, ServiceError> {
        let priority = self.priority()?;
        // A queued pause waits for the one before to be resumed: no deadline but the caller's.
        self.call(PRIORITY, &priority, PriorityMessage::Pause, None)
            .await
    }

    /// End the current pause.
    pub fn resume_syncs(&self) -> Result<(), ServiceError> {
        self.priority()?
            .cast(PriorityMessage::Resume)
            .map_err(|e| ServiceError::NoAnswer {
                actor: PRIORITY,
                source: CallError::NotDelivered(e.to_string()),
            })
    }

    /// Pause metrics since start.
    pub async fn pause_metrics(&self) -> Result<PauseMetrics, ServiceError> {
        let priority = self.priority()?;
        let timeout = Some(self.tuning.call_timeout);
        self.call(PRIORITY, &priority, PriorityMessage::Metrics, timeout)
            .await
    }

    /// The actor tree with states and restart counts.
    pub async fn actors(&self) -> Result<Vec<ChildInfo>, ServiceError> {
        Ok(self.tree.supervisor.list_tree().await?)
    }

    /// Restart, stop or start the actor `name`; answers with its state afterwards.
    #[tracing::instrument(skip(self))]
    pub async fn operate_actor(
        &self,
        name: &str,
        operation: ActorOperation,
    ) -> Result<ChildInfo, ServiceError> {
        let supervisor = &self.tree.supervisor;
        match operation {
            ActorOperation::Restart => supervisor.restart(name).await??,
            ActorOperation::Stop => supervisor.stop(name).await??,
            ActorOperation::Start => supervisor.start(name).await??,
        }
        self.actors()
            .await?
            .into_iter()
            .find(|c| c.name == name)
            .ok_or_else(|| {
                SupervisorError::UnknownChild {
                    name: name.to_string(),
                }
                .into()
            })
    }
}

/// An operator's action on an actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorOperation {
    Restart,
    Stop,
    Start,
}
