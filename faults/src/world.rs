//! A simulated cell: the in-memory log, a reference fold of it, each
//! service's leader (a core, how far it has folded, its epoch), paused
//! leaders that may wake, snapshots, the agents (the real agent core, see
//! [`crate::sim_agent`]) and the clock (the real clock core, see
//! [`crate::sim_clock`]).

use crate::action::{Action, SERVICES};
use crate::memory_log::MemoryLog;
use crate::sim_agent::SimAgent;
use crate::sim_clock::SimClock;
use rota_agent::NodeSpec;
use rota_events::{
    Body, ClassPreemption, Event, JobSubmitted, LeaseClaimed, PlacementPolicy, PolicySet,
    Resources, decode_state, encode_state,
};
use rota_preemption::invariants::{check_preemption_counts, check_round};
use rota_projections::{CellState, Counters, ServiceCore};
use std::collections::BTreeMap;

/// The cell the simulation runs.
pub const CELL: &str = "sim";

/// How each service's core is made: the standard one, or (in tests of the
/// simulator itself) one with a bug put in.
pub type CoreFactory = dyn Fn(&str) -> Box<dyn ServiceCore>;

/// Every node's capacity; job sizes are chosen to fit it.
const NODE_CPU_MILLI: u64 = 8_000;
const NODE_MEMORY_BYTES: u64 = 16 << 30;

/// A job's declared run time: the agent's runner finishes it once this much
/// log time has passed since it started.
const JOB_DURATION_MS: u64 = 3_000;

struct Replica {
    core: Box<dyn ServiceCore>,
    /// Entries folded, from the log's start.
    applied: usize,
    epoch: u64,
}

pub struct World<'f> {
    make_core: &'f CoreFactory,
    pub log: MemoryLog,
    /// The fold of the whole log, entry by entry, as every reader folds it.
    pub reference: CellState,
    leaders: Vec<Replica>,
    /// Leaders that were paused past their lease, by service.
    stale: Vec<(usize, Replica)>,
    /// The last snapshot of each service: entries folded, encoded state.
    snapshots: BTreeMap<usize, (usize, Vec<u8>)>,
    nodes: usize,
    jobs_submitted: u64,
    /// The last round published, for retries.
    last_round: Vec<Event>,
    /// The agents, each of [`AGENTS`]'s share of the nodes.
    agents: Vec<SimAgent>,
    clock: SimClock,
}

/// How many agents share the nodes: more than one, so that a report for a
/// node of another agent's is a bug the fold would refuse.
pub const AGENTS: usize = 2;

impl<'f> World<'f> {
    /// A cell with `nodes` registered nodes and a leader per service.
    pub fn new(nodes: usize, make_core: &'f CoreFactory) -> World<'f> {
        let mut world = World {
            make_core,
            log: MemoryLog::default(),
            reference: CellState::new(CELL),
            leaders: Vec::new(),
            stale: Vec::new(),
            snapshots: BTreeMap::new(),
            nodes,
            jobs_submitted: 0,
            last_round: Vec::new(),
            agents: (0..AGENTS)
                .map(|agent| {
                    let specs = (agent..nodes).step_by(AGENTS).map(node_spec).collect();
                    SimAgent::new(CELL, specs)
                })
                .collect(),
            clock: SimClock::new(CELL),
        };
        let registrations: Vec<Event> = world
            .agents
            .iter()
            .flat_map(|agent| agent.core().registrations())
            .collect();
        for registration in registrations {
            world.publish(&[registration]);
        }
        world.publish(&[preemption_policy()]);
        for (service, name) in SERVICES.iter().enumerate() {
            world.leaders.push(Replica {
                core: make_core(name),
                applied: 0,
                epoch: 0,
            });
            world.claim(service);
        }
        world
    }

    /// Appends events as one batch and folds them into the reference.
    fn publish(&mut self, events: &[Event]) -> bool {
        let from = self.log.entries.len();
        let stored = self.log.append(events);
        for entry in &self.log.entries[from..] {
            self.reference.apply(entry);
        }
        stored
    }

    /// The service's leader claims the next epoch.
    fn claim(&mut self, service: usize) {
        let epoch = self.reference.lease_epoch(SERVICES[service]) + 1;
        let claim = Event::new(
            format!("claim-{}-{epoch}", SERVICES[service]),
            CELL,
            Body::LeaseClaimed(LeaseClaimed {
                service: SERVICES[service].to_string(),
                epoch,
                holder: format!("sim-{epoch}"),
            }),
        );
        self.publish(&[claim]);
        self.leaders[service].epoch = epoch;
    }

    /// Performs one action; an invariant it breaks is the error.
    pub fn act(&mut self, action: Action) -> Result<(), String> {
        match action {
            Action::Submit { count, size } => self.submit(count, size),
            Action::CatchUp { service, entries } => self.catch_up(service, usize::from(entries)),
            Action::Decide { service } => return self.decide(service),
            Action::Report { count, reads } => {
                let reads = reads.map_or(usize::MAX, usize::from);
                return self.run_agents(usize::from(count), reads);
            }
            Action::Crash {
                service,
                from_snapshot,
                keep_stale,
            } => self.crash(service, from_snapshot, keep_stale),
            Action::WakeStale => return self.wake_stale(),
            Action::Duplicate => {
                let round = std::mem::take(&mut self.last_round);
                if self.publish(&round) {
                    return Err(format!(
                        "a round published again was stored again ({} events)",
                        round.len()
                    ));
                }
                self.last_round = round;
            }
            Action::CutNode { node } => self.clock.cut(node_name(usize::from(node) % self.nodes)),
            Action::HealNode { node } => {
                self.clock.heal(&node_name(usize::from(node) % self.nodes))
            }
            Action::PauseClock { ms } => {
                self.log.now_ms += u64::from(ms);
                let said = self
                    .clock
                    .pause(&self.reference, self.log.head(), self.log.now_ms)?;
                self.publish_from_clock(said);
            }
            Action::CrashAgent { agent } => {
                let agent = usize::from(agent) % AGENTS;
                for registration in self.agents[agent].crash(CELL) {
                    self.publish(&[registration]);
                }
            }
            Action::Snapshot { service } => {
                let leader = &self.leaders[service];
                self.snapshots
                    .insert(service, (leader.applied, encode_state(leader.core.state())));
            }
            Action::Advance { ms } => {
                self.log.now_ms += u64::from(ms);
                self.run_clock()?;
            }
        }
        Ok(())
    }

    fn submit(&mut self, count: u8, size: u8) {
        for _ in 0..count {
            self.jobs_submitted += 1;
            let job = format!("job-{}", self.jobs_submitted);
            let class = job_class(self.jobs_submitted);
            // Urgent jobs take the largest size, more than half a node's
            // memory, so that they often fit nowhere and preempt.
            let size = match class {
                URGENT => URGENT_SIZE,
                _ => u64::from(size),
            };
            let resources = Resources {
                cpu_milli: 500 * (1 + size),
                // Memory runs out before cpu, so that a placement that
                // forgot memory would over-commit it.
                memory_bytes: (2 << 30) * (1 + size),
                ..Resources::default()
            };
            let event = Event::new(
                format!("submit-{job}"),
                CELL,
                Body::JobSubmitted(std::sync::Arc::new(JobSubmitted {
                    job: job.clone(),
                    resources,
                    // Batch jobs run long enough to keep the nodes full.
                    duration_ms: Some(match class {
                        URGENT => JOB_DURATION_MS,
                        _ => BATCH_DURATION_MS,
                    }),
                    priority_class: Some(class.to_string()),
                    ..JobSubmitted::default()
                })),
            )
            .with_tenant(["acme", "globex"][self.jobs_submitted as usize % 2]);
            self.publish(&[event]);
        }
    }

    fn catch_up(&mut self, service: usize, entries: usize) {
        let leader = &mut self.leaders[service];
        let to = (leader.applied + entries).min(self.log.entries.len());
        for entry in &self.log.entries[leader.applied..to] {
            leader.core.apply(entry);
        }
        leader.applied = to;
    }

    /// A leader at the head decides; its round must take effect whole: a
    /// decision made on the whole log and landing at once has no reason to
    /// be void.
    fn decide(&mut self, service: usize) -> Result<(), String> {
        let leader = &self.leaders[service];
        if leader.applied != self.log.entries.len() {
            return Ok(());
        }
        let round = leader.core.decide(leader.epoch);
        if round.is_empty() {
            return Ok(());
        }
        if SERVICES[service] == rota_preemption::SERVICE {
            check_round(&self.reference, &round).map_err(|broken| {
                format!("a preemption round at the head broke a rule: {broken}")
            })?;
        }
        let before = self.reference.counters.clone();
        self.publish(&round);
        if let Some(what) = voided(&before, &self.reference.counters) {
            return Err(format!(
                "{}'s round of {} decisions at the head had {what}",
                SERVICES[service],
                round.len()
            ));
        }
        self.last_round = round;
        Ok(())
    }

    /// Each agent folds the log to its head and carries out what its core
    /// says, finishing at most `finishes_max` jobs and reading at most
    /// `reads_max` entries first. An agent that had read the whole log and
    /// reports a job it does not hold is refused by the fold, and one that
    /// reports a job twice is caught by the log's deduplication; both are
    /// bugs of the agent.
    fn run_agents(&mut self, finishes_max: usize, reads_max: usize) -> Result<(), String> {
        for agent in 0..AGENTS {
            self.run_agent(agent, finishes_max, reads_max)?;
        }
        Ok(())
    }

    fn run_agent(
        &mut self,
        agent: usize,
        finishes_max: usize,
        reads_max: usize,
    ) -> Result<(), String> {
        let from = self.agents[agent].applied;
        let to = from.saturating_add(reads_max).min(self.log.entries.len());
        let behind = (self.log.entries.len() - to) as u64;
        let at_head = behind == 0;
        let events = self.agents[agent].run(
            &self.log.entries[from..to],
            behind,
            self.log.now_ms,
            finishes_max,
        );
        for event in events {
            let seq = self.log.head() + 1;
            if !self.publish(std::slice::from_ref(&event)) {
                // Nothing the simulation does loses an agent's
                // acknowledgement, so a report the log already holds was
                // made twice: a job reported lost after it ended, or one
                // started again.
                return Err(format!(
                    "agent {agent} wrote its {} for {} again (id {})",
                    event.body.type_name(),
                    event.body.job().or(event.body.node()).unwrap_or_default(),
                    event.id
                ));
            }
            // An agent behind the log may report a job the log has since
            // taken from it (its node lost, say): the fold refusing that
            // is the design. One that had read the whole log must not.
            if at_head && let Some(refused) = self.reference.backlog.rejections.get(&seq) {
                return Err(format!(
                    "the agent's {} for {} was refused: {}",
                    event.body.type_name(),
                    event.body.job().or(event.body.node()).unwrap_or_default(),
                    refused.detail
                ));
            }
        }
        Ok(())
    }

    fn crash(&mut self, service: usize, from_snapshot: bool, keep_stale: bool) {
        let mut successor = Replica {
            core: (self.make_core)(SERVICES[service]),
            applied: 0,
            epoch: 0,
        };
        if from_snapshot && let Some((applied, bytes)) = self.snapshots.get(&service) {
            let state: CellState = decode_state(bytes).expect("a snapshot decodes");
            *successor.core.state_mut() = state;
            successor.applied = *applied;
        }
        let crashed = std::mem::replace(&mut self.leaders[service], successor);
        if keep_stale {
            self.stale.push((service, crashed));
        }
        self.claim(service);
    }

    /// A paused leader wakes and publishes a round under its old epoch: the
    /// fold must fence every decision of it.
    fn wake_stale(&mut self) -> Result<(), String> {
        let Some((service, stale)) = self.stale.pop() else {
            return Ok(());
        };
        let round = stale.core.decide(stale.epoch);
        if round.is_empty() {
            return Ok(());
        }
        let before = self.reference.counters.fenced_decisions;
        let stored = self.publish(&round);
        let fenced = self.reference.counters.fenced_decisions - before;
        if stored && fenced != round.len() as u64 {
            return Err(format!(
                "a stale {} leader (epoch {}) published {} decisions and only {fenced} were fenced",
                SERVICES[service],
                stale.epoch,
                round.len()
            ));
        }
        Ok(())
    }

    /// The clock runs to the log's time and what it says is logged.
    fn run_clock(&mut self) -> Result<(), String> {
        let said = self
            .clock
            .run(&self.reference, self.log.head(), self.log.now_ms)?;
        self.publish_from_clock(said);
        Ok(())
    }

    fn publish_from_clock(&mut self, said: Vec<Event>) {
        for event in said {
            let logged = self.publish(std::slice::from_ref(&event));
            self.clock.published(&event, &self.reference, logged);
        }
    }

    /// The invariants that hold after every step: no node holds more than
    /// it has, no job runs on two agents at once, and every leader and
    /// agent at the head holds exactly the reference fold.
    pub fn check(&self) -> Result<(), String> {
        check_preemption_counts(&self.reference)?;
        for (name, node) in &self.reference.nodes {
            if node.allocated.cpu_milli > node.capacity.cpu_milli
                || node.allocated.memory_bytes > node.capacity.memory_bytes
            {
                return Err(format!(
                    "node {name} is over-committed: {:?} allocated of {:?}",
                    node.allocated, node.capacity
                ));
            }
        }
        let mut runs: BTreeMap<&String, usize> = BTreeMap::new();
        for (index, agent) in self.agents.iter().enumerate() {
            for job in agent.running() {
                if let Some(other) = runs.insert(job, index) {
                    return Err(format!(
                        "job {job} runs on agents {other} and {index} at once"
                    ));
                }
            }
        }
        let reference = encode_state(&self.reference);
        let reference_ledger = encode_state(&self.reference.ledger);
        for (index, agent) in self.agents.iter().enumerate() {
            if agent.applied == self.log.entries.len()
                && encode_state(agent.core().state()) != reference_ledger
            {
                return Err(format!(
                    "agent {index}'s state at the head differs from the fold of the log"
                ));
            }
        }
        for (service, leader) in self.leaders.iter().enumerate() {
            if leader.applied == self.log.entries.len()
                && encode_state(leader.core.state()) != reference
            {
                return Err(format!(
                    "{}'s state at the head differs from the fold of the log",
                    SERVICES[service]
                ));
            }
        }
        Ok(())
    }

    /// Lets the cell run until nothing is left to do (the agent registers
    /// every lost node again when it sees the loss), then checks that every submission was decided and every
    /// admitted job ran to its end.
    pub fn settle(&mut self) -> Result<(), String> {
        self.clock.heal_all();
        for _ in 0..SETTLE_PASSES_MAX {
            let head = self.log.head();
            for service in 0..SERVICES.len() {
                self.catch_up(service, usize::MAX / 2);
                self.decide(service)?;
            }
            self.log.now_ms += JOB_DURATION_MS;
            self.run_clock()?;
            self.run_agents(usize::MAX, usize::MAX)?;
            self.check()?;
            if self.log.head() == head {
                break;
            }
        }
        let tally = &self.reference.tally;
        if tally.submitted != self.jobs_submitted {
            return Err(format!(
                "{} submissions were stored of {}",
                tally.submitted, self.jobs_submitted
            ));
        }
        if tally.ended() != tally.submitted {
            return Err(format!(
                "{} of {} jobs never ended: {:?}",
                tally.submitted - tally.ended(),
                tally.submitted,
                self.reference
                    .jobs
                    .values()
                    .filter(|job| !job.state.is_terminal())
                    .map(|job| job.state.as_str())
                    .collect::<Vec<_>>()
            ));
        }
        Ok(())
    }

    /// The log so far, one line per entry, for a failure's report.
    pub fn story(&self) -> Vec<String> {
        self.log
            .entries
            .iter()
            .map(|entry| match &entry.event {
                Ok(event) => format!(
                    "#{} {} {}{}",
                    entry.seq,
                    event.body.type_name(),
                    match &event.body {
                        Body::LeaseClaimed(claim) =>
                            format!("{} epoch {}", claim.service, claim.epoch),
                        body => body.job().or(body.node()).unwrap_or_default().to_string(),
                    },
                    event
                        .round
                        .as_ref()
                        .map(|r| format!(" [{} epoch {} basis {}]", r.service, r.epoch, r.basis))
                        .unwrap_or_default()
                ),
                Err(error) => format!("#{} unreadable: {error}", entry.seq),
            })
            .collect()
    }
}

/// Most passes of the settling loop.
const SETTLE_PASSES_MAX: usize = 200;

/// Which void counter a round moved, if any.
fn voided(before: &Counters, after: &Counters) -> Option<&'static str> {
    if after.void_bindings > before.void_bindings {
        return Some("void bindings");
    }
    if after.void_admissions > before.void_admissions {
        return Some("void admissions");
    }
    if after.void_timeouts > before.void_timeouts {
        return Some("void timeouts");
    }
    if after.void_preemptions > before.void_preemptions {
        return Some("void preemptions");
    }
    (after.fenced_decisions > before.fenced_decisions).then_some("fenced decisions")
}

/// Every fourth job is of the class that preempts; the others may be
/// preempted, at most [`PREEMPTIONS_PER_JOB`] times each.
fn job_class(number: u64) -> &'static str {
    match number % 4 {
        0 => URGENT,
        _ => "batch",
    }
}

/// The class that preempts.
const URGENT: &str = "urgent";

/// How long a batch job runs, in log milliseconds.
const BATCH_DURATION_MS: u64 = 20_000;

/// The size class of urgent jobs: 2.5 cores and 10 GiB of a node's 8 and
/// 16.
const URGENT_SIZE: u64 = 4;

/// How often the simulation lets one job be preempted.
const PREEMPTIONS_PER_JOB: u32 = 2;

/// The policy the simulated cell runs: `urgent` preempts `batch`, which is
/// requeued, protected for its first second and for a second after each
/// preemption.
fn preemption_policy() -> Event {
    let mut placement = PlacementPolicy {
        priority_classes: BTreeMap::from([("urgent".to_string(), 900), ("batch".to_string(), 100)]),
        ..PlacementPolicy::default()
    };
    let urgent = ClassPreemption::preempting();
    let batch = ClassPreemption {
        min_run_s: 1,
        max_preemptions: PREEMPTIONS_PER_JOB,
        ..ClassPreemption::default()
    };
    placement.preemption.classes =
        BTreeMap::from([("urgent".to_string(), urgent), ("batch".to_string(), batch)]);
    placement.preemption.min_interval_s = 1;
    placement.preemption.nomination_s = 10;
    Event::new("policy", CELL, Body::PolicySet(PolicySet { placement }))
}

fn node_name(index: usize) -> String {
    format!("sim-node-{index:03}")
}

fn node_spec(index: usize) -> NodeSpec {
    NodeSpec {
        name: node_name(index),
        capacity: Resources {
            cpu_milli: NODE_CPU_MILLI,
            memory_bytes: NODE_MEMORY_BYTES,
            ..Resources::default()
        },
        ..NodeSpec::default()
    }
}
