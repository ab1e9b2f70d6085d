//! The cell's agents in the simulation: the real agent core
//! ([`rota_agent::AgentCore`]) for every node, as `rota sim-fleet` runs
//! them, with a simulated runner that runs each job for its declared
//! duration in log time. The agent folds the log as far as it is told,
//! starts, stops and abandons what its core says, and its reports go into
//! the log as the core writes them. A crash replaces it with a new agent in
//! a new run, which registers its nodes again and must account for every
//! job it finds running without having started it.

use rota_agent::{AgentCore, NodeSpec, Report, Step};
use rota_events::{Event, Outcome};
use rota_projections::LogEntry;
use std::collections::BTreeMap;

/// A job's run time when it declared none, in log time.
const DEFAULT_DURATION_MS: u64 = 1_000;

pub struct SimAgent {
    core: AgentCore,
    specs: Vec<NodeSpec>,
    /// Entries folded, from the log's start.
    pub applied: usize,
    /// Runs so far: each crash starts another.
    runs: u32,
    /// Running jobs and when they finish, in log time.
    finishes_at: BTreeMap<String, u64>,
    /// Reports the runner owes the core.
    reports: Vec<Report>,
}

impl SimAgent {
    /// The first run of an agent of `specs` in `cell`.
    pub fn new(cell: &str, specs: Vec<NodeSpec>) -> SimAgent {
        SimAgent {
            core: AgentCore::new(cell, specs.clone(), "run-0"),
            specs,
            applied: 0,
            runs: 0,
            finishes_at: BTreeMap::new(),
            reports: Vec::new(),
        }
    }

    pub fn core(&self) -> &AgentCore {
        &self.core
    }

    /// The jobs this agent's runner is running.
    pub fn running(&self) -> impl Iterator<Item = &String> {
        self.finishes_at.keys()
    }

    /// The agent's process dies with every job it ran; a new run starts
    /// with an empty fold and returns the registrations to publish.
    pub fn crash(&mut self, cell: &str) -> Vec<Event> {
        self.runs += 1;
        self.core = AgentCore::new(cell, self.specs.clone(), &format!("run-{}", self.runs));
        self.applied = 0;
        self.finishes_at.clear();
        self.reports.clear();
        self.core.registrations()
    }

    /// Folds `entries` (the log from where the agent stopped, with `behind`
    /// more after them) and carries out what its core asks, at log time
    /// `now_ms`; then reports up to `finishes_max` jobs whose time is up.
    /// Returns the events to publish.
    pub fn run(
        &mut self,
        entries: &[LogEntry],
        behind: u64,
        now_ms: u64,
        finishes_max: usize,
    ) -> Vec<Event> {
        let mut publish = Vec::new();
        let total = entries.len();
        for (i, entry) in entries.iter().enumerate() {
            let pending = (total - i - 1) as u64 + behind;
            for step in self.core.apply(entry, pending) {
                self.carry_out(step, now_ms, &mut publish);
            }
        }
        self.applied += total;
        let due: Vec<String> = self
            .finishes_at
            .iter()
            .filter(|(_, at)| **at <= now_ms)
            .map(|(job, _)| job.clone())
            .take(finishes_max)
            .collect();
        for job in due {
            self.finishes_at.remove(&job);
            self.reports.push(Report::Finished {
                job,
                outcome: Outcome::Succeeded,
                exit_code: Some(0),
                signal: None,
                message: None,
                checkpointed: false,
            });
        }
        for report in std::mem::take(&mut self.reports) {
            publish.extend(self.core.on_report(report));
        }
        publish
    }

    /// Stops a running job, reporting it killed.
    fn stop(&mut self, job: String, checkpointed: bool) {
        if self.finishes_at.remove(&job).is_some() {
            self.reports.push(Report::Finished {
                job,
                outcome: Outcome::Killed,
                exit_code: None,
                signal: None,
                message: Some("stopped".to_string()),
                checkpointed,
            });
        }
    }

    fn carry_out(&mut self, step: Step, now_ms: u64, publish: &mut Vec<Event>) {
        match step {
            Step::Start(job) => {
                let duration = job.duration_ms.unwrap_or(DEFAULT_DURATION_MS);
                self.finishes_at.insert(job.job.clone(), now_ms + duration);
                self.reports.push(Report::Started {
                    job: job.job,
                    pid: None,
                });
            }
            Step::Kill { job } => self.stop(job, false),
            // A simulated job checkpoints at once.
            Step::Checkpoint { job, .. } => self.stop(job, true),
            Step::Abandon { job, .. } => {
                self.finishes_at.remove(&job);
            }
            Step::Publish(event) => publish.push(*event),
        }
    }
}
