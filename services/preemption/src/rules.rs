//! Which rule lets a waiting job preempt, and which occupants each rule
//! allows as victims.

use crate::view::RoundView;
use rota_events::{PreemptionRule, Preempts, ResourceAmounts};
use rota_projections::accounts::amounts;
use rota_projections::{Job, Occupant, OccupantTerms};

/// A rule as it applies to one preemptor: which occupants it may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowed {
    /// Borrowed capacity of other tenants of the preemptor's cohort.
    Reclaim { tenant: String, parent: usize },
    /// Jobs of strictly lower priority.
    Priority { below: u32 },
    /// The most over-served tenant's jobs, of no higher priority.
    FairShare { tenant: String, at_most: u32 },
}

impl Allowed {
    pub fn rule(&self) -> PreemptionRule {
        match self {
            Allowed::Reclaim { .. } => PreemptionRule::Reclaim,
            Allowed::Priority { .. } => PreemptionRule::Priority,
            Allowed::FairShare { .. } => PreemptionRule::FairShare,
        }
    }

    /// Whether the rule allows `occupant` (with `terms`, of priority
    /// `priority`) as a victim, before protection. The priority rule reads
    /// only the terms.
    pub fn allows(
        &self,
        view: &RoundView<'_>,
        occupant: &Occupant,
        terms: &OccupantTerms,
        priority: u32,
    ) -> bool {
        match self {
            Allowed::Reclaim { tenant, parent } => {
                terms.reclaimable
                    && occupant.tenant != *tenant
                    && parent_of(view, &occupant.tenant) == Some(*parent)
            }
            Allowed::Priority { below } => priority < *below,
            Allowed::FairShare { tenant, at_most } => {
                occupant.tenant == *tenant && priority <= *at_most
            }
        }
    }
}

/// The rules under which `job` may preempt, in the order they are tried:
/// reclaim, then priority, then fair share.
pub fn rules_for(view: &RoundView<'_>, job: &Job) -> Vec<Allowed> {
    let policy = &view.policy.preemption;
    let class = view.class_named(job.spec.priority_class.as_deref());
    let mut rules = Vec::new();
    if policy.reclaim
        && let Some(parent) = below_guarantee(view, job)
    {
        rules.push(Allowed::Reclaim {
            tenant: job.tenant.clone(),
            parent,
        });
    }
    if class.preemption.preempts == Preempts::LowerPriority {
        rules.push(Allowed::Priority {
            below: class.priority,
        });
    }
    if let Some(fair) = &policy.fair_share
        && let Some(tenant) = most_over_served(view, &job.tenant, fair.threshold_milli)
    {
        rules.push(Allowed::FairShare {
            tenant,
            at_most: class.priority,
        });
    }
    rules
}

fn parent_of(view: &RoundView<'_>, tenant: &str) -> Option<usize> {
    let tree = &view.state.accounts.tree;
    tree.index(tenant).and_then(|i| tree.nodes[i].parent)
}

/// The preemptor's tenant's parent in the tree, when the tenant has a
/// guaranteed quota that would still cover what it holds plus the job: it
/// is below its guarantee, and what it lent may be taken back.
fn below_guarantee(view: &RoundView<'_>, job: &Job) -> Option<usize> {
    let accounts = &view.state.accounts;
    let index = accounts.tree.index(&job.tenant)?;
    let node = &accounts.tree.nodes[index];
    let quota = node.quota.as_ref()?;
    let held = accounts
        .tenants
        .get(&job.tenant)
        .map(|account| account.allocated)
        .unwrap_or_default();
    let wanted: ResourceAmounts = held.plus(&amounts(&job.spec.resources));
    let limited = quota.guaranteed.named();
    let within = wanted
        .named()
        .iter()
        .zip(limited)
        .all(|((_, want), (_, guaranteed))| guaranteed.is_none_or(|g| *want <= g));
    let limits_something = limited.iter().any(|(_, g)| g.is_some());
    (within && limits_something).then_some(node.parent?)
}

/// The tenant holding jobs whose fair-share factor is lowest, when the
/// preemptor's tenant's is at least `threshold` above it.
fn most_over_served(view: &RoundView<'_>, tenant: &str, threshold: u32) -> Option<String> {
    let own = view.factor(tenant);
    view.state
        .holding
        .keys()
        .filter(|other| other.as_str() != tenant)
        .map(|other| (view.factor(other), other))
        .min()
        .filter(|(factor, _)| own >= factor.saturating_add(threshold))
        .map(|(_, other)| other.clone())
}
