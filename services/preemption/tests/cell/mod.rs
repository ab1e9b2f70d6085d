//! A cell built event by event for preemption tests: nodes, running jobs,
//! waiting jobs and the policy, folded as every service folds them, with
//! the preemption core deciding over it.

#![allow(dead_code)]

use rota_events::*;
use rota_preemption::Preemption;
use rota_projections::{CellState, LogEntry, ServiceCore};
use std::collections::BTreeMap;
use std::sync::Arc;

pub const GIB: u64 = 1 << 30;

/// A cell and the log that built it.
pub struct Cell {
    pub state: CellState,
    pub entries: Vec<LogEntry>,
    pub now_ms: u64,
}

impl Cell {
    pub fn new() -> Cell {
        let mut cell = Cell {
            state: CellState::new("t"),
            entries: Vec::new(),
            now_ms: 1_000,
        };
        for service in ["admission", "placement", "preemption"] {
            cell.push(Event::new(
                format!("lease-{service}"),
                "t",
                Body::LeaseClaimed(LeaseClaimed {
                    service: service.into(),
                    epoch: 1,
                    holder: service.into(),
                }),
            ));
        }
        cell
    }

    pub fn push(&mut self, event: Event) {
        let entry = LogEntry {
            seq: self.entries.len() as u64 + 1,
            time_ms: self.now_ms,
            subject: event.subject(),
            event: Ok(event),
            signer: None,
        };
        self.state.apply(&entry);
        self.entries.push(entry);
    }

    /// A one-event round of `service`.
    pub fn decision(&mut self, service: &str, body: Body, tenant: &str) {
        let basis = self.entries.len() as u64;
        let mut event = Event::new(format!("d{basis}"), "t", body).with_tenant(tenant);
        event.round = Some(RoundTag {
            service: service.into(),
            epoch: 1,
            basis,
            index: 0,
            size: 1,
        });
        self.push(event);
    }

    /// Moves the log's time on by `seconds`, with a clock tick.
    pub fn advance_s(&mut self, seconds: u64) {
        self.now_ms += seconds * 1000;
        let after_seq = self.entries.len() as u64;
        self.push(Event::new(
            format!("tick-{after_seq}"),
            "t",
            Body::ClockTick(ClockTick { after_seq }),
        ));
    }

    pub fn policy(
        &mut self,
        classes: &[(&str, u32, ClassPreemption)],
        tune: impl FnOnce(&mut PlacementPolicy),
    ) {
        let mut policy = PlacementPolicy::default();
        for (name, value, preemption) in classes {
            policy.priority_classes.insert(name.to_string(), *value);
            policy
                .preemption
                .classes
                .insert(name.to_string(), *preemption);
        }
        policy.preemption.min_interval_s = 0;
        tune(&mut policy);
        policy.validate().expect("a valid test policy");
        self.push(Event::new(
            format!("policy-{}", self.entries.len()),
            "t",
            Body::PolicySet(PolicySet { placement: policy }),
        ));
    }

    pub fn node(&mut self, name: &str, cpus: u64) {
        self.push(Event::new(
            format!("reg-{name}"),
            "t",
            Body::NodeRegistered(NodeRegistered {
                node: name.into(),
                capacity: Resources {
                    cpu_milli: cpus * 1000,
                    memory_bytes: 64 * GIB,
                    gpus: 0,
                    gpu_milli: 0,
                },
                ..Default::default()
            }),
        ));
    }

    /// A job of `tenant` and `class` asking for `cpus`, admitted.
    pub fn wait(&mut self, job: &str, tenant: &str, class: Option<&str>, cpus: u64) {
        let spec = JobSubmitted {
            job: job.into(),
            resources: Resources {
                cpu_milli: cpus * 1000,
                memory_bytes: GIB,
                ..Default::default()
            },
            priority_class: class.map(str::to_string),
            labels: BTreeMap::new(),
            ..Default::default()
        };
        self.push(
            Event::new(
                format!("sub-{job}"),
                "t",
                Body::JobSubmitted(Arc::new(spec)),
            )
            .with_tenant(tenant),
        );
        self.decision(
            "admission",
            Body::JobAdmitted(JobAdmitted { job: job.into() }),
            tenant,
        );
    }

    /// A job running on `node`.
    pub fn run(&mut self, job: &str, tenant: &str, class: Option<&str>, cpus: u64, node: &str) {
        self.run_borrowing(job, tenant, class, cpus, node, false);
    }

    pub fn run_borrowing(
        &mut self,
        job: &str,
        tenant: &str,
        class: Option<&str>,
        cpus: u64,
        node: &str,
        reclaimable: bool,
    ) {
        self.wait(job, tenant, class, cpus);
        let resources = self.state.jobs[job].spec.resources;
        self.decision(
            "placement",
            Body::JobBound(JobBound {
                job: job.into(),
                node: node.into(),
                resources,
                gpu_devices: vec![],
                reclaimable,
            }),
            tenant,
        );
        self.push(
            Event::new(
                format!("start-{job}"),
                "t",
                Body::JobStarted(JobStarted {
                    job: job.into(),
                    node: node.into(),
                    pid: None,
                }),
            )
            .with_tenant(tenant),
        );
    }

    /// The preemption core's round on the cell as it is.
    pub fn decide(&self) -> Vec<Event> {
        let mut core = Preemption::new("t");
        for entry in &self.entries {
            core.apply(entry);
        }
        core.decide(1)
    }

    /// Decides a round and appends it.
    pub fn decide_and_apply(&mut self) -> Vec<Event> {
        let round = self.decide();
        for event in &round {
            self.push(event.clone());
        }
        round
    }

    /// The victims of a round, by job id.
    pub fn victims(round: &[Event]) -> Vec<String> {
        round
            .iter()
            .filter_map(|e| match &e.body {
                Body::JobPreempted(p) => Some(p.job.clone()),
                _ => None,
            })
            .collect()
    }

    /// A victim's agent reports it ended, killed.
    pub fn victim_ends(&mut self, job: &str) {
        let node = self.state.jobs[job].node.clone().expect("on a node");
        let tenant = self.state.jobs[job].tenant.clone();
        self.push(
            Event::new(
                format!("end-{job}-{}", self.entries.len()),
                "t",
                Body::JobFinished(JobFinished {
                    job: job.into(),
                    node,
                    outcome: Outcome::Killed,
                    exit_code: None,
                    signal: Some(9),
                    message: None,
                    checkpointed: false,
                }),
            )
            .with_tenant(tenant),
        );
    }
}

/// A class that preempts lower priorities and is not preemptible itself.
pub fn preempting() -> ClassPreemption {
    ClassPreemption::preempting()
}

/// A preemptible class in `mode`.
pub fn victim_class(mode: PreemptionMode) -> ClassPreemption {
    ClassPreemption {
        mode,
        ..ClassPreemption::default()
    }
}
