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
use rota_events::{Quota, ResourceAmounts, ResourceLimits};

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

/// A quota's terms for one resource (by its index in
/// `ResourceAmounts::named`), if it limits that resource: (guaranteed,
/// max, what it lends).
fn terms(quota: &Quota, r: usize) -> Option<(u64, Option<u64>, u64)> {
    let guaranteed = quota.guaranteed.named()[r].1?;
    let max = quota.max.named()[r].1;
    let lends = quota.lending_limit.named()[r]
        .1
        .unwrap_or(guaranteed)
        .min(guaranteed);
    Some((guaranteed, max, lends))
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
        if let Some(reason) = over(held, request, &tenant.limits.max_resources) {
            return Verdict::Held(format!("tenant {}'s max_resources: {reason}", tenant.name));
        }
        let Some(quota) = &tenant.quota else {
            continue;
        };
        if let Some(reason) = over(held, request, &quota.max) {
            return Verdict::Held(format!("tenant {}'s maximum quota: {reason}", tenant.name));
        }
        if let Some(reason) = pool_short(tree, holdings, i, request) {
            return Verdict::Held(format!("tenant {}'s quota: {reason}", tenant.name));
        }
        let after = held.plus(request).named();
        borrowing |=
            (0..after.len()).any(|r| terms(quota, r).is_some_and(|(g, _, _)| after[r].1 > g));
    }
    Verdict::Fits { borrowing }
}

/// Why `held` plus `request` exceeds `limits` in a resource it limits, if it
/// does.
fn over(
    held: &ResourceAmounts,
    request: &ResourceAmounts,
    limits: &ResourceLimits,
) -> Option<String> {
    held.named()
        .iter()
        .zip(request.named())
        .zip(limits.named())
        .find_map(|(((name, held), (_, asked)), (_, max))| {
            let max = max?;
            (held.saturating_add(asked) > max)
                .then(|| format!("{name} {held} in use + {asked} asked exceeds {max}"))
        })
}

/// Why the cohort of tenant node `i` cannot cover `request` beyond what
/// `i` keeps for itself, if it cannot. The cohort, per resource, is `i`'s
/// siblings whose quotas limit that resource.
fn pool_short(
    tree: &TenantTree,
    holdings: &Holdings,
    i: usize,
    request: &ResourceAmounts,
) -> Option<String> {
    let parent = tree.nodes[i].parent?;
    let quota = tree.nodes[i].quota.as_ref()?;
    let held = holdings.allocated[i].named();
    for (r, (name, asked)) in request.named().iter().enumerate() {
        let Some((guaranteed, _, lends)) = terms(quota, r) else {
            continue;
        };
        let (mut pool, mut drawn) = (0u64, 0u64);
        for member in &tree.nodes[parent].children {
            let Some(terms) = tree.nodes[*member].quota.as_ref().and_then(|q| terms(q, r)) else {
                continue;
            };
            let (member_guaranteed, _, member_lends) = terms;
            let keeps = member_guaranteed - member_lends;
            pool += member_lends;
            drawn += holdings.allocated[*member].named()[r]
                .1
                .saturating_sub(keeps);
        }
        let keeps = guaranteed - lends;
        let before = held[r].1.saturating_sub(keeps);
        let after = held[r].1.saturating_add(*asked).saturating_sub(keeps);
        if drawn - before + after > pool {
            return Some(format!(
                "{name} {} in use + {asked} asked; it is guaranteed {guaranteed} and its cohort's pool of {pool} has {} free",
                held[r].1,
                pool.saturating_sub(drawn)
            ));
        }
    }
    None
}

/// Why `request` alone exceeds `limits` in a resource it limits, if it does.
fn exceeds(request: &ResourceAmounts, limits: &ResourceLimits) -> Option<String> {
    request
        .named()
        .iter()
        .zip(limits.named())
        .find_map(|((name, asked), (_, max))| {
            let max = max?;
            (*asked > max).then(|| format!("{name} {asked} asked exceeds {max}"))
        })
}

/// Why a job asking `request` could never start for tenant node `node`,
/// whatever else runs: it exceeds a maximum quota or `max_resources`, or a
/// quota's guarantee plus everything its cohort could lend.
pub fn never_fits(tree: &TenantTree, node: usize, request: &ResourceAmounts) -> Option<String> {
    for i in tree.ancestry(node) {
        let tenant = &tree.nodes[i];
        if let Some(reason) = exceeds(request, &tenant.limits.max_resources) {
            return Some(format!("tenant {}'s max_resources: {reason}", tenant.name));
        }
        let Some(quota) = &tenant.quota else {
            continue;
        };
        let parent = tenant.parent.expect("tenants have parents");
        for (r, (name, asked)) in request.named().iter().enumerate() {
            let Some((guaranteed, max, _)) = terms(quota, r) else {
                continue;
            };
            let others: u64 = tree.nodes[parent]
                .children
                .iter()
                .filter(|m| **m != i)
                .filter_map(|m| tree.nodes[*m].quota.as_ref().and_then(|q| terms(q, r)))
                .map(|(_, _, lends)| lends)
                .sum();
            let reachable = max
                .unwrap_or(u64::MAX)
                .min(guaranteed.saturating_add(others));
            if *asked > reachable {
                return Some(format!(
                    "tenant {}'s quota can never cover it: {name} {asked} asked exceeds the {reachable} it can reach (guaranteed {guaranteed}, plus what its cohort lends, up to its max)",
                    tenant.name
                ));
            }
        }
    }
    None
}

/// What tenant node `i` borrows now: what it holds beyond its guarantee in
/// each resource its quota limits, reclaimable by its cohort.
pub fn borrowed(tree: &TenantTree, holdings: &Holdings, i: usize) -> ResourceAmounts {
    let Some(quota) = &tree.nodes[i].quota else {
        return ResourceAmounts::default();
    };
    let held = holdings.allocated[i].named();
    let beyond = |r: usize| terms(quota, r).map_or(0, |(g, _, _)| held[r].1.saturating_sub(g));
    ResourceAmounts {
        cpu_milli: beyond(0),
        memory_bytes: beyond(1),
        gpu_milli: beyond(2),
    }
}
