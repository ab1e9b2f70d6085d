//! The cell's state as a fold over its log.

use crate::accounts::{Accounts, amounts};
use crate::entry::LogEntry;
use crate::job::{Job, JobState};
use crate::labels::LabelIndex;
use crate::node::{GPU_MILLI_PER_DEVICE, Node, NodeState, gpu_share_milli};
use crate::pending::PendingQueue;
use crate::queues::{CancelRequest, Queues, RejectionToWrite};
use crate::repellers::RepellerIndex;
use crate::retention::EndedJobs;
use crate::roster::Roster;
use crate::tally::JobTally;
use rota_events::{
    Body, Event, JobBound, JobFinished, JobSubmitted, JobTimedOut, LeaseClaimed, NodeRegistered,
    Outcome, ParsedSubject, PlacementPolicy, ResourceAmounts, Resources, Writer,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

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
}

/// Everything this slice's services know, folded from the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellState {
    pub cell: String,
    /// The last stream sequence applied.
    pub applied_seq: u64,
    /// The log's time: the timestamp of the last applied event.
    pub now_ms: u64,
    pub leases: BTreeMap<String, Lease>,
    pub jobs: BTreeMap<String, Job>,
    pub nodes: BTreeMap<String, Node>,
    /// Pending jobs, grouped for the queue order.
    pub pending: PendingQueue,
    pub queues: Queues,
    pub counters: Counters,
    /// The placement policy in force (the default until a `policy.set`).
    pub policy: PlacementPolicy,
    /// When each job on a node reaches its wall-clock limit, in log
    /// milliseconds: (deadline, job), for jobs that have a limit.
    pub deadlines: BTreeSet<(u64, String)>,
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
    /// Tenants: the tree and fair-share policy, usage, holdings, factors.
    pub accounts: Accounts,
    /// The sequence of the last event that changed which nodes are ready or
    /// what a node is (registration, drain, loss): what node filters see.
    pub nodes_changed_seq: u64,
    /// The capacity of the ready nodes, as quotas and dominant shares count
    /// it: kept as nodes change, since fair share reads it every round.
    pub ready_capacity: ResourceAmounts,
    /// The ended jobs still held, in the order they leave.
    pub ended: EndedJobs,
    /// What happened to every job since the log began.
    pub tally: JobTally,
    /// Whose keys may sign which events.
    pub roster: Roster,
}

impl CellState {
    pub fn new(cell: impl Into<String>) -> CellState {
        CellState {
            cell: cell.into(),
            applied_seq: 0,
            now_ms: 0,
            leases: BTreeMap::new(),
            jobs: BTreeMap::new(),
            nodes: BTreeMap::new(),
            pending: PendingQueue::default(),
            queues: Queues::default(),
            counters: Counters::default(),
            policy: PlacementPolicy::default(),
            deadlines: BTreeSet::new(),
            holding: BTreeMap::new(),
            repellers: RepellerIndex::default(),
            labels: LabelIndex::default(),
            nodes_changed_seq: 0,
            accounts: Accounts::default(),
            ended: EndedJobs::default(),
            tally: JobTally::default(),
            ready_capacity: ResourceAmounts::default(),
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

    /// Folds one entry. Entries must come in stream order, each once.
    pub fn apply(&mut self, entry: &LogEntry) {
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
        match &entry.event {
            Ok(event) => self.apply_event(entry, event),
            Err(error) => self.note_unreadable(entry, error.kind.as_str(), &error.detail),
        }
    }

    fn apply_event(&mut self, entry: &LogEntry, event: &Event) {
        let refusal = self.writer_violation(event).or_else(|| {
            self.roster
                .refusal(&entry.subject, entry.signer.as_ref(), event)
        });
        if let Some(reason) = refusal {
            let detail = format!("{} event refused: {reason}", event.body.type_name());
            self.note_invalid(entry, event.tenant.clone(), detail);
            return;
        }
        if let Some(round) = &event.round
            && round.epoch != self.lease_epoch(&round.service)
        {
            self.counters.fenced_decisions += 1;
            return;
        }
        let tenant = event.tenant.as_deref().unwrap_or_default();
        match &event.body {
            Body::JobSubmitted(spec) => self.on_submitted(entry, event, spec),
            Body::JobCancelRequested(request) => {
                let request = CancelRequest {
                    job: request.job.clone(),
                    tenant: tenant.to_string(),
                    reason: request.reason.clone(),
                    event_id: event.id.clone(),
                };
                self.queues.cancels.insert(entry.seq, request);
            }
            Body::JobAdmitted(admitted) => self.on_admission_decision(&admitted.job, None),
            Body::JobRejected(rejected) => {
                self.on_admission_decision(&rejected.job, Some(rejected.reason.clone()))
            }
            Body::JobCancelled(cancelled) => self.on_cancelled(
                &cancelled.job,
                &cancelled.reason,
                event.causation_id.as_deref(),
            ),
            Body::InputRejected(rejected) => {
                self.queues.rejections.remove(&rejected.seq);
                self.queues.cancels.remove(&rejected.seq);
            }
            Body::JobBound(bound) => self.on_bound(bound),
            Body::JobStarted(started) => {
                let on_node = self.job_on_node(&started.job, &started.node);
                match on_node {
                    Some(JobState::Bound) => self.set_state(&started.job, JobState::Running),
                    Some(_) => {}
                    None => self.note_misplaced_report(entry, event, &started.job, &started.node),
                }
            }
            Body::JobFinished(finished) => self.on_finished(entry, event, finished),
            Body::NodeRegistered(registered) => self.on_registered(entry, registered),
            Body::NodeDrained(drained) => match self.nodes.get_mut(&drained.node) {
                Some(node) if node.state == NodeState::Ready => {
                    node.state = NodeState::Draining;
                    self.ready_capacity = self.ready_capacity.minus(&amounts(&node.capacity));
                    self.nodes_changed_seq = entry.seq;
                }
                Some(_) => {}
                None => self.note_unknown_node(entry, &drained.node),
            },
            Body::NodeLost(lost) => match self.nodes.contains_key(&lost.node) {
                true => {
                    self.on_node_lost(&lost.node);
                    self.nodes_changed_seq = entry.seq;
                }
                false => self.note_unknown_node(entry, &lost.node),
            },
            Body::LeaseClaimed(claim) => self.on_lease_claimed(entry, claim),
            Body::ClockTick(_) => {}
            Body::TenantsSet(set) => match set.config.validate() {
                Ok(()) => {
                    let holding: Vec<&Job> = self
                        .holding
                        .values()
                        .flatten()
                        .map(|id| &self.jobs[id])
                        .collect();
                    self.accounts.configure(&set.config, self.now_ms, &holding);
                }
                Err(problem) => {
                    let detail = format!("tenants.set refused: {problem}");
                    self.note_invalid(entry, None, detail);
                }
            },
            Body::FairShareUpdated(update) => {
                self.accounts.on_factors(&update.factors, self.now_ms)
            }
            Body::PolicySet(set) => match set.placement.validate() {
                Ok(()) => self.policy = set.placement.clone(),
                Err(problem) => {
                    let detail = format!("policy.set refused: {problem}");
                    self.note_invalid(entry, None, detail);
                }
            },
            Body::JobTimedOut(timed_out) => self.on_timed_out(timed_out),
            Body::RosterSet(set) => {
                if let Err(problem) = self.roster.on_set(entry.signer.as_ref(), set) {
                    let detail = format!("roster.set refused: {problem}");
                    self.note_invalid(entry, None, detail);
                }
            }
        }
    }

    /// Why `event` may not be written by whoever wrote it, if it may not:
    /// decisions must come from their one writing service, in a round.
    fn writer_violation(&self, event: &Event) -> Option<String> {
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

    fn on_submitted(&mut self, entry: &LogEntry, event: &Event, spec: &Arc<JobSubmitted>) {
        if let Some(existing) = self.jobs.get(&spec.job) {
            let detail = format!(
                "job id {:?} is already taken (submitted at sequence {}); choose a new id",
                spec.job, existing.submitted_seq
            );
            self.note_invalid(entry, event.tenant.clone(), detail);
            return;
        }
        let job = Job {
            tenant: event.tenant.clone().unwrap_or_default(),
            spec: Arc::clone(spec),
            submission_id: event.id.clone(),
            traceparent: event.traceparent.clone(),
            state: JobState::Submitted,
            node: None,
            gpu_devices: Vec::new(),
            submitted_seq: entry.seq,
            submitted_ms: self.now_ms,
            admitted_seq: None,
            first_bound_ms: None,
            bound_ms: None,
            timed_out: false,
            reclaimable: false,
            bindings: 0,
            finished_ms: None,
            outcome: None,
            exit_code: None,
            reason: None,
        };
        self.jobs.insert(spec.job.clone(), job);
        self.queues.submissions.insert(entry.seq, spec.job.clone());
        self.tally.submitted += 1;
    }

    /// Removes the ended jobs that the retention policy no longer keeps, as
    /// of the time of the entry being applied. Nothing else refers to an
    /// ended job: it left every queue and index when it ended.
    fn retire_ended_jobs(&mut self) {
        while let Some(job) = self.ended.next_due(self.now_ms, &self.policy.retention) {
            self.jobs.remove(&job);
        }
    }

    /// Counts the job, which has just reached a terminal state, and queues it
    /// to leave the fold.
    fn job_ended(&mut self, job_id: &str) {
        let job = &self.jobs[job_id];
        match job.state {
            JobState::Finished => self.tally.on_finished(job.outcome),
            JobState::Rejected => self.tally.rejected += 1,
            JobState::Cancelled => self.tally.cancelled += 1,
            state => unreachable!("job {job_id} ended in state {}", state.as_str()),
        }
        self.ended.push(job_id, self.now_ms);
    }

    /// Admitted (`rejection` is None) or rejected.
    fn on_admission_decision(&mut self, job_id: &str, rejection: Option<String>) {
        let applied_seq = self.applied_seq;
        let Some(job) = self
            .jobs
            .get_mut(job_id)
            .filter(|j| j.state == JobState::Submitted)
        else {
            self.counters.void_admissions += 1;
            return;
        };
        self.queues.submissions.remove(&job.submitted_seq);
        match rejection {
            None => {
                job.state = JobState::Pending;
                job.admitted_seq = Some(applied_seq);
                self.pending.insert(job_id, job);
                self.accounts.on_pending(job);
            }
            Some(reason) => {
                job.state = JobState::Rejected;
                job.reason = Some(reason);
                self.job_ended(job_id);
            }
        }
    }

    fn on_cancelled(&mut self, job_id: &str, reason: &str, request_id: Option<&str>) {
        let request_seq = self
            .queues
            .cancels
            .iter()
            .find(|(_, request)| {
                request.job == job_id && Some(request.event_id.as_str()) == request_id
            })
            .map(|(seq, _)| *seq);
        let request = request_seq.and_then(|seq| self.queues.cancels.remove(&seq));
        let Some(job) = self.jobs.get_mut(job_id) else {
            self.counters.void_admissions += 1;
            return;
        };
        // A cancellation is admission's answer to a request of the job's own
        // tenant that is still waiting; one that answers no such request
        // did not come from admission deciding, whoever wrote it.
        if request.is_none_or(|request| request.tenant != job.tenant) {
            self.counters.void_admissions += 1;
            return;
        }
        job.reason = Some(reason.to_string());
        match job.state {
            JobState::Submitted => {
                self.queues.submissions.remove(&job.submitted_seq);
                job.state = JobState::Cancelled;
                self.job_ended(job_id);
            }
            JobState::Pending => {
                self.pending.remove(job_id, job);
                self.accounts.on_not_pending(job);
                job.state = JobState::Cancelled;
                self.job_ended(job_id);
            }
            JobState::Bound | JobState::Running => job.state = JobState::Cancelling,
            _ => self.counters.void_admissions += 1,
        }
    }

    fn on_registered(&mut self, entry: &LogEntry, registered: &NodeRegistered) {
        let mut node = Node::registered(registered, entry.seq);
        if let Some(old) = self.nodes.get(&registered.node)
            && old.state == NodeState::Ready
        {
            self.ready_capacity = self.ready_capacity.minus(&amounts(&old.capacity));
        }
        if node.state == NodeState::Ready {
            self.ready_capacity = self.ready_capacity.plus(&amounts(&node.capacity));
        }
        if let Some(old) = self.nodes.get(&registered.node) {
            // A re-registration keeps what the node holds, unless it was lost.
            if old.state != NodeState::Lost {
                node.allocated = old.allocated;
                node.extended_allocated = old.extended_allocated.clone();
                node.jobs = old.jobs.clone();
                for id in &node.jobs {
                    let job = &self.jobs[id];
                    let share = gpu_share_milli(&job.spec.resources);
                    for device in &job.gpu_devices {
                        if let Some(free) = node.gpu_free_milli.get_mut(*device as usize) {
                            *free = free.saturating_sub(share);
                        }
                    }
                    // Its jobs move with the node if its zone or rack changed.
                    let labels = &job.spec.labels;
                    let name = &registered.node;
                    self.labels
                        .update(&job.tenant, id, labels, name, old, false);
                    self.labels
                        .update(&job.tenant, id, labels, name, &node, true);
                }
            }
        }
        self.nodes.insert(registered.node.clone(), node);
        self.nodes_changed_seq = entry.seq;
    }

    /// Takes a claim only at the next epoch of its service: a claim that
    /// skipped ahead (to `u64::MAX`, say) would leave no epoch for the next
    /// claimant. Two claimants of one epoch cannot both be in the log (the
    /// server refuses the second), so any other epoch is refused visibly.
    fn on_lease_claimed(&mut self, entry: &LogEntry, claim: &LeaseClaimed) {
        let current = self.lease_epoch(&claim.service);
        if Some(claim.epoch) != current.checked_add(1) {
            let detail = format!(
                "lease.claimed refused: epoch {} of service {} is not the next epoch, {}",
                claim.epoch,
                claim.service,
                current.saturating_add(1)
            );
            self.note_invalid(entry, None, detail);
            return;
        }
        self.leases.insert(
            claim.service.clone(),
            Lease {
                epoch: claim.epoch,
                holder: claim.holder.clone(),
                seq: entry.seq,
            },
        );
    }

    fn on_timed_out(&mut self, timed_out: &JobTimedOut) {
        match self.job_on_node(&timed_out.job, &timed_out.node) {
            Some(JobState::Bound | JobState::Running) => {
                let job = self
                    .jobs
                    .get_mut(&timed_out.job)
                    .expect("job is on the node");
                if let Some(deadline) = deadline_ms(job) {
                    self.deadlines.remove(&(deadline, timed_out.job.clone()));
                }
                job.state = JobState::Cancelling;
                job.timed_out = true;
                job.reason = Some(format!(
                    "stopped at its wall-clock limit of {} s",
                    timed_out.walltime_s
                ));
            }
            _ => self.counters.void_timeouts += 1,
        }
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

    fn on_bound(&mut self, bound: &JobBound) {
        let now = self.now_ms;
        let valid = match (self.jobs.get(&bound.job), self.nodes.get(&bound.node)) {
            (Some(job), Some(node)) => {
                let name = bound.node.as_str();
                let free = node.free();
                job.state == JobState::Pending
                    && node.state == NodeState::Ready
                    && bound.resources == job.spec.resources
                    && bound.resources.cpu_milli <= free.cpu_milli
                    && bound.resources.memory_bytes <= free.memory_bytes
                    && devices_fit(node, &bound.resources, &bound.gpu_devices)
                    && job
                        .spec
                        .constraints
                        .extended
                        .iter()
                        .all(|(name, amount)| *amount <= node.extended_free(name))
                    // A node the job's own constraints forbid is no more
                    // valid than one without room, whoever wrote the binding.
                    && crate::node_filters::refusal(job, node).is_none()
                    // Nor is one that breaks its terms about other jobs.
                    && crate::neighbour_terms::refusal(self, job, name, node).is_none()
            }
            _ => false,
        };
        if !valid {
            self.counters.void_bindings += 1;
            return;
        }
        self.tally.bindings += 1;
        let job = self.jobs.get_mut(&bound.job).expect("checked above");
        self.pending.remove(&bound.job, job);
        self.accounts.on_not_pending(job);
        self.accounts.on_holding(job, now);
        job.reclaimable = bound.reclaimable;
        job.state = JobState::Bound;
        job.node = Some(bound.node.clone());
        job.bindings += 1;
        job.first_bound_ms.get_or_insert(now);
        job.bound_ms = Some(now);
        if let Some(deadline) = deadline_ms(job) {
            self.deadlines.insert((deadline, bound.job.clone()));
        }
        job.gpu_devices = bound.gpu_devices.clone();
        let extended = job.spec.constraints.extended.clone();
        let node = self.nodes.get_mut(&bound.node).expect("checked above");
        node.allocation_seq = self.applied_seq;
        node.allocated = node.allocated.plus(&bound.resources);
        let share = gpu_share_milli(&bound.resources);
        for device in &bound.gpu_devices {
            node.gpu_free_milli[*device as usize] -= share;
        }
        for (name, amount) in extended {
            *node.extended_allocated.entry(name).or_default() += amount;
        }
        node.jobs.insert(bound.job.clone());
        let job = &self.jobs[&bound.job];
        let tenant = job.tenant.clone();
        let node = &self.nodes[&bound.node];
        self.labels.update(
            &tenant,
            &bound.job,
            &job.spec.labels,
            &bound.node,
            node,
            true,
        );
        self.repellers.add(&bound.job, job, &bound.node, node);
        self.holding
            .entry(tenant)
            .or_default()
            .insert(bound.job.clone());
    }

    fn on_finished(&mut self, entry: &LogEntry, event: &Event, finished: &JobFinished) {
        let Some(state) = self.job_on_node(&finished.job, &finished.node) else {
            self.note_misplaced_report(entry, event, &finished.job, &finished.node);
            return;
        };
        self.release(&finished.job);
        let job = self
            .jobs
            .get_mut(&finished.job)
            .expect("job is on the node");
        job.state = match state {
            JobState::Cancelling if !job.timed_out => JobState::Cancelled,
            _ => JobState::Finished,
        };
        job.finished_ms = Some(self.now_ms);
        job.outcome = Some(finished.outcome);
        job.exit_code = finished.exit_code;
        if finished.outcome != Outcome::Succeeded {
            job.reason = finished.message.clone().or(job.reason.take());
        }
        self.job_ended(&finished.job);
    }

    fn on_node_lost(&mut self, node_id: &str) {
        let jobs: Vec<String> = self.nodes[node_id].jobs.iter().cloned().collect();
        for job_id in jobs {
            let state = self.jobs[&job_id].state;
            self.release(&job_id);
            let job = self
                .jobs
                .get_mut(&job_id)
                .expect("node lists only known jobs");
            if state == JobState::Cancelling {
                job.state = JobState::Cancelled;
                job.outcome = Some(Outcome::Lost);
                self.job_ended(&job_id);
            } else {
                job.state = JobState::Pending;
                job.bound_ms = None;
                self.pending.insert(&job_id, job);
                self.accounts.on_pending(job);
                self.counters.requeued_jobs += 1;
            }
        }
        let node = self.nodes.get_mut(node_id).expect("checked by caller");
        if node.state == NodeState::Ready {
            self.ready_capacity = self.ready_capacity.minus(&amounts(&node.capacity));
        }
        node.state = NodeState::Lost;
    }

    /// Frees the job's resources on its node.
    fn release(&mut self, job_id: &str) {
        let job = self
            .jobs
            .get_mut(job_id)
            .expect("release of an unknown job");
        if let Some(deadline) = deadline_ms(job) {
            self.deadlines.remove(&(deadline, job_id.to_string()));
        }
        self.accounts.on_released(job, self.now_ms);
        let node_id = job.node.take().expect("release of a job on no node");
        let devices = std::mem::take(&mut job.gpu_devices);
        let node = self
            .nodes
            .get_mut(&node_id)
            .expect("job on an unknown node");
        node.allocation_seq = self.applied_seq;
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
            .holding
            .get_mut(&job.tenant)
            .expect("a job on a node is held by its tenant");
        held.remove(job_id);
        if held.is_empty() {
            self.holding.remove(&job.tenant);
        }
        self.labels
            .update(&job.tenant, job_id, &job.spec.labels, &node_id, node, false);
        self.repellers.remove(job_id);
    }

    /// The job's state if it currently holds resources on `node`.
    fn job_on_node(&self, job_id: &str, node: &str) -> Option<JobState> {
        let job = self.jobs.get(job_id)?;
        (job.state.holds_node() && job.node.as_deref() == Some(node)).then_some(job.state)
    }

    fn set_state(&mut self, job_id: &str, state: JobState) {
        self.jobs.get_mut(job_id).expect("known job").state = state;
    }

    fn note_misplaced_report(&mut self, entry: &LogEntry, event: &Event, job: &str, node: &str) {
        let actual = match self.jobs.get(job) {
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
        self.note_invalid(entry, event.tenant.clone(), detail);
    }

    fn note_unknown_node(&mut self, entry: &LogEntry, node: &str) {
        let detail = format!("node {node:?} has never registered");
        self.note_invalid(entry, None, detail);
    }

    fn note_invalid(&mut self, entry: &LogEntry, tenant: Option<String>, detail: String) {
        let rejection = RejectionToWrite {
            subject: entry.subject.clone(),
            tenant,
            kind: "invalid_request".to_string(),
            detail,
        };
        self.queues.rejections.insert(entry.seq, rejection);
    }

    fn note_unreadable(&mut self, entry: &LogEntry, kind: &str, detail: &str) {
        let parsed = ParsedSubject::parse(&entry.subject);
        if entry
            .subject
            .starts_with(&format!("rota.{}.input.", self.cell))
        {
            self.counters.unanswered_rejections += 1;
            return;
        }
        let rejection = RejectionToWrite {
            subject: entry.subject.clone(),
            tenant: parsed.and_then(|p| p.tenant),
            kind: kind.to_string(),
            detail: detail.to_string(),
        };
        self.queues.rejections.insert(entry.seq, rejection);
    }
}

/// True when `devices` are a valid choice of GPU devices on `node` for
/// `request`: as many as it needs, distinct, existing, each with room.
fn devices_fit(node: &Node, request: &Resources, devices: &[u32]) -> bool {
    let wanted = if request.gpus > 0 {
        request.gpus as usize
    } else {
        usize::from(request.gpu_milli > 0)
    };
    let share = gpu_share_milli(request);
    let distinct: BTreeSet<u32> = devices.iter().copied().collect();
    devices.len() == wanted
        && distinct.len() == wanted
        && devices.iter().all(|d| {
            node.gpu_free_milli
                .get(*d as usize)
                .is_some_and(|free| *free >= share)
        })
}

/// When a job on a node reaches its wall-clock limit, if it has one.
fn deadline_ms(job: &Job) -> Option<u64> {
    let limit_ms = job.spec.walltime_s?.saturating_mul(1000);
    Some(job.bound_ms?.saturating_add(limit_ms))
}
