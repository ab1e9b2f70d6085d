//! Builders for fold tests: a log with increasing sequences and times, and
//! the events tests put in it.

#![allow(dead_code)]

use rota_events::*;
use rota_projections::{CellState, LogEntry};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Builds a log with increasing sequences and times.
pub struct Log {
    pub entries: Vec<LogEntry>,
}

impl Log {
    pub fn new() -> Log {
        Log {
            entries: Vec::new(),
        }
    }

    pub fn push(&mut self, event: Event) -> &mut Log {
        let time_ms = 1_000 * (self.entries.len() as u64 + 1);
        self.push_at(event, time_ms)
    }

    /// Appends `event` at log time `time_ms` (never before the last).
    pub fn push_at(&mut self, event: Event, time_ms: u64) -> &mut Log {
        let seq = self.entries.len() as u64 + 1;
        let time_ms = time_ms.max(self.entries.last().map_or(0, |e| e.time_ms));
        self.entries.push(LogEntry {
            seq,
            time_ms,
            subject: event.subject(),
            event: Ok(event),
            signer: None,
        });
        self
    }

    pub fn decision(
        &mut self,
        service: &str,
        epoch: u64,
        body: Body,
        tenant: Option<&str>,
    ) -> &mut Log {
        let time_ms = 1_000 * (self.entries.len() as u64 + 1);
        self.decision_at(service, epoch, body, tenant, time_ms)
    }

    /// Appends a one-event round of `service` at log time `time_ms`.
    pub fn decision_at(
        &mut self,
        service: &str,
        epoch: u64,
        body: Body,
        tenant: Option<&str>,
        time_ms: u64,
    ) -> &mut Log {
        let basis = self.entries.len() as u64;
        let mut event = Event::new(format!("d{basis}"), "default", body);
        event.tenant = tenant.map(str::to_string);
        event.round = Some(RoundTag {
            service: service.into(),
            epoch,
            basis,
            index: 0,
            size: 1,
        });
        self.push_at(event, time_ms)
    }

    pub fn fold(&self) -> CellState {
        let mut state = CellState::new("default");
        for entry in &self.entries {
            state.apply(entry);
        }
        state
    }
}

pub fn res(cpu_milli: u64) -> Resources {
    Resources {
        cpu_milli,
        memory_bytes: 1 << 20,
        gpus: 0,
        ..Default::default()
    }
}

pub fn lease(service: &str, epoch: u64) -> Event {
    Event::new(
        format!("lease-{service}-{epoch}"),
        "default",
        Body::LeaseClaimed(LeaseClaimed {
            service: service.into(),
            epoch,
            holder: format!("{service}-{epoch}"),
        }),
    )
}

pub fn node(name: &str, cpu_milli: u64) -> Event {
    Event::new(
        format!("reg-{name}"),
        "default",
        Body::NodeRegistered(NodeRegistered {
            node: name.into(),
            capacity: res(cpu_milli),
            labels: BTreeMap::new(),
            ..Default::default()
        }),
    )
}

pub fn submit(job: &str, cpu_milli: u64) -> Event {
    Event::new(
        job,
        "default",
        Body::JobSubmitted(Arc::new(JobSubmitted {
            job: job.into(),
            name: None,
            command: vec![],
            resources: res(cpu_milli),
            duration_ms: None,
            walltime_s: None,
            priority: 0,
            labels: BTreeMap::new(),
            ..Default::default()
        })),
    )
    .with_tenant("acme")
}

pub fn admitted(job: &str) -> Body {
    Body::JobAdmitted(JobAdmitted { job: job.into() })
}

pub fn bound(job: &str, node: &str, cpu_milli: u64) -> Body {
    Body::JobBound(JobBound {
        job: job.into(),
        node: node.into(),
        resources: res(cpu_milli),
        ..Default::default()
    })
}

/// Job `job` finished successfully on `node`, as its agent reports it.
pub fn finished(job: &str, node: &str) -> Event {
    Event::new(
        format!("{job}-finished"),
        "default",
        Body::JobFinished(JobFinished {
            job: job.into(),
            node: node.into(),
            outcome: Outcome::Succeeded,
            exit_code: Some(0),
            signal: None,
            message: None,
            checkpointed: false,
        }),
    )
    .with_tenant("acme")
}

/// The details of the rejections the fold has queued, in log order.
pub fn rejection_details(state: &CellState) -> Vec<&str> {
    state
        .backlog
        .rejections
        .values()
        .map(|r| r.detail.as_str())
        .collect()
}
