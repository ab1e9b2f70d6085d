//! The contract between the ledger and the projections beside it. The
//! ledger says what it changed, as it changes it; a projection keeps an
//! index or a queue of one concern up to date from those changes and never
//! reads the log itself. A reader composes the projections it needs (the
//! services all of them, an agent or the clock none), and every reader's
//! ledger is the same.

use crate::job::Job;
use crate::node::Node;
use rota_events::{JobNominated, TenantConfig};
use std::collections::BTreeMap;

/// A refusal the ledger made of one entry, which admission answers with an
/// `input.rejected`.
#[derive(Debug, Clone, Copy)]
pub struct Refused<'a> {
    pub seq: u64,
    pub subject: &'a str,
    pub tenant: Option<&'a str>,
    pub kind: &'a str,
    pub detail: &'a str,
}

/// What the ledger tells the projections beside it. Every method does
/// nothing unless a projection cares.
#[allow(unused_variables)]
pub trait Projection {
    /// A new job awaits admission; its submission is at `seq`.
    fn submission_awaits(&mut self, seq: u64, job: &str) {}

    /// Admission answered the unusable message at `seq`.
    fn input_answered(&mut self, seq: u64) {}

    /// Admission decided about `job`, which awaited it.
    fn admission_done(&mut self, job: &Job) {}

    /// `job` (id `id`) now waits for a node: admitted, or put back.
    fn queued(&mut self, id: &str, job: &Job) {}

    /// `job` no longer waits for a node: bound or cancelled. Called while
    /// it is still pending.
    fn dequeued(&mut self, id: &str, job: &Job) {}

    /// `job` now holds resources on its node, since `now_ms`.
    fn placed(&mut self, id: &str, job: &Job, now_ms: u64) {}

    /// `job` releases its node at `now_ms`. Called while it still holds it.
    fn released(&mut self, id: &str, job: &Job, now_ms: u64) {}

    /// `job`, on a node, is being stopped: cancelled, past its limit or
    /// preempted. Called once it is in its stopping state.
    fn stopping(&mut self, id: &str, job: &Job) {}

    /// Placement stopped `job` at its wall-clock limit.
    fn stopped_at_limit(&mut self, id: &str, job: &Job) {}

    /// Which nodes are ready, or what a node is, changed at `seq`.
    fn nodes_changed(&mut self, seq: u64) {}

    /// `node` began taking work.
    fn node_ready(&mut self, node: &Node) {}

    /// `node`, which took work, no longer does: drained, lost, or
    /// registered again.
    fn node_unready(&mut self, node: &Node) {}

    /// The ledger refused an entry.
    fn refused(&mut self, refused: Refused<'_>) {}

    /// A valid tenant configuration took effect at `now_ms`; `holding` are
    /// the jobs on nodes.
    fn tenants_set(&mut self, config: &TenantConfig, now_ms: u64, holding: &[&Job]) {}

    /// The preemption service holds room for a waiting job.
    fn nominated(&mut self, nominated: &JobNominated) {}

    /// The room held for `job` is held no longer.
    fn nomination_lapsed(&mut self, job: &str) {}

    /// The fair-share service published `factors` at `now_ms`.
    fn factors_published(&mut self, factors: &BTreeMap<String, u32>, now_ms: u64) {}
}

/// No projection at all: what an agent or the clock keeps beside its
/// ledger.
impl Projection for () {}
