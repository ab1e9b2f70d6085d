//! What one round knows about tenants: each tenant's fair-share factor and
//! whether its quotas and limits let it start another job, kept current as
//! the round binds.
//!
//! Under classic and Fair Tree fair share the factor is the one the
//! fair-share service last published (neutral for a tenant it has not
//! named). Under DRF the factor follows what the tenant holds, which every
//! binding changes, so placement computes it itself, with the same function
//! the fair-share service publishes: binding a job lowers its tenant's
//! factor before the next job is chosen, which is DRF's progressive filling.

use crate::queue::FAIR_SHARE_NEUTRAL;
use rota_events::{FairShareMode, ResourceAmounts};
use rota_projections::accounts::fairness::drf_factor;
use rota_projections::accounts::quota::{Holdings, Verdict, check};
use rota_projections::accounts::{amounts, ready_capacity};
use rota_projections::{CellState, Job};

/// The round's view of tenants.
pub struct Tenancy<'a> {
    state: &'a CellState,
    /// DRF's inputs, when the mode is DRF: each tree node's normalised
    /// shares and own allocation, and the ready nodes' capacity.
    drf: Option<DrfView>,
    /// Subtree holdings, when any tenant has a quota or limit.
    holdings: Option<Holdings>,
}

struct DrfView {
    shares: Vec<f64>,
    allocated: Vec<ResourceAmounts>,
    capacity: ResourceAmounts,
}

impl<'a> Tenancy<'a> {
    pub fn of(state: &'a CellState) -> Tenancy<'a> {
        let accounts = &state.accounts;
        let tree = &accounts.tree;
        let drf = (accounts.config.fair_share.mode == FairShareMode::Drf).then(|| DrfView {
            shares: tree.normalized_shares(),
            allocated: accounts.own_allocated(),
            capacity: ready_capacity(state),
        });
        let limited = tree
            .nodes
            .iter()
            .any(|node| node.quota.is_some() || !node.limits.is_empty());
        let holdings = limited.then(|| accounts.holdings());
        Tenancy {
            state,
            drf,
            holdings,
        }
    }

    /// The fair-share factor of `tenant` now (0 to 1000).
    pub fn fair_share_factor(&self, tenant: &str) -> u64 {
        let accounts = &self.state.accounts;
        if let Some(drf) = &self.drf {
            return match accounts.tree.index(tenant) {
                Some(i) => u64::from(drf_factor(&drf.allocated[i], &drf.capacity, drf.shares[i])),
                None => FAIR_SHARE_NEUTRAL,
            };
        }
        accounts
            .factors
            .get(tenant)
            .map_or(FAIR_SHARE_NEUTRAL, |factor| u64::from(*factor))
    }

    /// True when binding a job changes its tenant's factor within a round.
    pub fn factors_follow_bindings(&self) -> bool {
        self.drf.is_some()
    }

    /// Whether `job`'s tenant may start it now.
    pub fn verdict(&self, job: &Job) -> Verdict {
        let (Some(holdings), Some(node)) = (&self.holdings, self.tenant_node(job)) else {
            return Verdict::Fits { borrowing: false };
        };
        check(
            &self.state.accounts.tree,
            holdings,
            node,
            &amounts(&job.spec.resources),
        )
    }

    fn tenant_node(&self, job: &Job) -> Option<usize> {
        self.state.accounts.tree.index(&job.tenant)
    }

    /// Counts a binding of this round.
    pub fn note_bound(&mut self, job: &Job) {
        let Some(node) = self.tenant_node(job) else {
            return;
        };
        let request = amounts(&job.spec.resources);
        if let Some(drf) = &mut self.drf {
            drf.allocated[node] = drf.allocated[node].plus(&request);
        }
        if let Some(holdings) = &mut self.holdings {
            holdings.add(&self.state.accounts.tree, node, &request);
        }
    }
}
