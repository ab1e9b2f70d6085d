//! Quotas and hard limits: whether a tenant may start one more job.
//!
//! A quota is checked at every tenant from the job's up to the root's child
//! that has one, among that tenant's *cohort*: its siblings that have
//! quotas too (Kueue's semantics). Each member keeps for itself its
//! guaranteed quota less what it lends; the rest of the cohort's guarantees
//! is a pool any member may draw on, up to its `max`. A member using more
//! than its guarantee is *borrowing*, and what it runs beyond its guarantee
//! is reclaimable by the members it borrowed from. A member that wants its
//! own lent quota back waits until the borrower's work ends (or, later, is
//! preempted): it is never overcommitted.

use super::tree::TenantTree;
use rota_events::{Quota, ResourceAmounts};

/// What each tree node's subtree holds and runs, as one round sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holdings {
    pub allocated: Vec<ResourceAmounts>,
    pub running: Vec<u32>,
}

impl Holdings {
    /// Counts one more job holding `request` for tenant node `node`.
    pub fn add(&mut self, tree: &TenantTree, node: usize, request: &ResourceAmounts) {
        for i in tree.ancestry(node) {
            self.allocated[i] = self.allocated[i].plus(request);
            self.running[i] += 1;
        }
    }
}

/// Whether a tenant may start a job now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It may; `borrowing` when it would use quota beyond its guarantee.
    Fits { borrowing: bool },
    /// It must wait; the reason says which limit or quota, with the values.
    Held(String),
}

/// What a quota member keeps for itself: its guarantee less what it lends.
fn own(quota: &Quota) -> ResourceAmounts {
    let lendable = quota.lending_limit.unwrap_or(quota.guaranteed);
    quota.guaranteed.minus(&lendable)
}

/// The lendable part of a member's guarantee.
fn lendable(quota: &Quota) -> ResourceAmounts {
    quota.guaranteed.minus(&own(quota))
}

/// May tenant node `node` start a job holding `request`, given `holdings`?
pub fn check(
    tree: &TenantTree,
    holdings: &Holdings,
    node: usize,
    request: &ResourceAmounts,
) -> Verdict {
    let mut borrowing = false;
    for i in tree.ancestry(node) {
        let tenant = &tree.nodes[i];
        let held = &holdings.allocated[i];
        if let Some(max) = tenant.limits.max_running_jobs
            && holdings.running[i] >= max
        {
            return Verdict::Held(format!(
                "tenant {} runs {} jobs, its max_running_jobs; it starts more when some end",
                tenant.name, holdings.running[i]
            ));
        }
        if let Some(max) = &tenant.limits.max_resources
            && let Some(reason) = over(held, request, max)
        {
            return Verdict::Held(format!("tenant {}'s max_resources: {reason}", tenant.name));
        }
        let Some(quota) = &tenant.quota else {
            continue;
        };
        if let Some(max) = &quota.max
            && let Some(reason) = over(held, request, max)
        {
            return Verdict::Held(format!("tenant {}'s maximum quota: {reason}", tenant.name));
        }
        if let Some(reason) = pool_short(tree, holdings, i, request) {
            return Verdict::Held(format!("tenant {}'s quota: {reason}", tenant.name));
        }
        let after = held.plus(request);
        borrowing |= after
            .named()
            .iter()
            .zip(quota.guaranteed.named())
            .any(|((_, used), (_, guaranteed))| *used > guaranteed);
    }
    Verdict::Fits { borrowing }
}

/// Why `held` plus `request` exceeds `max` in some resource, if it does.
fn over(
    held: &ResourceAmounts,
    request: &ResourceAmounts,
    max: &ResourceAmounts,
) -> Option<String> {
    held.named()
        .iter()
        .zip(request.named())
        .zip(max.named())
        .find(|(((_, held), (_, asked)), (_, max))| held.saturating_add(*asked) > *max)
        .map(|(((name, held), (_, asked)), (_, max))| {
            format!("{name} {held} in use + {asked} asked exceeds {max}")
        })
}

/// Why the cohort of tenant node `i` cannot cover `request` beyond what
/// `i` keeps for itself, if it cannot.
fn pool_short(
    tree: &TenantTree,
    holdings: &Holdings,
    i: usize,
    request: &ResourceAmounts,
) -> Option<String> {
    let parent = tree.nodes[i].parent?;
    let members: Vec<(usize, &Quota)> = tree.nodes[parent]
        .children
        .iter()
        .filter_map(|m| tree.nodes[*m].quota.as_ref().map(|q| (*m, q)))
        .collect();
    let quota = tree.nodes[i].quota.as_ref()?;
    let keep = own(quota);
    let held = holdings.allocated[i];
    for (r, (name, asked)) in request.named().iter().enumerate() {
        let pool: u64 = members.iter().map(|(_, q)| lendable(q).named()[r].1).sum();
        let drawn: u64 = members
            .iter()
            .map(|(m, q)| {
                holdings.allocated[*m].named()[r]
                    .1
                    .saturating_sub(own(q).named()[r].1)
            })
            .sum();
        let own_r = keep.named()[r].1;
        let held_r = held.named()[r].1;
        let before = held_r.saturating_sub(own_r);
        let after = held_r.saturating_add(*asked).saturating_sub(own_r);
        if drawn - before + after > pool {
            let guaranteed = quota.guaranteed.named()[r].1;
            return Some(format!(
                "{name} {held_r} in use + {asked} asked; it is guaranteed {guaranteed} and its cohort's pool of {pool} has {} free",
                pool.saturating_sub(drawn)
            ));
        }
    }
    None
}

/// Why a job asking `request` could never start for tenant node `node`,
/// whatever else runs: it exceeds a maximum quota or `max_resources`, or a
/// quota's guarantee plus everything its cohort could lend.
pub fn never_fits(tree: &TenantTree, node: usize, request: &ResourceAmounts) -> Option<String> {
    let none = ResourceAmounts::default();
    for i in tree.ancestry(node) {
        let tenant = &tree.nodes[i];
        if let Some(max) = &tenant.limits.max_resources
            && let Some(reason) = over(&none, request, max)
        {
            return Some(format!("tenant {}'s max_resources: {reason}", tenant.name));
        }
        let Some(quota) = &tenant.quota else {
            continue;
        };
        let reachable = match &quota.max {
            Some(max) => *max,
            None => {
                let parent = tenant.parent.expect("tenants have parents");
                let others: ResourceAmounts = tree.nodes[parent]
                    .children
                    .iter()
                    .filter(|m| **m != i)
                    .filter_map(|m| tree.nodes[*m].quota.as_ref())
                    .fold(ResourceAmounts::default(), |sum, q| sum.plus(&lendable(q)));
                quota.guaranteed.plus(&others)
            }
        };
        if let Some(reason) = over(&none, request, &reachable) {
            return Some(format!(
                "tenant {}'s quota can never cover it: {reason}",
                tenant.name
            ));
        }
    }
    None
}

/// What tenant node `i` borrows now: what it holds beyond its guarantee,
/// reclaimable by its cohort.
pub fn borrowed(tree: &TenantTree, holdings: &Holdings, i: usize) -> ResourceAmounts {
    match &tree.nodes[i].quota {
        Some(quota) => holdings.allocated[i].minus(&quota.guaranteed),
        None => ResourceAmounts::default(),
    }
}
