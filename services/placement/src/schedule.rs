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
//! Jobs larger than every ready node's whole capacity can never start and
//! are passed over rather than blocking the queue.

use crate::capacity::FreeCapacity;
use crate::timeline::Timeline;
use crate::{CONSERVATIVE_RESERVATIONS_MAX, ROUND_JOBS_SCANNED_MAX};
use rota_events::{Backfill, Body, JobBound, Resources};
use rota_projections::{CellState, Draft, Job};
use std::collections::BTreeMap;

/// Where and when a waiting job is promised to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub job: String,
    pub node: String,
    pub start_ms: u64,
}

/// The bindings of one round, at most `room` of them.
pub fn bindings(state: &CellState, room: usize) -> Vec<Draft> {
    let mut round = Round {
        state,
        free: FreeCapacity::of(state),
        drafts: Vec::new(),
        room,
    };
    match state.policy.backfill {
        Backfill::Fcfs => round.fcfs(),
        Backfill::Easy => round.easy(),
        Backfill::Conservative => {
            round.conservative();
        }
    }
    round.drafts
}

/// The reservation EASY would give the first job that cannot start now, in
/// the state as it is (for explanations and for checking that backfill never
/// delays it).
pub fn head_reservation(state: &CellState) -> Option<Reservation> {
    let free = FreeCapacity::of(state);
    let (id, job) = queue(state).find(|(_, job)| {
        free.first_fit(&job.spec.resources).is_none() && free.could_ever_fit(&job.spec.resources)
    })?;
    let (node, start_ms, _) = reserve_earliest(state, &free, job)?;
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
            let mut round = Round {
                state,
                free: FreeCapacity::of(state),
                drafts: Vec::new(),
                room: usize::MAX,
            };
            round.conservative()
        }
    }
}

/// Pending jobs in queue order, as far as a round looks.
fn queue(state: &CellState) -> impl Iterator<Item = (&String, &Job)> {
    state
        .pending
        .values()
        .take(ROUND_JOBS_SCANNED_MAX)
        .map(|id| (id, &state.jobs[id]))
}

/// The node where `job` can start earliest given what runs now, with that
/// time and what the node will have left over then.
fn reserve_earliest<'a>(
    state: &'a CellState,
    free: &FreeCapacity<'a>,
    job: &Job,
) -> Option<(&'a str, u64, Resources)> {
    let request = &job.spec.resources;
    let estimate = state.estimate_ms(job);
    free.nodes()
        .filter_map(|(node, free_now)| {
            let bound = free
                .bound_this_round
                .get(node)
                .map_or(&[][..], Vec::as_slice);
            let timeline = Timeline::of_node(state, node, free_now, bound);
            let start = timeline.earliest_start(request, estimate)?;
            Some((start, node, timeline.free_at(start).minus(request)))
        })
        .min_by_key(|(start, node, _)| (*start, *node))
        .map(|(start, node, left)| (node, start, left))
}

struct Round<'a> {
    state: &'a CellState,
    free: FreeCapacity<'a>,
    drafts: Vec<Draft>,
    room: usize,
}

impl<'a> Round<'a> {
    fn full(&self) -> bool {
        self.drafts.len() >= self.room || self.free.is_empty()
    }

    fn end_ms(&self, job: &Job) -> u64 {
        self.state
            .now_ms
            .saturating_add(self.state.estimate_ms(job))
    }

    fn bind(&mut self, id: &str, job: &Job, node: &'a str) {
        let end = self.end_ms(job);
        self.free.bind(node, &job.spec.resources, end);
        self.drafts.push(Draft {
            tenant: Some(job.tenant.clone()),
            causation_id: Some(job.submission_id.clone()),
            body: Body::JobBound(JobBound {
                job: id.to_string(),
                node: node.to_string(),
                resources: job.spec.resources,
            }),
        });
    }

    fn fcfs(&mut self) {
        for (id, job) in queue(self.state) {
            if self.full() {
                return;
            }
            match self.free.first_fit(&job.spec.resources) {
                Some(node) => self.bind(id, job, node),
                None if self.free.could_ever_fit(&job.spec.resources) => return,
                None => continue,
            }
        }
    }

    fn easy(&mut self) {
        // The head's reservation: node, start, and what it leaves over there.
        let mut reserved: Option<(&'a str, u64, Resources)> = None;
        for (id, job) in queue(self.state) {
            if self.full() {
                return;
            }
            let request = job.spec.resources;
            let Some((reserved_node, start, left)) = reserved.as_mut() else {
                match self.free.first_fit(&request) {
                    Some(node) => self.bind(id, job, node),
                    None if self.free.could_ever_fit(&request) => {
                        reserved = reserve_earliest(self.state, &self.free, job);
                    }
                    None => {}
                }
                continue;
            };
            let ends_in_time = self.end_ms(job) <= *start;
            let fits_left = request.fits_within(left);
            let chosen = self.free.first_fit_where(&request, |node| {
                node != *reserved_node || ends_in_time || fits_left
            });
            if let Some(node) = chosen {
                if node == *reserved_node && !ends_in_time {
                    *left = left.minus(&request);
                }
                self.bind(id, job, node);
            }
        }
    }

    /// Binds what can start now and returns the reservations of the rest.
    fn conservative(&mut self) -> Vec<Reservation> {
        let mut timelines: BTreeMap<&'a str, Timeline> = self
            .free
            .nodes()
            .map(|(node, free_now)| (node, Timeline::of_node(self.state, node, free_now, &[])))
            .collect();
        let now = self.state.now_ms;
        let mut reserved = Vec::new();
        for (id, job) in queue(self.state) {
            if self.full() || reserved.len() >= CONSERVATIVE_RESERVATIONS_MAX {
                break;
            }
            let request = job.spec.resources;
            let estimate = self.state.estimate_ms(job);
            let earliest = timelines
                .iter()
                .filter_map(|(node, timeline)| {
                    Some((timeline.earliest_start(&request, estimate)?, *node))
                })
                .min();
            let Some((start, node)) = earliest else {
                continue;
            };
            let end = start.saturating_add(estimate.max(1));
            timelines
                .get_mut(node)
                .expect("from the map")
                .reserve(start, end, &request);
            if start == now {
                self.bind(id, job, node);
            } else {
                reserved.push(Reservation {
                    job: id.clone(),
                    node: node.to_string(),
                    start_ms: start,
                });
            }
        }
        reserved
    }
}
