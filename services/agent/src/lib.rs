//! The node agent's decisions, without IO: which jobs to start on this
//! agent's nodes, which to stop, what to report, and when to register a
//! node again. The shell (`rota agent`, `rota sim-fleet`) feeds it the log's
//! entries and its runner's reports, and carries out the [`Step`]s it
//! returns; the fault simulator drives the same core with a simulated
//! runner.
//!
//! Every report carries a deterministic id (the job, its binding count and
//! the kind of report), so an agent that reports again after a crash or a
//! lost acknowledgement never reports twice.

mod node_spec;

pub use node_spec::{CheckpointRequest, JobToRun, NodeSpec, Report};

use rota_events::{
    Body, Event, JobFinished, JobStarted, NodeRegistered, Outcome, PreemptionMode, derived_event_id,
};
use rota_projections::{JobState, Ledger, LogEntry, Node, NodeState};
use std::collections::{BTreeMap, BTreeSet};

/// How many times one run of an agent registers a node again over another
/// writer's registration of it.
pub const REASSERTIONS_MAX: u32 = 16;

/// What the agent asks its runner to do, or to publish.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Start a job bound to one of this agent's nodes.
    Start(JobToRun),
    /// Stop a job that was cancelled, ran out its time or was preempted;
    /// the runner reports how it ended.
    Kill { job: String },
    /// Ask a preempted job to checkpoint, give it its grace period, then
    /// stop it; the runner reports how it ended and whether it
    /// checkpointed.
    Checkpoint {
        job: String,
        request: CheckpointRequest,
    },
    /// Stop, without reporting, a job on a node the log declared lost: the
    /// fold has already put it back in the queue.
    Abandon { job: String, node: String },
    /// Publish a report or a registration (boxed: an event is large beside
    /// the other steps).
    Publish(Box<Event>),
}

impl Step {
    fn publish(event: Event) -> Step {
        Step::Publish(Box::new(event))
    }
}

/// How many reports an agent has made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentCounts {
    pub started: u64,
    pub finished: u64,
}

/// What an agent knows and has launched.
pub struct AgentCore {
    state: Ledger,
    nodes: Vec<NodeSpec>,
    mine: BTreeSet<String>,
    /// Distinguishes this run's registrations from an earlier run's.
    boot: String,
    /// Jobs this agent started, with the binding count they were started at.
    launched: BTreeMap<String, u32>,
    /// Jobs whose end this agent reported and has not yet read back from
    /// the log, with their binding count: until it does, the log still
    /// shows them running, and they are not to be reported lost.
    ended_unread: BTreeMap<String, u32>,
    /// How often this run registered each node again over another writer's
    /// registration.
    reasserted: BTreeMap<String, u32>,
    caught_up: bool,
    pub counts: AgentCounts,
}

impl AgentCore {
    /// An agent of `nodes` in `cell`, in its run `boot` (unique per run).
    pub fn new(cell: &str, nodes: Vec<NodeSpec>, boot: &str) -> AgentCore {
        AgentCore {
            state: Ledger::new(cell),
            mine: nodes.iter().map(|n| n.name.clone()).collect(),
            nodes,
            boot: boot.to_string(),
            launched: BTreeMap::new(),
            ended_unread: BTreeMap::new(),
            reasserted: BTreeMap::new(),
            caught_up: false,
            counts: AgentCounts::default(),
        }
    }

    /// The registrations of this agent's nodes, published at its start.
    pub fn registrations(&self) -> Vec<Event> {
        self.nodes
            .iter()
            .map(|node| registration(&self.state.cell, node, &self.boot))
            .collect()
    }

    pub fn state(&self) -> &Ledger {
        &self.state
    }

    /// The names of this agent's nodes.
    pub fn mine(&self) -> &BTreeSet<String> {
        &self.mine
    }

    /// Folds one entry (`pending` more behind it in the reader) and says
    /// what to do about what it changed on this agent's nodes. Nothing is
    /// done until the agent has first reached the head of the log; then it
    /// looks at everything on its nodes once, and after that at the job
    /// each entry is about.
    pub fn apply(&mut self, entry: &LogEntry, pending: u64) -> Vec<Step> {
        self.state.apply(entry);
        let was_caught_up = self.caught_up;
        self.caught_up = self.caught_up || pending == 0;
        let at_first_head = !was_caught_up && self.caught_up;
        let touched: Vec<String> = if at_first_head {
            self.mine
                .iter()
                .filter_map(|n| self.state.nodes.get(n))
                .flat_map(|n| n.jobs.iter().cloned())
                .chain(self.launched.keys().cloned())
                .collect()
        } else if self.caught_up {
            entry
                .event
                .as_ref()
                .ok()
                .and_then(|e| e.body.job())
                .map(str::to_string)
                .into_iter()
                .collect()
        } else {
            Vec::new()
        };
        let (lost_now, registered_now) = match &entry.event {
            Ok(Event {
                body: Body::NodeLost(lost),
                ..
            }) => (Some(lost.node.as_str()), None),
            Ok(Event {
                body: Body::NodeRegistered(registered),
                ..
            }) => (None, Some(registered.node.as_str())),
            _ => (None, None),
        };
        // A node of ours the log declared lost is registered again, since
        // this agent is alive to run it. Losses read while catching up are
        // taken at the head, all at once: a node lost then must not stay
        // lost for good.
        let lost: Vec<NodeSpec> = self
            .looked_at(at_first_head, lost_now)
            .filter(|spec| {
                self.state
                    .nodes
                    .get(&spec.name)
                    .is_some_and(|node| node.state == NodeState::Lost)
            })
            .cloned()
            .collect();
        let rewritten = self.rewritten(at_first_head, registered_now);
        let mut steps = Vec::new();
        for spec in &rewritten {
            steps.push(self.register_again(spec, entry.seq));
        }
        for spec in &lost {
            steps.extend(self.abandon_node(&spec.name));
            steps.push(self.register_again(spec, entry.seq));
        }
        for job in touched {
            steps.extend(self.reconcile(&job));
        }
        steps
    }

    /// The nodes of this agent an entry calls to be looked at: all of them
    /// when the agent first reaches the head, after that the one the entry
    /// is about, if any.
    fn looked_at<'a>(
        &'a self,
        at_first_head: bool,
        about: Option<&'a str>,
    ) -> impl Iterator<Item = &'a NodeSpec> + 'a {
        let about = about.filter(|_| self.caught_up);
        self.nodes
            .iter()
            .filter(move |spec| at_first_head || about == Some(spec.name.as_str()))
    }

    /// This agent's nodes whose registration in the log is no longer the
    /// one it serves (another writer registered them otherwise), to be
    /// registered again. A node is asserted again at most
    /// [`REASSERTIONS_MAX`] times a run, so that two agents misconfigured to
    /// serve one node do not write registrations forever.
    fn rewritten(&mut self, at_first_head: bool, about: Option<&str>) -> Vec<NodeSpec> {
        let rewritten: Vec<NodeSpec> =
            self.looked_at(at_first_head, about)
                .filter(|spec| {
                    self.state.nodes.get(&spec.name).is_some_and(|node| {
                        node.state != NodeState::Lost && !registered_as(node, spec)
                    })
                })
                .cloned()
                .collect();
        rewritten
            .into_iter()
            .filter(|spec| {
                let times = self.reasserted.entry(spec.name.clone()).or_default();
                *times += 1;
                *times <= REASSERTIONS_MAX
            })
            .collect()
    }

    /// A registration of `spec` anew, in reply to the log's entry `seq`.
    fn register_again(&self, spec: &NodeSpec, seq: u64) -> Step {
        let boot = format!("{}-{seq}", self.boot);
        Step::publish(registration(&self.state.cell, spec, &boot))
    }

    /// The event for a runner's report, if the job is still one this agent
    /// launched (reports for abandoned jobs are dropped, on purpose).
    pub fn on_report(&mut self, report: Report) -> Option<Event> {
        let event = self.report_event(report)?;
        match &event.body {
            Body::JobStarted(_) => self.counts.started += 1,
            _ => self.counts.finished += 1,
        }
        Some(event)
    }

    /// Brings one job in line with the log: start what is bound here and
    /// not running, stop what is cancelled, and report jobs this agent
    /// cannot account for.
    fn reconcile(&mut self, job_id: &str) -> Option<Step> {
        let Some(job) = self.state.jobs.get(job_id) else {
            self.ended_unread.remove(job_id);
            return None;
        };
        // Once the log shows the job ended, or bound anew, the end this
        // agent reported has been read back and need not be held.
        let ended_here =
            self.ended_unread.get(job_id) == Some(&job.bindings) && !job.state.is_terminal();
        if !ended_here {
            self.ended_unread.remove(job_id);
        }
        let node = job.node.as_deref().filter(|n| self.mine.contains(*n))?;
        let is_launched = self.launched.get(job_id) == Some(&job.bindings);
        let ended = |outcome, message: &str| Report::Finished {
            job: job_id.to_string(),
            outcome,
            exit_code: None,
            signal: None,
            message: Some(message.to_string()),
            checkpointed: false,
        };
        match (job.state, is_launched) {
            // The end this agent reported is still on its way to the log:
            // the job is neither to run again nor to be reported lost.
            (_, false) if ended_here => None,
            (JobState::Bound, false) => {
                self.launched.insert(job_id.to_string(), job.bindings);
                Some(Step::Start(JobToRun {
                    job: job_id.to_string(),
                    node: node.to_string(),
                    command: job.spec.command.clone(),
                    duration_ms: job.spec.duration_ms,
                    resume: job.checkpointed
                        && job.spec.checkpoint.as_ref().is_some_and(|c| c.resumable),
                }))
            }
            (JobState::Running, false) => {
                self.launched.insert(job_id.to_string(), job.bindings);
                let lost = ended(Outcome::Lost, "the agent restarted while the job ran");
                self.report_event(lost).map(Step::publish)
            }
            (JobState::Cancelling, true) => Some(Step::Kill {
                job: job_id.to_string(),
            }),
            (JobState::Cancelling, false) => {
                self.launched.insert(job_id.to_string(), job.bindings);
                let killed = ended(Outcome::Killed, "cancelled before this agent ran it");
                self.report_event(killed).map(Step::publish)
            }
            (JobState::Preempting, true) => Some(stop_preempted(job_id, job)),
            (JobState::Preempting, false) => {
                self.launched.insert(job_id.to_string(), job.bindings);
                let killed = ended(Outcome::Killed, "preempted before this agent ran it");
                self.report_event(killed).map(Step::publish)
            }
            _ => None,
        }
    }

    /// The event reporting `report`, if the job is one this agent launched
    /// at its current binding.
    fn report_event(&mut self, report: Report) -> Option<Event> {
        let job_id = match &report {
            Report::Started { job, .. } | Report::Finished { job, .. } => job.clone(),
        };
        let bindings = *self.launched.get(&job_id)?;
        let state = &self.state;
        let job = state.jobs.get(&job_id)?;
        let node = job.node.clone()?;
        let cell = &state.cell;
        let (kind, body) = match report {
            Report::Started { job, pid } => {
                ("started", Body::JobStarted(JobStarted { job, node, pid }))
            }
            Report::Finished {
                job,
                outcome,
                exit_code,
                signal,
                message,
                checkpointed,
            } => {
                self.launched.remove(&job_id);
                self.ended_unread.insert(job_id.clone(), bindings);
                (
                    "finished",
                    Body::JobFinished(JobFinished {
                        job,
                        node,
                        outcome,
                        exit_code,
                        signal,
                        message,
                        checkpointed,
                    }),
                )
            }
        };
        let id = derived_event_id(&format!("{kind}/{cell}/{job_id}/{bindings}"));
        let mut event = Event::new(id.clone(), cell.clone(), body).with_tenant(job.tenant.clone());
        event.correlation_id = Some(job_id.clone());
        event.traceparent = Some(rota_events::traceparent_for(
            job.traceparent.as_deref(),
            &job_id,
            &id,
        ));
        Some(event)
    }

    /// Every job this agent runs on `node`, which the log declared lost.
    fn abandon_node(&mut self, node: &str) -> Vec<Step> {
        let state = &self.state;
        let abandoned: Vec<String> = self
            .launched
            .keys()
            .filter(|job| {
                state
                    .jobs
                    .get(*job)
                    .is_some_and(|j| j.node.is_none() || j.node.as_deref() == Some(node))
            })
            .cloned()
            .collect();
        abandoned
            .into_iter()
            .map(|job| {
                self.launched.remove(&job);
                Step::Abandon {
                    job,
                    node: node.to_string(),
                }
            })
            .collect()
    }
}

/// How to stop a preempted job: at once, unless its preemption asks it to
/// checkpoint first.
fn stop_preempted(job_id: &str, job: &rota_projections::Job) -> Step {
    let kill = Step::Kill {
        job: job_id.to_string(),
    };
    let Some(preemption) = job
        .preempted
        .as_ref()
        .filter(|p| p.mode == PreemptionMode::Checkpoint)
    else {
        return kill;
    };
    let declared = job.spec.checkpoint.clone().unwrap_or_default();
    Step::Checkpoint {
        job: job_id.to_string(),
        request: CheckpointRequest {
            signal: declared.signal,
            command: declared.command,
            grace_ms: preemption.grace_s.saturating_mul(1000),
        },
    }
}

/// Whether the fold's `node` is registered as `spec` says.
fn registered_as(node: &Node, spec: &NodeSpec) -> bool {
    node.capacity == spec.capacity
        && node.labels == spec.labels
        && node.taints == spec.taints
        && node.topology == spec.topology
        && node.cost == spec.cost
        && node.gpu_model == spec.gpu_model
        && node.extended_capacity.is_empty()
}

/// A node's registration in run `boot`.
pub fn registration(cell: &str, node: &NodeSpec, boot: &str) -> Event {
    Event::new(
        derived_event_id(&format!("registered/{cell}/{}/{boot}", node.name)),
        cell,
        Body::NodeRegistered(NodeRegistered {
            node: node.name.clone(),
            capacity: node.capacity,
            labels: node.labels.clone(),
            taints: node.taints.clone(),
            topology: node.topology.clone(),
            cost: node.cost,
            gpu_model: node.gpu_model.clone(),
            extended: BTreeMap::new(),
        }),
    )
}
