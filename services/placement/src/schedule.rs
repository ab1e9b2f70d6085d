//! Binding pending jobs under the backfill policy in force.
//!
//! - FCFS: bind in queue order until a job fits nowhere; nothing passes it.
//! - EASY: as FCFS until the first job that fits nowhere (the head). The head
//!   gets a reservation: the earliest time some node will have room for it,
//!   counting running jobs' expected ends. Later jobs start now only where
//!   they do not delay it: on another node, or on the reserved node if they
//!   end before the reservation or fit in what the head leaves over.
//! - Conservative: every job in queue order (up to
//!   [`crate::CONSERVATIVE_RESERVATIONS_MAX`] reservations) gets the earliest
//!   start that delays no earlier reservation; those whose start is now are
//!   bound.
//!
//! Jobs that no ready node could ever take (too large, or refused by every
//! node's filters) are passed over rather than blocking the queue. So are,
//! under EASY, jobs that cannot be given a reservation because where other
//! jobs run keeps them off every node that could take them (affinity,
//! anti-affinity, spread): the next waiting job becomes the head, up to
//! [`crate::EASY_RESERVATION_ATTEMPTS_MAX`] times a round; after that the
//! round backfills without a reservation.
//! Reservations count GPUs as thousandths summed over a node's devices.

use crate::capacity::{Choice, FreeCapacity, RoundMemory};
use crate::queue::Queue;
use crate::timeline::{Free, Timeline};
use crate::{CONSERVATIVE_RESERVATIONS_MAX, EASY_RESERVATION_ATTEMPTS_MAX, ROUND_JOBS_SCANNED_MAX};
use rota_events::{Backfill, Body, JobBound};
use rota_projections::accounts::quota::Verdict;
use rota_projections::{CellState, Draft, Job};
use std::collections::BTreeMap;

/// Where and when a waiting job is promised to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub job: String,
    pub node: String,
    pub start_ms: u64,
}

/// The bindings of one round, at most `room` of them, with what the round
/// learnt (from `memory`, what earlier rounds learnt).
pub fn bindings(state: &CellState, room: usize, memory: RoundMemory) -> (Vec<Draft>, RoundMemory) {
    let mut round = Round::new(state, FreeCapacity::with_memory(state, memory), room);
    match state.policy.backfill {
        Backfill::Fcfs => round.fcfs(),
        Backfill::Easy => round.easy(),
        Backfill::Conservative => {
            round.conservative();
        }
    }
    (round.drafts, round.free.into_memory())
}

/// The reservation EASY would give the first job that cannot start now, in
/// the state as it is (for explanations and for checking that backfill never
/// delays it).
pub fn head_reservation(state: &CellState) -> Option<Reservation> {
    let mut round = Round::new(state, FreeCapacity::of(state), 0);
    let (id, job) = loop {
        let (id, job, _) = round.next_job()?;
        if round.free.choose(id, job, None).is_none() && round.free.could_ever_fit(job) {
            break (id, job);
        }
    };
    let (node, start_ms, _) = reserve_earliest(state, &round.free, job)?;
    Some(Reservation {
        job: id.clone(),
        node: node.to_string(),
        start_ms,
    })
}

/// The reservations the policy in force gives waiting jobs in the state as
/// it is: the head's under FCFS (its expected start) and EASY, every
/// reserved job's under conservative backfill.
pub fn reservations(state: &CellState) -> Vec<Reservation> {
    match state.policy.backfill {
        Backfill::Fcfs | Backfill::Easy => head_reservation(state).into_iter().collect(),
        Backfill::Conservative => {
            Round::new(state, FreeCapacity::of(state), usize::MAX).conservative()
        }
    }
}

/// A node's timeline for reservations, with this round's bindings there.
fn timeline_of<'a>(state: &'a CellState, free: &FreeCapacity<'a>, node: &str) -> Timeline {
    let bound = free
        .bound_this_round
        .get(node)
        .map_or(&[][..], Vec::as_slice);
    Timeline::of_node(state, node, free.free_now(node), bound)
}

/// The node where `job` can start earliest given what runs now, with that
/// time and what the node will have left over then.
fn reserve_earliest<'a>(
    state: &'a CellState,
    free: &FreeCapacity<'a>,
    job: &'a Job,
) -> Option<(&'a str, u64, Free)> {
    let request = &job.spec.resources;
    let estimate = state.estimate_ms(job);
    free.nodes_ever_fitting(job)
        .into_iter()
        .filter_map(|node| {
            let timeline = timeline_of(state, free, node);
            let start = timeline.earliest_start(request, estimate)?;
            let end = start.saturating_add(estimate.max(1));
            let devices = timeline.devices_throughout(start, end, request)?;
            let mut left = timeline.free_at(start).clone();
            left.take(request, &devices);
            Some((start, node, left))
        })
        .min_by(|(a, a_node, _), (b, b_node, _)| (a, a_node).cmp(&(b, b_node)))
        .map(|(start, node, left)| (node, start, left))
}

struct Round<'a> {
    state: &'a CellState,
    free: FreeCapacity<'a>,
    queue: Queue<'a>,
    /// Pending jobs taken from the queue so far.
    scanned: usize,
    drafts: Vec<Draft>,
    room: usize,
}

impl<'a> Round<'a> {
    fn new(state: &'a CellState, free: FreeCapacity<'a>, room: usize) -> Round<'a> {
        Round {
            state,
            free,
            queue: Queue::of(state),
            scanned: 0,
            drafts: Vec::new(),
            room,
        }
    }

    /// The next pending job in queue order that its tenant's quotas and
    /// limits let start, as far as a round looks, with whether it would
    /// borrow quota. Held jobs are passed over: they cannot start whatever
    /// the nodes have, so they neither start nor block others.
    fn next_job(&mut self) -> Option<(&'a String, &'a Job, bool)> {
        while self.scanned < ROUND_JOBS_SCANNED_MAX {
            let (id, job) = self.queue.next()?;
            self.scanned += 1;
            if let Verdict::Fits { borrowing } = self.queue.verdict(job) {
                return Some((id, job, borrowing));
            }
        }
        None
    }

    fn full(&self) -> bool {
        self.drafts.len() >= self.room || self.free.is_empty()
    }

    fn end_ms(&self, job: &Job) -> u64 {
        self.state
            .now_ms
            .saturating_add(self.state.estimate_ms(job))
    }

    fn bind(&mut self, id: &str, job: &'a Job, choice: Choice<'a>, borrowing: bool) {
        let end = self.end_ms(job);
        self.free.bind(&choice, job, end);
        self.queue.note_bound(job);
        self.drafts.push(Draft {
            tenant: Some(job.tenant.clone()),
            causation_id: Some(job.submission_id.clone()),
            body: Body::JobBound(JobBound {
                job: id.to_string(),
                node: choice.node.to_string(),
                resources: job.spec.resources,
                gpu_devices: choice.devices,
                reclaimable: borrowing,
            }),
        });
    }

    fn fcfs(&mut self) {
        while let Some((id, job, borrowing)) = self.next_job() {
            if self.full() {
                return;
            }
            match self.free.choose(id, job, None) {
                Some(choice) => self.bind(id, job, choice, borrowing),
                None if self.free.could_ever_fit(job) => return,
                None => continue,
            }
        }
    }

    fn easy(&mut self) {
        // The head's reservation: node, start, and what it leaves over there.
        let mut reserved: Option<(&'a str, u64, Free)> = None;
        let mut attempts = 0;
        while let Some((id, job, borrowing)) = self.next_job() {
            if self.full() {
                return;
            }
            let Some((reserved_node, start, left)) = reserved.as_mut() else {
                match self.free.choose(id, job, None) {
                    Some(choice) => self.bind(id, job, choice, borrowing),
                    None if attempts < EASY_RESERVATION_ATTEMPTS_MAX
                        && self.free.could_ever_fit(job) =>
                    {
                        attempts += 1;
                        reserved = reserve_earliest(self.state, &self.free, job);
                    }
                    None => {}
                }
                continue;
            };
            let request = &job.spec.resources;
            let ends_in_time = self.end_ms(job) <= *start;
            // On the reserved node, a job that runs past the reservation's
            // start must leave the reserved job its room: it takes devices
            // free both now and in what is left at the start.
            let devices_beside_reservation = (!ends_in_time)
                .then(|| {
                    let mut both = self.free.free_now(reserved_node);
                    both.meet(left);
                    both.devices_for(request)
                })
                .flatten();
            let reserved_name: &str = reserved_node;
            let allowed = |node: &str| {
                node != reserved_name || ends_in_time || devices_beside_reservation.is_some()
            };
            let Some(mut choice) = self.free.choose(id, job, Some(&allowed)) else {
                continue;
            };
            if choice.node == *reserved_node && !ends_in_time {
                let devices = devices_beside_reservation.expect("allowed only with devices");
                left.take(request, &devices);
                choice.devices = devices;
            }
            self.bind(id, job, choice, borrowing);
        }
    }

    /// Binds what can start now and returns the reservations of the rest.
    fn conservative(&mut self) -> Vec<Reservation> {
        let mut timelines: BTreeMap<&'a str, Timeline> = self
            .free
            .names()
            .iter()
            .map(|node| (*node, timeline_of(self.state, &self.free, node)))
            .collect();
        let now = self.state.now_ms;
        let mut reserved = Vec::new();
        while let Some((id, job, borrowing)) = self.next_job() {
            if self.full() || reserved.len() >= CONSERVATIVE_RESERVATIONS_MAX {
                break;
            }
            let request = &job.spec.resources;
            let estimate = self.state.estimate_ms(job);
            // A job starts now wherever the node choice allows it without
            // taking resources a reservation holds there.
            let free_for_the_whole_run =
                |node: &str| timelines[node].earliest_start(request, estimate) == Some(now);
            let mut starts_now = self.free.choose(id, job, Some(&free_for_the_whole_run));
            let earliest = match &starts_now {
                Some(choice) => Some((now, choice.node)),
                None => self
                    .free
                    .nodes_ever_fitting(job)
                    .into_iter()
                    .filter_map(|node| {
                        Some((timelines[node].earliest_start(request, estimate)?, node))
                    })
                    .min(),
            };
            let Some((start, node)) = earliest else {
                continue;
            };
            let end = start.saturating_add(estimate.max(1));
            let timeline = timelines.get_mut(node).expect("from the map");
            let devices = timeline
                .devices_throughout(start, end, request)
                .expect("it fits from its earliest start");
            timeline.reserve(start, end, request, &devices);
            // A job starting now holds the devices that stay free for its
            // whole run, which are free now too.
            if let Some(choice) = starts_now.as_mut() {
                choice.devices = devices;
            }
            match starts_now {
                Some(choice) => self.bind(id, job, choice, borrowing),
                None => reserved.push(Reservation {
                    job: id.clone(),
                    node: node.to_string(),
                    start_ms: start,
                }),
            }
        }
        reserved
    }
}
