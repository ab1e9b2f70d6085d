//! The fair-share service's decision core.
//!
//! Every tenant's usage, holdings and place in the tree are in the shared
//! fold (`rota_projections::accounts`); this core decides when to publish
//! their fair-share factors and writes them as `fairshare.updated` events,
//! which placement's queue order reads. It publishes a tenant's factor when
//! it has moved by the policy's `significant_change` since last published,
//! and any other changed factor once `update_interval_s` has passed, so
//! factors follow decaying usage on a cadence without an event per tick.

use rota_events::{Body, FAIR_SHARE_TENANTS_PER_EVENT_MAX, FairShareUpdated, ROUND_EVENTS_MAX};
use rota_projections::accounts::fairness::{FACTOR_MAX, leaf_factors};
use rota_projections::accounts::ready_capacity;
use rota_projections::{CellState, Decider, Draft, Folded};
use std::collections::BTreeMap;

/// The service's name in leases and round tags.
pub const SERVICE: &str = "fairshare";

/// The factor placement assumes for a tenant never published.
pub const FACTOR_NEUTRAL: u32 = FACTOR_MAX / 2;

/// The fair-share service's decision rule.
#[derive(Debug, Clone, Copy, Default)]
pub struct FairShareRules;

impl Decider for FairShareRules {
    const SERVICE: &'static str = SERVICE;

    fn drafts(&self, state: &CellState) -> Vec<Draft> {
        let changed = factors_to_publish(state);
        let chunks: Vec<BTreeMap<String, u32>> = changed
            .into_iter()
            .collect::<Vec<_>>()
            .chunks(FAIR_SHARE_TENANTS_PER_EVENT_MAX)
            .take(ROUND_EVENTS_MAX)
            .map(|chunk| chunk.iter().cloned().collect())
            .collect();
        chunks
            .into_iter()
            .map(|factors| Draft {
                tenant: None,
                causation_id: None,
                body: Body::FairShareUpdated(FairShareUpdated { factors }),
            })
            .collect()
    }

    fn next_wake_ms(&self, state: &CellState) -> Option<u64> {
        let interval_ms = state
            .accounts
            .config
            .fair_share
            .update_interval_s
            .saturating_mul(1000);
        state
            .accounts
            .factors_published_ms
            .map(|published| published.saturating_add(interval_ms))
    }
}

/// The factors due to be published now: every changed one if any moved
/// significantly or the interval has passed since the last publication,
/// else none.
pub fn factors_to_publish(state: &CellState) -> BTreeMap<String, u32> {
    let accounts = &state.accounts;
    let policy = &accounts.config.fair_share;
    let tree = &accounts.tree;
    let mut current: Vec<Option<u32>> = vec![None; tree.nodes.len()];
    for (leaf, factor) in leaf_factors(accounts, state.now_ms, &ready_capacity(state)) {
        current[leaf] = Some(factor);
    }
    // Tenants in name order, merged with the published factors (also in
    // name order), to compare without a lookup per tenant.
    let mut published = accounts.factors.iter().peekable();
    let mut changed: Vec<(&String, u32, Option<u32>)> = Vec::new();
    for (tenant, node) in &tree.by_name {
        let Some(factor) = current[*node] else {
            continue;
        };
        while published.peek().is_some_and(|(name, _)| *name < tenant) {
            published.next();
        }
        let before = published
            .peek()
            .filter(|(name, _)| *name == tenant)
            .map(|(_, factor)| **factor);
        if before != Some(factor) {
            changed.push((tenant, factor, before));
        }
    }
    let significant = changed.iter().any(|(_, factor, published)| {
        published.unwrap_or(FACTOR_NEUTRAL).abs_diff(*factor) >= policy.significant_change
    });
    let interval_ms = policy.update_interval_s.saturating_mul(1000);
    let due = accounts
        .factors_published_ms
        .is_none_or(|published| state.now_ms.saturating_sub(published) >= interval_ms);
    if !significant && !due {
        return BTreeMap::new();
    }
    changed
        .into_iter()
        .map(|(tenant, factor, _)| (tenant.clone(), factor))
        .collect()
}

/// The fair-share core: the shared fold and [`FairShareRules`].
pub type FairShare = Folded<FairShareRules>;
