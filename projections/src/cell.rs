//! The cell's state as the services fold it: the ledger, and every
//! projection beside it.

use crate::accounts::Accounts;
use crate::backlog::Backlog;
use crate::entry::LogEntry;
use crate::job::Job;
use crate::ledger::Ledger;
use crate::node::Node;
use crate::nominations::Nominations;
use crate::occupants::Occupants;
use crate::placement_index::PlacementIndex;
use crate::projection::{Projection, Refused};
use rota_events::{JobNominated, TenantConfig};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::Deref;

/// The ledger with admission's backlog, placement's indexes, the tenants'
/// accounts and the preemptors' nominations beside it: what every service folds. It reads as its
/// ledger (`state.jobs`, `state.nodes`), so that code which needs only the
/// ledger takes a `&Ledger` and is given either.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellState {
    pub ledger: Ledger,
    pub backlog: Backlog,
    pub placement: PlacementIndex,
    /// Tenants: the tree and fair-share policy, usage, holdings, factors.
    pub accounts: Accounts,
    /// Room held for preemptors.
    pub nominations: Nominations,
    /// The running jobs a preemption could stop, by node.
    pub occupants: Occupants,
}

impl Deref for CellState {
    type Target = Ledger;

    fn deref(&self) -> &Ledger {
        &self.ledger
    }
}

impl CellState {
    pub fn new(cell: impl Into<String>) -> CellState {
        CellState {
            ledger: Ledger::new(cell),
            backlog: Backlog::default(),
            placement: PlacementIndex::default(),
            accounts: Accounts::default(),
            nominations: Nominations::default(),
            occupants: Occupants::default(),
        }
    }

    /// Folds one entry into the ledger and every projection. Entries must
    /// come in stream order, each once.
    pub fn apply(&mut self, entry: &LogEntry) {
        let mut beside = Beside {
            backlog: &mut self.backlog,
            placement: &mut self.placement,
            accounts: &mut self.accounts,
            nominations: &mut self.nominations,
            occupants: &mut self.occupants,
        };
        self.ledger.apply_with(entry, &mut beside);
    }
}

/// The projections of a [`CellState`], told together.
struct Beside<'a> {
    backlog: &'a mut Backlog,
    placement: &'a mut PlacementIndex,
    accounts: &'a mut Accounts,
    nominations: &'a mut Nominations,
    occupants: &'a mut Occupants,
}

impl Beside<'_> {
    /// Tells every projection the same change.
    fn each(&mut self, mut tell: impl FnMut(&mut dyn Projection)) {
        tell(self.backlog);
        tell(self.placement);
        tell(self.accounts);
        tell(self.nominations);
        tell(self.occupants);
    }
}

impl Projection for Beside<'_> {
    fn submission_awaits(&mut self, seq: u64, job: &str) {
        self.each(|p| p.submission_awaits(seq, job));
    }

    fn input_answered(&mut self, seq: u64) {
        self.each(|p| p.input_answered(seq));
    }

    fn admission_done(&mut self, job: &Job) {
        self.each(|p| p.admission_done(job));
    }

    fn queued(&mut self, id: &str, job: &Job) {
        self.each(|p| p.queued(id, job));
    }

    fn dequeued(&mut self, id: &str, job: &Job) {
        self.each(|p| p.dequeued(id, job));
    }

    fn placed(&mut self, id: &str, job: &Job, now_ms: u64) {
        self.each(|p| p.placed(id, job, now_ms));
    }

    fn released(&mut self, id: &str, job: &Job, now_ms: u64) {
        self.each(|p| p.released(id, job, now_ms));
    }

    fn stopping(&mut self, id: &str, job: &Job) {
        self.each(|p| p.stopping(id, job));
    }

    fn stopped_at_limit(&mut self, id: &str, job: &Job) {
        self.each(|p| p.stopped_at_limit(id, job));
    }

    fn nodes_changed(&mut self, seq: u64) {
        self.each(|p| p.nodes_changed(seq));
    }

    fn node_ready(&mut self, node: &Node) {
        self.each(|p| p.node_ready(node));
    }

    fn node_unready(&mut self, node: &Node) {
        self.each(|p| p.node_unready(node));
    }

    fn refused(&mut self, refused: Refused<'_>) {
        self.each(|p| p.refused(refused));
    }

    fn tenants_set(&mut self, config: &TenantConfig, now_ms: u64, holding: &[&Job]) {
        self.each(|p| p.tenants_set(config, now_ms, holding));
    }

    fn factors_published(&mut self, factors: &BTreeMap<String, u32>, now_ms: u64) {
        self.each(|p| p.factors_published(factors, now_ms));
    }

    fn nominated(&mut self, nominated: &JobNominated) {
        self.each(|p| p.nominated(nominated));
    }

    fn nomination_lapsed(&mut self, job: &str) {
        self.each(|p| p.nomination_lapsed(job));
    }
}
