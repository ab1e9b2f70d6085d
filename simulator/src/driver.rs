//! The virtual-time driver.

use rota_admission::AdmissionRules;
use rota_events::{
    Body, ClockTick, Event, JobFinished, JobSubmitted, LeaseClaimed, NodeRegistered, Outcome,
    PlacementPolicy, PolicySet, PreemptionMode, ROUND_EVENTS_MAX, ResourceAmounts, Resources,
    Retention, TenantConfig, TenantsSet,
};
use rota_fairshare::FairShareRules;
use rota_placement::Scheduler;
use rota_preemption::PreemptionRules;
use rota_projections::{CellState, Decider, LogEntry, seal_round};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The cell the simulator's log belongs to.
pub const SIM_CELL: &str = "sim";

/// A job of a trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimJob {
    pub id: String,
    pub tenant: String,
    /// Arrival, in trace milliseconds.
    pub submit_ms: u64,
    /// How long it really runs once started, in milliseconds.
    pub run_ms: u64,
    pub request: Resources,
    /// Its wall-clock limit, which is also its runtime estimate.
    pub walltime_s: Option<u64>,
    /// Its priority class, one of the policy's.
    pub class: Option<String>,
}

/// The nodes jobs are placed onto.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    pub nodes: Vec<NodeRegistered>,
}

impl Machine {
    /// One node with `procs` processors and memory to spare: an SWF machine.
    pub fn processors(procs: u64) -> Machine {
        Machine {
            nodes: vec![NodeRegistered {
                node: "machine".to_string(),
                capacity: Resources {
                    cpu_milli: procs * 1000,
                    memory_bytes: 1 << 50,
                    ..Default::default()
                },
                ..Default::default()
            }],
        }
    }

    /// Nodes of the given capacities, named by position.
    pub fn of(capacities: &[Resources]) -> Machine {
        Machine {
            nodes: capacities
                .iter()
                .enumerate()
                .map(|(i, capacity)| NodeRegistered {
                    node: format!("n{i}"),
                    capacity: *capacity,
                    ..Default::default()
                })
                .collect(),
        }
    }

    /// Total capacity over all nodes.
    pub fn total(&self) -> Resources {
        self.nodes
            .iter()
            .fold(Resources::default(), |sum, node| sum.plus(&node.capacity))
    }
}

/// How a simulation runs.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub policy: PlacementPolicy,
    /// The tenant tree and fair-share policy; with it the fair-share
    /// service decides too, and its factors order the queue.
    pub tenants: Option<TenantConfig>,
    /// Record each head job's first EASY reservation, for checking that
    /// backfill never delays it.
    pub track_reservations: bool,
    /// Sample what each tenant holds and waits for this often, in trace
    /// milliseconds.
    pub sample_every_ms: Option<u64>,
}

impl SimOptions {
    pub fn new(policy: PlacementPolicy) -> SimOptions {
        SimOptions {
            policy,
            tenants: None,
            track_reservations: false,
            sample_every_ms: None,
        }
    }
}

/// What each tenant held and how many of its jobs waited at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSample {
    pub time_ms: u64,
    pub allocated: BTreeMap<String, ResourceAmounts>,
    pub pending: BTreeMap<String, u32>,
}

/// What a simulation produced: the final folded state (every job's submit,
/// start and end times are in it) and counts.
#[derive(Debug, Clone)]
pub struct SimOutcome {
    pub state: CellState,
    /// Log entries the simulation appended.
    pub events: u64,
    pub admission_rounds: u64,
    pub placement_rounds: u64,
    /// For each job that was ever the waiting head under EASY, the first
    /// start time it was promised (when reservations are tracked).
    pub first_reservation_ms: BTreeMap<String, u64>,
    /// Tenant samples, when asked for.
    pub samples: Vec<TenantSample>,
    /// Preemptions that took effect.
    pub preemptions: u64,
    /// The work preempted jobs lost: run time since their run began times
    /// cores, in core-milliseconds.
    pub work_lost_core_ms: u128,
}

/// Simulates `jobs` (in any order; they arrive by `submit_ms`) on `machine`
/// as `options` say.
pub fn simulate(machine: &Machine, jobs: &[SimJob], options: &SimOptions) -> SimOutcome {
    let mut order: Vec<&SimJob> = jobs.iter().collect();
    order.sort_by_key(|job| job.submit_ms);
    let start_ms = order.first().map_or(0, |job| job.submit_ms);
    let mut sim = Sim {
        state: CellState::new(SIM_CELL),
        scheduler: Scheduler::default(),
        seq: 0,
        finishes: BTreeMap::new(),
        finish_order: 0,
        run_ms: jobs
            .iter()
            .map(|job| (job.id.clone(), (job.run_ms, job.walltime_s)))
            .collect(),
        outcome_rounds: (0, 0),
        first_reservation_ms: BTreeMap::new(),
        track_reservations: options.track_reservations,
        fair_share: options.tenants.is_some(),
        preemption: options.policy.preemption.can_preempt(),
        finish_keys: BTreeMap::new(),
        done_ms: BTreeMap::new(),
        preemptions: 0,
        work_lost_core_ms: 0,
    };
    sim.setup(machine, options, start_ms);
    let mut samples = Vec::new();
    let mut next_sample_ms = start_ms;
    let mut next = 0;
    loop {
        let candidates = [
            order.get(next).map(|job| job.submit_ms),
            sim.finishes.keys().next().map(|(time, _)| *time),
            sim.scheduler.next_wake_ms(&sim.state),
            sim.preemption
                .then(|| PreemptionRules.next_wake_ms(&sim.state))
                .flatten(),
        ];
        let Some(now) = candidates.into_iter().flatten().min() else {
            break;
        };
        // The state before `now`'s events held since the last event.
        if let Some(every_ms) = options.sample_every_ms {
            while next_sample_ms <= now {
                samples.push(sample(&sim.state, next_sample_ms));
                next_sample_ms += every_ms.max(1);
            }
        }
        let before = sim.seq;
        while let Some(entry) = sim.finishes.first_entry().filter(|e| e.key().0 == now) {
            let (job, node) = entry.remove();
            sim.finish_keys.remove(&job);
            sim.finish(&job, &node, Outcome::Succeeded, now);
        }
        while let Some(job) = order.get(next).filter(|job| job.submit_ms == now) {
            sim.push(submission(job), now);
            next += 1;
        }
        if sim.seq == before {
            // Only time passed (a wall-clock limit runs out): log a tick.
            let after_seq = sim.seq;
            sim.push(
                Event::new(
                    format!("tick-{after_seq}"),
                    SIM_CELL,
                    Body::ClockTick(ClockTick { after_seq }),
                ),
                now,
            );
        }
        sim.settle(now);
    }
    SimOutcome {
        events: sim.seq,
        admission_rounds: sim.outcome_rounds.0,
        placement_rounds: sim.outcome_rounds.1,
        first_reservation_ms: sim.first_reservation_ms,
        samples,
        preemptions: sim.preemptions,
        work_lost_core_ms: sim.work_lost_core_ms,
        state: sim.state,
    }
}

fn sample(state: &CellState, time_ms: u64) -> TenantSample {
    let tenants = &state.accounts.tenants;
    TenantSample {
        time_ms,
        allocated: tenants
            .iter()
            .map(|(name, account)| (name.clone(), account.allocated))
            .collect(),
        pending: tenants
            .iter()
            .map(|(name, account)| (name.clone(), account.pending_jobs))
            .collect(),
    }
}

fn submission(job: &SimJob) -> Event {
    Event::new(
        job.id.clone(),
        SIM_CELL,
        Body::JobSubmitted(Arc::new(JobSubmitted {
            job: job.id.clone(),
            name: None,
            command: Vec::new(),
            resources: job.request,
            duration_ms: Some(job.run_ms),
            walltime_s: job.walltime_s,
            priority: 0,
            priority_class: job.class.clone(),
            labels: BTreeMap::new(),
            ..Default::default()
        })),
    )
    .with_tenant(job.tenant.clone())
}

struct Sim {
    state: CellState,
    scheduler: Scheduler,
    seq: u64,
    /// Natural ends: (time, order) to (job, node).
    finishes: BTreeMap<(u64, u64), (String, String)>,
    finish_order: u64,
    /// Each job's run time and limit.
    run_ms: BTreeMap<String, (u64, Option<u64>)>,
    outcome_rounds: (u64, u64),
    first_reservation_ms: BTreeMap<String, u64>,
    track_reservations: bool,
    /// The fair-share service decides too.
    fair_share: bool,
    /// The preemption service decides too.
    preemption: bool,
    /// Each running job's key in `finishes`, so that a preempted one's
    /// natural end can be taken back.
    finish_keys: BTreeMap<String, (u64, u64)>,
    /// The run time checkpointed jobs have behind them.
    done_ms: BTreeMap<String, u64>,
    preemptions: u64,
    work_lost_core_ms: u128,
}

impl Sim {
    fn push(&mut self, event: Event, time_ms: u64) {
        self.seq += 1;
        let entry = LogEntry {
            seq: self.seq,
            time_ms,
            subject: event.subject(),
            event: Ok(event),
            signer: None,
        };
        self.state.apply(&entry);
    }

    fn setup(&mut self, machine: &Machine, options: &SimOptions, start_ms: u64) {
        for service in ["admission", "placement", "fairshare", "preemption"] {
            let claim = Body::LeaseClaimed(LeaseClaimed {
                service: service.to_string(),
                epoch: 1,
                holder: "simulator".to_string(),
            });
            self.push(
                Event::new(format!("lease-{service}"), SIM_CELL, claim),
                start_ms,
            );
        }
        // The outcome is measured over every job of the trace at the end, so
        // none may leave the fold when it ends; traces are far below the
        // longest retention (ten years, ten million ended jobs).
        let placement = PlacementPolicy {
            retention: Retention::longest(),
            ..options.policy.clone()
        };
        let policy = Body::PolicySet(PolicySet { placement });
        self.push(Event::new("policy", SIM_CELL, policy), start_ms);
        if let Some(config) = &options.tenants {
            let tenants = Body::TenantsSet(TenantsSet {
                config: config.clone(),
            });
            self.push(Event::new("tenants", SIM_CELL, tenants), start_ms);
        }
        for node in &machine.nodes {
            let id = format!("node-{}", node.node);
            self.push(
                Event::new(id, SIM_CELL, Body::NodeRegistered(node.clone())),
                start_ms,
            );
        }
    }

    /// Lets the preemption service decide, and stops each victim at once,
    /// as its agent would (a simulated job checkpoints in no time, and
    /// grace periods are not waited out). True when it decided anything.
    fn preempt(&mut self, now: u64) -> bool {
        if !self.preemption {
            return false;
        }
        let round = seal_round(
            &self.state,
            "preemption",
            1,
            PreemptionRules.drafts(&self.state),
        );
        let acted = !round.is_empty();
        let mut victims = Vec::new();
        for event in round {
            if let Body::JobPreempted(preempted) = &event.body {
                victims.push((
                    preempted.job.clone(),
                    preempted.node.clone(),
                    preempted.lost_ms,
                    preempted.mode,
                ));
            }
            self.push(event, now);
        }
        for (job, node, lost_ms, mode) in victims {
            if self.state.jobs[&job].state != rota_projections::JobState::Preempting {
                continue;
            }
            self.preemptions += 1;
            match mode {
                // What it ran is saved: it resumes where it stopped.
                PreemptionMode::Checkpoint => {
                    *self.done_ms.entry(job.clone()).or_default() += lost_ms
                }
                _ => {
                    let cores_milli = self.state.jobs[&job].spec.resources.cpu_milli;
                    self.work_lost_core_ms += u128::from(lost_ms) * u128::from(cores_milli) / 1000;
                }
            }
            if let Some(key) = self.finish_keys.remove(&job) {
                self.finishes.remove(&key);
            }
            let checkpointed = mode == PreemptionMode::Checkpoint;
            self.finish_stopped(&job, &node, checkpointed, now);
        }
        acted
    }

    /// Reports a job finished, as its node's agent would.
    fn finish(&mut self, job: &str, node: &str, outcome: Outcome, now: u64) {
        self.report_end(job, node, outcome, false, now);
    }

    /// Reports a preempted job stopped, checkpointed or not.
    fn finish_stopped(&mut self, job: &str, node: &str, checkpointed: bool, now: u64) {
        self.report_end(job, node, Outcome::Killed, checkpointed, now);
    }

    fn report_end(
        &mut self,
        job: &str,
        node: &str,
        outcome: Outcome,
        checkpointed: bool,
        now: u64,
    ) {
        let tenant = self.state.jobs[job].tenant.clone();
        let bindings = self.state.jobs[job].bindings;
        let body = Body::JobFinished(JobFinished {
            job: job.to_string(),
            node: node.to_string(),
            outcome,
            exit_code: (outcome == Outcome::Succeeded).then_some(0),
            signal: None,
            message: None,
            checkpointed,
        });
        self.push(
            Event::new(format!("end-{job}-{bindings}"), SIM_CELL, body).with_tenant(tenant),
            now,
        );
    }

    /// Lets admission and placement decide until neither has anything more
    /// to decide at this instant, applying each round as it lands.
    fn settle(&mut self, now: u64) {
        loop {
            let admitted = seal_round(
                &self.state,
                "admission",
                1,
                AdmissionRules.drafts(&self.state),
            );
            let admission_acted = !admitted.is_empty();
            if admission_acted {
                self.outcome_rounds.0 += 1;
            }
            for event in admitted {
                self.push(event, now);
            }
            if self.fair_share {
                let factors = FairShareRules.drafts(&self.state);
                for event in seal_round(&self.state, "fairshare", 1, factors) {
                    self.push(event, now);
                }
            }
            let drafts = self.scheduler.drafts(&self.state);
            let placed = seal_round(&self.state, "placement", 1, drafts);
            let full = placed.len() == ROUND_EVENTS_MAX;
            if !placed.is_empty() {
                self.outcome_rounds.1 += 1;
            }
            let mut stopped = Vec::new();
            for event in placed {
                match &event.body {
                    Body::JobBound(bound) => {
                        let (run_ms, walltime_s) = self.run_ms[&bound.job];
                        let done_ms = self.done_ms.get(&bound.job).copied().unwrap_or(0);
                        let run_ms = run_ms.saturating_sub(done_ms);
                        // A job that would overrun its limit ends when
                        // placement stops it, not on its own.
                        if walltime_s.is_none_or(|limit| run_ms <= limit * 1000) {
                            self.finish_order += 1;
                            let key = (now + run_ms, self.finish_order);
                            self.finishes
                                .insert(key, (bound.job.clone(), bound.node.clone()));
                            self.finish_keys.insert(bound.job.clone(), key);
                        }
                    }
                    Body::JobTimedOut(timed_out) => {
                        stopped.push((timed_out.job.clone(), timed_out.node.clone()))
                    }
                    _ => {}
                }
                self.push(event, now);
            }
            for (job, node) in &stopped {
                self.finish(job, node, Outcome::Killed, now);
            }
            let preempted = self.preempt(now);
            if !admission_acted && !full && stopped.is_empty() && !preempted {
                // Only a settled state promises anything: mid-instant, a job
                // that is about to be bound would not be counted as running.
                if self.track_reservations
                    && let Some(reservation) = rota_placement::head_reservation(&self.state)
                {
                    self.first_reservation_ms
                        .entry(reservation.job)
                        .or_insert(reservation.start_ms);
                }
                return;
            }
        }
    }
}
