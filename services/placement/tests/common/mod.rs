//! A driver for placement tests: a placement core fed events as the shell
//! would, with rounds applied back.

#![allow(dead_code)]

use rota_events::*;
use rota_placement::Placement;
use rota_projections::{LogEntry, ServiceCore};
use std::sync::Arc;

pub struct Driver {
    pub core: Placement,
    seq: u64,
    /// Log time of the next event, in milliseconds, at least its sequence.
    time_ms: u64,
}

impl Driver {
    pub fn new() -> Driver {
        let mut driver = Driver {
            core: Placement::new("default"),
            seq: 0,
            time_ms: 0,
        };
        for service in ["placement", "admission"] {
            driver.push(Event::new(
                format!("l-{service}"),
                "default",
                Body::LeaseClaimed(LeaseClaimed {
                    service: service.into(),
                    epoch: 1,
                    holder: "p".into(),
                }),
            ));
        }
        driver
    }

    pub fn push(&mut self, event: Event) {
        self.seq += 1;
        let entry = LogEntry {
            seq: self.seq,
            time_ms: self.time_ms.max(self.seq),
            subject: event.subject(),
            event: Ok(event),
            signer: None,
        };
        self.core.apply(&entry);
    }

    /// Moves the log's time to `time_ms` with a clock tick.
    pub fn tick_at(&mut self, time_ms: u64) {
        self.time_ms = time_ms;
        let after_seq = self.seq;
        self.push(Event::new(
            format!("t{after_seq}"),
            "default",
            Body::ClockTick(ClockTick { after_seq }),
        ));
    }

    pub fn policy(&mut self, placement: PlacementPolicy) {
        self.push(Event::new(
            format!("p{}", self.seq),
            "default",
            Body::PolicySet(PolicySet { placement }),
        ));
    }

    pub fn tenants(&mut self, config: TenantConfig) {
        self.push(Event::new(
            format!("tenants{}", self.seq),
            "default",
            Body::TenantsSet(TenantsSet { config }),
        ));
    }

    pub fn node(&mut self, name: &str, capacity: Resources) {
        self.node_with(NodeRegistered {
            node: name.into(),
            capacity,
            ..Default::default()
        });
    }

    pub fn node_with(&mut self, registered: NodeRegistered) {
        let id = format!("r-{}", registered.node);
        self.push(Event::new(id, "default", Body::NodeRegistered(registered)));
    }

    pub fn job(&mut self, id: &str, resources: Resources, priority: i32) {
        self.job_with(JobSubmitted {
            job: id.into(),
            resources,
            priority,
            ..Default::default()
        });
    }

    pub fn job_with(&mut self, spec: JobSubmitted) {
        self.job_for("t", spec);
    }

    /// Submits and admits a job of `tenant`.
    pub fn job_for(&mut self, tenant: &str, spec: JobSubmitted) {
        let id = spec.job.clone();
        self.push(
            Event::new(id.clone(), "default", Body::JobSubmitted(Arc::new(spec)))
                .with_tenant(tenant),
        );
        let mut admitted = Event::new(
            format!("a-{id}"),
            "default",
            Body::JobAdmitted(JobAdmitted { job: id }),
        )
        .with_tenant(tenant);
        admitted.round = Some(RoundTag {
            service: "admission".into(),
            epoch: 1,
            basis: self.seq,
            index: 0,
            size: 1,
        });
        self.push(admitted);
    }

    /// Decides a round and applies it back, as the shell does; returns the
    /// bindings as (job, node, devices).
    pub fn round(&mut self) -> Vec<(String, String, Vec<u32>)> {
        let round = self.core.decide(1);
        let bindings = round
            .iter()
            .filter_map(|e| match &e.body {
                Body::JobBound(b) => Some((b.job.clone(), b.node.clone(), b.gpu_devices.clone())),
                _ => None,
            })
            .collect();
        for event in round {
            self.push(event);
        }
        bindings
    }
}

pub fn r(cpu_milli: u64, memory_gib: u64, gpus: u32) -> Resources {
    Resources {
        cpu_milli,
        memory_bytes: memory_gib << 30,
        gpus,
        gpu_milli: 0,
    }
}
