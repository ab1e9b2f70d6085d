//! The ledger: the cell's jobs, nodes and leases, folded from its log. It
//! is what every reader of a cell must agree on (an agent about what runs
//! on its nodes, the clock about which nodes exist, every service about
//! everything), so it holds exactly what decides whether an event takes
//! effect, and nothing only one service needs. A job's life is the table in
//! `transitions.rs`; what the ledger changes it tells the projections
//! beside it (`crate::projection`).

mod binding;
pub mod transitions;

use crate::backlog::CancelRequest;
use crate::entry::LogEntry;
use crate::job::{Job, JobState, Preemption};
use crate::labels::LabelIndex;
use crate::node::{GPU_MILLI_PER_DEVICE, Node, NodeState, gpu_share_milli};
use crate::projection::{Projection, Refused};
use crate::repellers::RepellerIndex;
use crate::retention::EndedJobs;
use crate::roster::Roster;
use crate::tally::JobTally;
use rota_events::{
    Body, Event, JobBound, JobFinished, JobPreempted, JobStarted, JobSubmitted, JobTimedOut,
    LeaseClaimed, NodeRegistered, Outcome, ParsedSubject, PlacementPolicy, PreemptionMode, Writer,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use transitions::{JobInput, Move, Refusal};

/// The holder of a service's lease, as the log last said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub epoch: u64,
    pub holder: String,
    /// The stream sequence of the claim: the expected last subject sequence
    /// for the next claim.
    pub seq: u64,
}

/// Things the fold resolved without a state change, counted so that they are
/// visible rather than silent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Decisions from an instance whose lease epoch was no longer current.
    pub fenced_decisions: u64,
    /// Bindings that were invalid by the time they landed (node not ready,
    /// job no longer pending, not enough free capacity).
    pub void_bindings: u64,
    /// Admission decisions about jobs no longer awaiting one.
    pub void_admissions: u64,
    /// Jobs put back in the queue because their node was lost.
    pub requeued_jobs: u64,
    /// Timeouts about jobs no longer running where the decision said.
    pub void_timeouts: u64,
    /// Unreadable messages on the rejection subject itself, which are never
    /// answered with another rejection.
    pub unanswered_rejections: u64,
    /// Preemptions and nominations that did not hold when they landed:
    /// the victim was not running where they said or is protected, or the
    /// preemptor was not waiting.
    pub void_preemptions: u64,
}

/// Jobs, nodes and leases, and what decides whether an event about them
/// takes effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    pub cell: String,
    /// The last stream sequence applied.
    pub applied_seq: u64,
    /// The log's time: the timestamp of the last applied event.
    pub now_ms: u64,
    pub leases: BTreeMap<String, Lease>,
    pub jobs: BTreeMap<String, Job>,
    pub nodes: BTreeMap<String, Node>,
    /// Cancellation requests awaiting admission, by stream sequence: a
    /// cancellation takes effect only as the answer to one of them.
    pub cancel_requests: BTreeMap<u64, CancelRequest>,
    pub counters: Counters,
    /// The placement policy in force (the default until a `policy.set`):
    /// its retention says how long ended jobs stay.
    pub policy: PlacementPolicy,
    /// The jobs that hold resources on a node (bound, running or stopping),
    /// by tenant.
    pub holding: BTreeMap<String, BTreeSet<String>>,
    /// The jobs on nodes with required anti-affinity to other jobs, by
    /// tenant and kind, per domain: they keep matching jobs of their tenant
    /// out of their domains.
    pub repellers: RepellerIndex,
    /// The jobs on nodes by tenant and label, counted per domain: where job
    /// selectors look.
    pub labels: LabelIndex,
    /// The ended jobs still held, in the order they leave.
    pub ended: EndedJobs,
    /// What happened to every job since the log began.
    pub tally: JobTally,
    /// Whose keys may sign which events.
    pub roster: Roster,
}

impl Ledger {
    pub fn new(cell: impl Into<String>) -> Ledger {
        Ledger {
            cell: cell.into(),
            applied_seq: 0,
            now_ms: 0,
            leases: BTreeMap::new(),
            jobs: BTreeMap::new(),
            nodes: BTreeMap::new(),
            cancel_requests: BTreeMap::new(),
            counters: Counters::default(),
            policy: PlacementPolicy::default(),
            holding: BTreeMap::new(),
            repellers: RepellerIndex::default(),
            labels: LabelIndex::default(),
            ended: EndedJobs::default(),
            tally: JobTally::default(),
            roster: Roster::default(),
        }
    }

    /// When the earliest job was submitted, in log milliseconds (0 without
    /// jobs).
    pub fn first_submitted_ms(&self) -> u64 {
        self.jobs
            .values()
            .map(|j| j.submitted_ms)
            .min()
            .unwrap_or(0)
    }

    /// The current lease epoch of `service`, 0 if never claimed.
    pub fn lease_epoch(&self, service: &str) -> u64 {
        self.leases.get(service).map_or(0, |lease| lease.epoch)
    }

    /// The runtime estimate of a job, in milliseconds: its wall-clock limit,
    /// else its declared duration, else the policy's default.
    pub fn estimate_ms(&self, job: &Job) -> u64 {
        job.spec
            .walltime_s
            .map(|s| s.saturating_mul(1000))
            .or(job.spec.duration_ms)
            .unwrap_or(self.policy.default_estimate_s.saturating_mul(1000))
    }

    /// Folds one entry with no projection beside the ledger.
    pub fn apply(&mut self, entry: &LogEntry) {
        self.apply_with(entry, &mut ());
    }

    /// Folds one entry, telling `beside` what changed. Entries must come in
    /// stream order, each once.
    pub fn apply_with(&mut self, entry: &LogEntry, beside: &mut impl Projection) {
        assert!(
            entry.seq > self.applied_seq,
            "log entry {} applied after {}: the fold needs stream order",
            entry.seq,
            self.applied_seq
        );
        self.applied_seq = entry.seq;
        // The log's time never goes back, even if the server's clock does:
        // every time the fold records is this one, so a clock stepping back
        // cannot shorten a wall-clock limit or make a wait negative.
        self.now_ms = self.now_ms.max(entry.time_ms);
        self.retire_ended_jobs();
        let mut fold = Fold {
            ledger: self,
            entry,
            beside,
        };
        match &entry.event {
            Ok(event) => fold.event(event),
            Err(error) => fold.unreadable(error.kind.as_str(), &error.detail),
        }
    }

    /// Removes the ended jobs that the retention policy no longer keeps, as
    /// of the time of the entry being applied. Nothing else refers to an
    /// ended job: it left every queue and index when it ended.
    fn retire_ended_jobs(&mut self) {
        while let Some(job) = self.ended.next_due(self.now_ms, &self.policy.retention) {
            self.jobs.remove(&job);
        }
    }

    /// The job's state if it currently holds resources on `node`.
    fn job_on_node(&self, job_id: &str, node: &str) -> Option<JobState> {
        let job = self.jobs.get(job_id)?;
        (job.state.holds_node() && job.node.as_deref() == Some(node)).then_some(job.state)
    }

    /// The jobs on nodes, by tenant then id.
    fn holding_jobs(&self) -> Vec<&Job> {
        self.holding
            .values()
            .flatten()
            .map(|id| &self.jobs[id])
            .collect()
    }
}

/// One entry being folded: the ledger, the entry, and the projections to
/// tell.
struct Fold<'a, P: Projection> {
    ledger: &'a mut Ledger,
    entry: &'a LogEntry,
    beside: &'a mut P,
}

impl<P: Projection> Fold<'_, P> {
    fn event(&mut self, event: &Event) {
        let refusal = writer_violation(event).or_else(|| {
            self.ledger
                .roster
                .refusal(&self.entry.subject, self.entry.signer.as_ref(), event)
        });
        if let Some(reason) = refusal {
            let detail = format!("{} event refused: {reason}", event.body.type_name());
            self.refuse(event.tenant.as_deref(), &detail);
            return;
        }
        if let Some(round) = &event.round
            && round.epoch != self.ledger.lease_epoch(&round.service)
        {
            self.ledger.counters.fenced_decisions += 1;
            return;
        }
        match &event.body {
            Body::JobSubmitted(spec) => self.submitted(event, spec),
            Body::JobCancelRequested(request) => {
                let seq = self.entry.seq;
                let awaiting = CancelRequest {
                    job: request.job.clone(),
                    tenant: event.tenant.clone().unwrap_or_default(),
                    reason: request.reason.clone(),
                    event_id: event.id.clone(),
                };
                self.ledger.cancel_requests.insert(seq, awaiting);
            }
            Body::JobAdmitted(admitted) => self.admission_decided(&admitted.job, None),
            Body::JobRejected(rejected) => {
                self.admission_decided(&rejected.job, Some(&rejected.reason))
            }
            Body::JobCancelled(cancelled) => self.cancelled(
                &cancelled.job,
                &cancelled.reason,
                event.causation_id.as_deref(),
            ),
            Body::InputRejected(rejected) => {
                self.ledger.cancel_requests.remove(&rejected.seq);
                self.beside.input_answered(rejected.seq);
            }
            Body::JobBound(bound) => self.bound(bound),
            Body::JobStarted(started) => self.started(event, started),
            Body::JobFinished(finished) => self.finished(event, finished),
            Body::NodeRegistered(registered) => self.registered(registered),
            Body::NodeDrained(drained) => match self.ledger.nodes.get_mut(&drained.node) {
                Some(node) if node.state == NodeState::Ready => {
                    node.state = NodeState::Draining;
                    self.beside.node_unready(node);
                    self.beside.nodes_changed(self.entry.seq);
                }
                Some(_) => {}
                None => self.refuse_unknown_node(&drained.node),
            },
            Body::NodeLost(lost) => match self.ledger.nodes.contains_key(&lost.node) {
                true => {
                    self.node_lost(&lost.node);
                    self.beside.nodes_changed(self.entry.seq);
                }
                false => self.refuse_unknown_node(&lost.node),
            },
            Body::LeaseClaimed(claim) => self.lease_claimed(claim),
            Body::ClockTick(_) => {}
            Body::TenantsSet(set) => match set.config.validate() {
                Ok(()) => {
                    let holding = self.ledger.holding_jobs();
                    self.beside
                        .tenants_set(&set.config, self.ledger.now_ms, &holding);
                }
                Err(problem) => self.refuse(None, &format!("tenants.set refused: {problem}")),
            },
            Body::FairShareUpdated(update) => self
                .beside
                .factors_published(&update.factors, self.ledger.now_ms),
            Body::PolicySet(set) => match set.placement.validate() {
                Ok(()) => self.ledger.policy = set.placement.clone(),
                Err(problem) => self.refuse(None, &format!("policy.set refused: {problem}")),
            },
            Body::JobTimedOut(timed_out) => self.timed_out(timed_out),
            Body::JobPreempted(preempted) => self.preempted(preempted),
            Body::JobNominated(nominated) => {
                let waiting = self.ledger.jobs.get(&nominated.job).is_some_and(|job| {
                    job.state == JobState::Pending
                        && self.ledger.nodes.contains_key(&nominated.node)
                });
                match waiting {
                    true => self.beside.nominated(nominated),
                    false => self.ledger.counters.void_preemptions += 1,
                }
            }
            Body::NominationLapsed(lapsed) => self.beside.nomination_lapsed(&lapsed.job),
            Body::RosterSet(set) => {
                if let Err(problem) = self.ledger.roster.on_set(self.entry.signer.as_ref(), set) {
                    self.refuse(None, &format!("roster.set refused: {problem}"));
                }
            }
        }
    }

    fn submitted(&mut self, event: &Event, spec: &Arc<JobSubmitted>) {
        if let Some(existing) = self.ledger.jobs.get(&spec.job) {
            let detail = format!(
                "job id {:?} is already taken (submitted at sequence {}); choose a new id",
                spec.job, existing.submitted_seq
            );
            self.refuse(event.tenant.as_deref(), &detail);
            return;
        }
        let job = Job::submitted(event, spec, self.entry.seq, self.ledger.now_ms);
        self.ledger.jobs.insert(spec.job.clone(), job);
        self.ledger.tally.submitted += 1;
        self.beside.submission_awaits(self.entry.seq, &spec.job);
    }

    /// Admitted (`rejection` is None) or rejected.
    fn admission_decided(&mut self, job_id: &str, rejection: Option<&str>) {
        let input = match rejection {
            None => JobInput::Admitted,
            Some(_) => JobInput::Rejected,
        };
        let Some(to) = self.step(job_id, input) else {
            self.ledger.counters.void_admissions += 1;
            return;
        };
        let applied_seq = self.ledger.applied_seq;
        let job = self.ledger.jobs.get_mut(job_id).expect("stepped above");
        self.beside.admission_done(job);
        job.state = to;
        match rejection {
            None => {
                job.admitted_seq = Some(applied_seq);
                self.beside.queued(job_id, job);
            }
            Some(reason) => {
                job.reason = Some(reason.to_string());
                self.job_ended(job_id);
            }
        }
    }

    fn cancelled(&mut self, job_id: &str, reason: &str, request_id: Option<&str>) {
        let requests = &mut self.ledger.cancel_requests;
        let request_seq = requests
            .iter()
            .find(|(_, request)| {
                request.job == job_id && Some(request.event_id.as_str()) == request_id
            })
            .map(|(seq, _)| *seq);
        let request = request_seq.and_then(|seq| requests.remove(&seq));
        let Some(job) = self.ledger.jobs.get_mut(job_id) else {
            self.ledger.counters.void_admissions += 1;
            return;
        };
        // A cancellation is admission's answer to a request of the job's own
        // tenant that is still waiting; one that answers no such request
        // did not come from admission deciding, whoever wrote it.
        if request.is_none_or(|request| request.tenant != job.tenant) {
            self.ledger.counters.void_admissions += 1;
            return;
        }
        let Ok(Move::To(to)) = transitions::next(job.state, JobInput::Cancelled) else {
            self.ledger.counters.void_admissions += 1;
            return;
        };
        job.reason = Some(reason.to_string());
        match job.state {
            JobState::Submitted => self.beside.admission_done(job),
            JobState::Pending => self.beside.dequeued(job_id, job),
            _ => {}
        }
        job.state = to;
        if to.is_terminal() {
            self.job_ended(job_id);
        } else if to == JobState::Cancelling {
            self.beside.stopping(job_id, job);
        }
    }

    fn bound(&mut self, bound: &JobBound) {
        let valid = match (
            self.ledger.jobs.get(&bound.job),
            self.ledger.nodes.get(&bound.node),
        ) {
            (Some(job), Some(node)) => {
                transitions::next(job.state, JobInput::Bound).is_ok()
                    && binding::holds(self.ledger, job, bound, node)
            }
            _ => false,
        };
        if !valid {
            self.ledger.counters.void_bindings += 1;
            return;
        }
        let now = self.ledger.now_ms;
        self.ledger.tally.bindings += 1;
        let job = self.ledger.jobs.get_mut(&bound.job).expect("checked above");
        self.beside.dequeued(&bound.job, job);
        job.reclaimable = bound.reclaimable;
        job.state = JobState::Bound;
        job.node = Some(bound.node.clone());
        job.bindings += 1;
        job.first_bound_ms.get_or_insert(now);
        job.bound_ms = Some(now);
        job.gpu_devices = bound.gpu_devices.clone();
        self.beside.placed(&bound.job, job, now);
        let node = self
            .ledger
            .nodes
            .get_mut(&bound.node)
            .expect("checked above");
        node.allocation_seq = self.ledger.applied_seq;
        node.allocated = node.allocated.plus(&bound.resources);
        let share = gpu_share_milli(&bound.resources);
        for device in &bound.gpu_devices {
            node.gpu_free_milli[*device as usize] -= share;
        }
        for (name, amount) in &job.spec.constraints.extended {
            *node.extended_allocated.entry(name.clone()).or_default() += amount;
        }
        node.jobs.insert(bound.job.clone());
        let tenant = job.tenant.clone();
        self.ledger.labels.update(
            &tenant,
            &bound.job,
            &job.spec.labels,
            &bound.node,
            node,
            true,
        );
        self.ledger
            .repellers
            .add(&bound.job, job, &bound.node, node);
        self.ledger
            .holding
            .entry(tenant)
            .or_default()
            .insert(bound.job.clone());
    }

    /// Where a report about a job on `node` takes it, by the table.
    fn report(&self, job_id: &str, node: &str, input: JobInput) -> Result<Move, Refusal> {
        let state = self
            .ledger
            .job_on_node(job_id, node)
            .ok_or(Refusal::HoldsNoNode)?;
        transitions::next(state, input)
    }

    fn started(&mut self, event: &Event, started: &JobStarted) {
        match self.report(&started.job, &started.node, JobInput::Started) {
            Ok(Move::To(to)) => {
                self.ledger
                    .jobs
                    .get_mut(&started.job)
                    .expect("on the node")
                    .state = to
            }
            Ok(Move::Stay) => {}
            Ok(Move::EndAsStopped) => unreachable!("a start report never ends a job"),
            Err(refusal) => self.refuse_report(refusal, event, &started.job, &started.node),
        }
    }

    fn finished(&mut self, event: &Event, finished: &JobFinished) {
        let step = match self.report(&finished.job, &finished.node, JobInput::Finished) {
            Ok(step) => step,
            Err(refusal) => {
                self.refuse_report(refusal, event, &finished.job, &finished.node);
                return;
            }
        };
        let state = self.ledger.jobs[&finished.job].state;
        self.release(&finished.job);
        let job = self
            .ledger
            .jobs
            .get_mut(&finished.job)
            .expect("job is on the node");
        // A victim that ran to success before it could be stopped has
        // finished, not been preempted.
        let completed = finished.outcome == Outcome::Succeeded && !finished.checkpointed;
        let to = match step {
            Move::EndAsStopped if state == JobState::Preempting && completed => JobState::Finished,
            Move::EndAsStopped => end_as_stopped(state, job),
            _ => JobState::Finished,
        };
        if to == JobState::Pending {
            job.checkpointed = finished.checkpointed;
            self.requeue(&finished.job);
            return;
        }
        job.state = to;
        job.finished_ms = Some(self.ledger.now_ms);
        job.outcome = Some(finished.outcome);
        job.exit_code = finished.exit_code;
        if finished.outcome != Outcome::Succeeded {
            job.reason = finished.message.clone().or(job.reason.take());
        }
        self.job_ended(&finished.job);
    }

    fn timed_out(&mut self, timed_out: &JobTimedOut) {
        let on_node = self.ledger.job_on_node(&timed_out.job, &timed_out.node);
        let to = on_node.and_then(|state| match transitions::next(state, JobInput::TimedOut) {
            Ok(Move::To(to)) => Some(to),
            _ => None,
        });
        let Some(to) = to else {
            self.ledger.counters.void_timeouts += 1;
            return;
        };
        let job = self
            .ledger
            .jobs
            .get_mut(&timed_out.job)
            .expect("job is on the node");
        self.beside.stopped_at_limit(&timed_out.job, job);
        job.state = to;
        job.timed_out = true;
        job.reason = Some(format!(
            "stopped at its wall-clock limit of {} s",
            timed_out.walltime_s
        ));
        self.beside.stopping(&timed_out.job, job);
    }

    fn registered(&mut self, registered: &NodeRegistered) {
        let seq = self.entry.seq;
        let mut node = Node::registered(registered, seq);
        if let Some(old) = self.ledger.nodes.get(&registered.node)
            && old.state == NodeState::Ready
        {
            self.beside.node_unready(old);
        }
        if node.state == NodeState::Ready {
            self.beside.node_ready(&node);
        }
        if let Some(old) = self.ledger.nodes.get(&registered.node) {
            // A re-registration keeps what the node holds, unless it was lost.
            if old.state != NodeState::Lost {
                node.allocated = old.allocated;
                node.extended_allocated = old.extended_allocated.clone();
                node.jobs = old.jobs.clone();
                for id in &node.jobs {
                    let job = &self.ledger.jobs[id];
                    let share = gpu_share_milli(&job.spec.resources);
                    for device in &job.gpu_devices {
                        if let Some(free) = node.gpu_free_milli.get_mut(*device as usize) {
                            *free = free.saturating_sub(share);
                        }
                    }
                    // Its jobs move with the node if its zone or rack changed.
                    let labels = &job.spec.labels;
                    let name = &registered.node;
                    let index = &mut self.ledger.labels;
                    index.update(&job.tenant, id, labels, name, old, false);
                    index.update(&job.tenant, id, labels, name, &node, true);
                }
            }
        }
        self.ledger.nodes.insert(registered.node.clone(), node);
        self.beside.nodes_changed(seq);
    }

    fn node_lost(&mut self, node_id: &str) {
        let jobs: Vec<String> = self.ledger.nodes[node_id].jobs.iter().cloned().collect();
        for job_id in jobs {
            let state = self.ledger.jobs[&job_id].state;
            self.release(&job_id);
            let job = self
                .ledger
                .jobs
                .get_mut(&job_id)
                .expect("node lists only known jobs");
            let to = match transitions::next(state, JobInput::NodeLost) {
                Ok(Move::To(to)) => to,
                Ok(Move::EndAsStopped) => end_as_stopped(state, job),
                _ => unreachable!("a job on a node moves when the node is lost"),
            };
            if to.is_terminal() {
                job.state = to;
                job.outcome = Some(Outcome::Lost);
                self.job_ended(&job_id);
            } else {
                self.requeue(&job_id);
                self.ledger.counters.requeued_jobs += 1;
            }
        }
        let node = self
            .ledger
            .nodes
            .get_mut(node_id)
            .expect("checked by caller");
        if node.state == NodeState::Ready {
            self.beside.node_unready(node);
        }
        node.state = NodeState::Lost;
    }

    /// Puts a job that released its node back in the queue, in its old
    /// place: its admission sequence and submission time are kept.
    fn requeue(&mut self, job_id: &str) {
        let job = self.ledger.jobs.get_mut(job_id).expect("a known job");
        job.state = JobState::Pending;
        job.bound_ms = None;
        self.beside.queued(job_id, job);
    }

    fn preempted(&mut self, preempted: &JobPreempted) {
        let now = self.ledger.now_ms;
        let ledger = &*self.ledger;
        let holds = ledger
            .job_on_node(&preempted.job, &preempted.node)
            .is_some();
        let for_waiting = ledger
            .jobs
            .get(&preempted.preemptor)
            .is_some_and(|job| job.state == JobState::Pending);
        let victim = ledger.jobs.get(&preempted.job);
        let unprotected = victim
            .is_some_and(|job| crate::protection::protection(&ledger.policy, job, now).is_none());
        let to = victim.and_then(
            |job| match transitions::next(job.state, JobInput::Preempted) {
                Ok(Move::To(to)) => Some(to),
                _ => None,
            },
        );
        let (true, true, true, Some(to)) = (holds, for_waiting, unprotected, to) else {
            self.ledger.counters.void_preemptions += 1;
            return;
        };
        let job = self
            .ledger
            .jobs
            .get_mut(&preempted.job)
            .expect("checked above");
        job.state = to;
        job.preemptions += 1;
        job.preempted = Some(Preemption::of(preempted, now));
        job.reason = Some(format!(
            "preempted for job {} under the {} rule",
            preempted.preemptor,
            preempted.rule.as_str()
        ));
        self.beside.stopping(&preempted.job, job);
        self.ledger.tally.preempted += 1;
    }

    /// Takes a claim only at the next epoch of its service: a claim that
    /// skipped ahead (to `u64::MAX`, say) would leave no epoch for the next
    /// claimant. Two claimants of one epoch cannot both be in the log (the
    /// server refuses the second), so any other epoch is refused visibly.
    fn lease_claimed(&mut self, claim: &LeaseClaimed) {
        let current = self.ledger.lease_epoch(&claim.service);
        if Some(claim.epoch) != current.checked_add(1) {
            let detail = format!(
                "lease.claimed refused: epoch {} of service {} is not the next epoch, {}",
                claim.epoch,
                claim.service,
                current.saturating_add(1)
            );
            self.refuse(None, &detail);
            return;
        }
        let lease = Lease {
            epoch: claim.epoch,
            holder: claim.holder.clone(),
            seq: self.entry.seq,
        };
        self.ledger.leases.insert(claim.service.clone(), lease);
    }

    /// The state `input` takes the job to, if the table allows it.
    fn step(&self, job_id: &str, input: JobInput) -> Option<JobState> {
        let job = self.ledger.jobs.get(job_id)?;
        match transitions::next(job.state, input) {
            Ok(Move::To(to)) => Some(to),
            _ => None,
        }
    }

    /// Counts the job, which has just reached a terminal state, and queues it
    /// to leave the fold.
    fn job_ended(&mut self, job_id: &str) {
        let job = &self.ledger.jobs[job_id];
        match job.state {
            JobState::Finished => self.ledger.tally.on_finished(job.outcome),
            JobState::Rejected => self.ledger.tally.rejected += 1,
            JobState::Cancelled => self.ledger.tally.cancelled += 1,
            state => unreachable!("job {job_id} ended in state {}", state.as_str()),
        }
        self.ledger.ended.push(job_id, self.ledger.now_ms);
    }

    /// Frees the job's resources on its node.
    fn release(&mut self, job_id: &str) {
        let now = self.ledger.now_ms;
        let job = self
            .ledger
            .jobs
            .get_mut(job_id)
            .expect("release of an unknown job");
        self.beside.released(job_id, job, now);
        let node_id = job.node.take().expect("release of a job on no node");
        let devices = std::mem::take(&mut job.gpu_devices);
        let node = self
            .ledger
            .nodes
            .get_mut(&node_id)
            .expect("job on an unknown node");
        node.allocation_seq = self.ledger.applied_seq;
        node.allocated = node.allocated.minus(&job.spec.resources);
        let share = gpu_share_milli(&job.spec.resources);
        for device in devices {
            if let Some(free) = node.gpu_free_milli.get_mut(device as usize) {
                *free = (*free + share).min(GPU_MILLI_PER_DEVICE);
            }
        }
        for (name, amount) in &job.spec.constraints.extended {
            if let Some(held) = node.extended_allocated.get_mut(name) {
                *held = held.saturating_sub(*amount);
            }
        }
        assert!(
            node.jobs.remove(job_id),
            "node {node_id} did not list job {job_id}"
        );
        let held = self
            .ledger
            .holding
            .get_mut(&job.tenant)
            .expect("a job on a node is held by its tenant");
        held.remove(job_id);
        if held.is_empty() {
            self.ledger.holding.remove(&job.tenant);
        }
        self.ledger
            .labels
            .update(&job.tenant, job_id, &job.spec.labels, &node_id, node, false);
        self.ledger.repellers.remove(job_id);
    }

    fn refuse_report(&mut self, refusal: Refusal, event: &Event, job: &str, node: &str) {
        debug_assert_eq!(refusal, Refusal::HoldsNoNode);
        let actual = match self.ledger.jobs.get(job) {
            None => "no such job is live".to_string(),
            Some(j) => match &j.node {
                Some(on) => format!("the job is {} on node {on}", j.state.as_str()),
                None => format!("the job is {} and holds no node", j.state.as_str()),
            },
        };
        let detail = format!(
            "{} from node {node} for job {job} refused: {actual}",
            event.body.type_name()
        );
        self.refuse(event.tenant.as_deref(), &detail);
    }

    fn refuse_unknown_node(&mut self, node: &str) {
        self.refuse(None, &format!("node {node:?} has never registered"));
    }

    fn refuse(&mut self, tenant: Option<&str>, detail: &str) {
        self.beside.refused(Refused {
            seq: self.entry.seq,
            subject: &self.entry.subject,
            tenant,
            kind: "invalid_request",
            detail,
        });
    }

    fn unreadable(&mut self, kind: &str, detail: &str) {
        let subject = &self.entry.subject;
        if subject.starts_with(&format!("rota.{}.input.", self.ledger.cell)) {
            self.ledger.counters.unanswered_rejections += 1;
            return;
        }
        let tenant = ParsedSubject::parse(subject).and_then(|p| p.tenant);
        self.beside.refused(Refused {
            seq: self.entry.seq,
            subject,
            tenant: tenant.as_deref(),
            kind,
            detail,
        });
    }
}

/// How a job that was being stopped ends: a preempted job as its mode
/// says (cancelled, or waiting again), a job stopped at its limit
/// finished, a cancelled one cancelled.
fn end_as_stopped(state: JobState, job: &Job) -> JobState {
    match (state, &job.preempted) {
        (JobState::Preempting, Some(p)) if p.mode == PreemptionMode::Cancel => JobState::Cancelled,
        (JobState::Preempting, _) => JobState::Pending,
        _ if job.timed_out => JobState::Finished,
        _ => JobState::Cancelled,
    }
}

/// Why `event` may not be written by whoever wrote it, if it may not:
/// decisions must come from their one writing service, in a round.
fn writer_violation(event: &Event) -> Option<String> {
    match (event.body.writer(), &event.round) {
        (Writer::Service(service), Some(round)) if round.service == service => None,
        (Writer::Service(service), _) => {
            Some(format!("only the {service} service writes it, in a round"))
        }
        (_, Some(round)) => Some(format!(
            "it is not a decision, but carries a round from {}",
            round.service
        )),
        _ => None,
    }
}
