//! Tenant accounting, folded from the log: the tenant tree and fair-share
//! policy in force (`tenants.set`), each tenant's decayed usage and what it
//! holds and waits for, and the fair-share factors last published
//! (`fairshare.updated`).
//!
//! Usage is weighted resource-seconds: while a job holds resources (from
//! its binding to its end, preemption or cancellation), its tenant accrues
//! its weighted rate; all usage decays with the policy's half-life. Time is
//! the log's: nothing here reads a clock, so usage at any point of the past
//! is recomputed exactly by folding the log to that point.

pub mod decay;
pub mod fairness;
pub mod quota;
pub mod tree;

use crate::cell::CellState;
use crate::job::Job;
use crate::node::Node;
use crate::projection::Projection;
use decay::decayed_usage_milli;
use quota::Holdings;
use rota_events::{ResourceAmounts, Resources, TenantConfig, UsageWeights};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tree::TenantTree;

/// Bytes in a GiB, the unit memory's usage weight is per.
const GIB_BYTES: u128 = 1 << 30;

/// The resources a job holds, as quotas count them.
pub fn amounts(resources: &Resources) -> ResourceAmounts {
    ResourceAmounts {
        cpu_milli: resources.cpu_milli,
        memory_bytes: resources.memory_bytes,
        gpu_milli: resources.gpu_total_milli(),
    }
}

/// The ready nodes' capacity, as quotas and dominant shares count it.
pub fn ready_capacity(state: &CellState) -> ResourceAmounts {
    state.accounts.ready_capacity
}

/// What holding `job`'s resources for a second adds to its tenant's usage,
/// in thousandths of a usage unit.
pub fn usage_rate_milli(job: &Job, weights: &UsageWeights) -> u64 {
    let r = &job.spec.resources;
    let cpu = u128::from(r.cpu_milli) * u128::from(weights.cpu_core_milli) / 1000;
    let memory = u128::from(r.memory_bytes) * u128::from(weights.memory_gib_milli) / GIB_BYTES;
    let gpu = u128::from(r.gpu_total_milli()) * u128::from(weights.gpu_device_milli) / 1000;
    let extended: u128 = job
        .spec
        .constraints
        .extended
        .iter()
        .map(|(name, amount)| {
            u128::from(*amount) * u128::from(weights.extended_milli.get(name).copied().unwrap_or(0))
        })
        .sum();
    u64::try_from(cpu + memory + gpu + extended).unwrap_or(u64::MAX)
}

/// One tenant's account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantAccount {
    /// Decayed usage as of `usage_as_of_ms`, in thousandths of a unit.
    pub usage_milli: u64,
    pub usage_as_of_ms: u64,
    /// The weighted rate of the jobs it holds, thousandths of a unit a
    /// second.
    pub rate_milli: u64,
    /// What its jobs hold now.
    pub allocated: ResourceAmounts,
    /// Its jobs holding resources now.
    pub running_jobs: u32,
    /// Its admitted jobs waiting for a node.
    pub pending_jobs: u32,
}

impl TenantAccount {
    /// Its decayed usage at `now_ms`.
    pub fn usage_at(&self, now_ms: u64, half_life_s: u64) -> u64 {
        decayed_usage_milli(
            self.usage_milli,
            self.rate_milli,
            self.usage_as_of_ms,
            now_ms,
            half_life_s,
        )
    }

    /// Brings the decayed usage up to `now_ms`.
    fn advance(&mut self, now_ms: u64, half_life_s: u64) {
        self.usage_milli = self.usage_at(now_ms, half_life_s);
        self.usage_as_of_ms = self.usage_as_of_ms.max(now_ms);
    }
}

/// Everything the fold knows about tenants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accounts {
    /// The configuration in force: the default (no tree, classic fair
    /// share, unknown tenants admitted) until the first `tenants.set`.
    pub config: TenantConfig,
    /// Set once a `tenants.set` has been applied.
    pub configured: bool,
    pub tree: TenantTree,
    pub tenants: BTreeMap<String, TenantAccount>,
    /// The factors the fair-share service last published, per tenant.
    pub factors: BTreeMap<String, u32>,
    /// When it last published, in log milliseconds.
    pub factors_published_ms: Option<u64>,
    /// The capacity of the ready nodes, as quotas and dominant shares count
    /// it: kept as nodes change, since fair share reads it every round.
    pub ready_capacity: ResourceAmounts,
}

impl Accounts {
    fn half_life_s(&self) -> u64 {
        self.config.fair_share.half_life_s
    }

    /// Applies a new configuration at `now_ms`: usage so far decays under
    /// the old half-life, rates are recomputed under the new weights.
    pub fn configure(&mut self, config: &TenantConfig, now_ms: u64, holding: &[&Job]) {
        let half_life_s = self.half_life_s();
        for account in self.tenants.values_mut() {
            account.advance(now_ms, half_life_s);
            account.rate_milli = 0;
        }
        for job in holding {
            let rate = usage_rate_milli(job, &config.fair_share.weights);
            let account = self.tenants.entry(job.tenant.clone()).or_default();
            account.rate_milli = account.rate_milli.saturating_add(rate);
        }
        self.config = config.clone();
        self.configured = true;
        // Tenants with accounts that the new tree does not name keep a leaf
        // of their own: they may hold resources and always have usage.
        self.tree = TenantTree::build(config, self.tenants.keys().map(String::as_str));
    }

    /// A job of its tenant was admitted and waits (or waits again).
    pub fn on_pending(&mut self, job: &Job) {
        let shares = self.config.unknown_tenants.shares;
        self.tree.add_unlisted(&job.tenant, shares);
        self.tenants
            .entry(job.tenant.clone())
            .or_default()
            .pending_jobs += 1;
    }

    /// A job of its tenant stopped waiting (bound or cancelled).
    pub fn on_not_pending(&mut self, job: &Job) {
        let account = self.tenants.entry(job.tenant.clone()).or_default();
        account.pending_jobs = account.pending_jobs.saturating_sub(1);
    }

    /// A job of its tenant began holding resources at `now_ms`.
    pub fn on_holding(&mut self, job: &Job, now_ms: u64) {
        let half_life_s = self.half_life_s();
        let rate = usage_rate_milli(job, &self.config.fair_share.weights);
        let account = self.tenants.entry(job.tenant.clone()).or_default();
        account.advance(now_ms, half_life_s);
        account.rate_milli = account.rate_milli.saturating_add(rate);
        account.allocated = account.allocated.plus(&amounts(&job.spec.resources));
        account.running_jobs += 1;
    }

    /// A job of its tenant released its resources at `now_ms`.
    pub fn on_released(&mut self, job: &Job, now_ms: u64) {
        let half_life_s = self.half_life_s();
        let rate = usage_rate_milli(job, &self.config.fair_share.weights);
        let account = self
            .tenants
            .get_mut(&job.tenant)
            .expect("a releasing job's tenant has an account");
        account.advance(now_ms, half_life_s);
        account.rate_milli = account.rate_milli.saturating_sub(rate);
        account.allocated = account.allocated.minus(&amounts(&job.spec.resources));
        account.running_jobs = account.running_jobs.saturating_sub(1);
    }

    /// The fair-share service published factors at `now_ms`.
    pub fn on_factors(&mut self, factors: &BTreeMap<String, u32>, now_ms: u64) {
        for (tenant, factor) in factors {
            self.factors.insert(tenant.clone(), *factor);
        }
        self.factors_published_ms = Some(now_ms);
    }

    /// Each tree node's account, if it has one: a merge of the tree's names
    /// and the accounts', both in name order.
    pub fn accounts_by_node(&self) -> Vec<Option<&TenantAccount>> {
        let mut by_node = vec![None; self.tree.nodes.len()];
        let mut accounts = self.tenants.iter().peekable();
        for (name, node) in &self.tree.by_name {
            while accounts.peek().is_some_and(|(account, _)| *account < name) {
                accounts.next();
            }
            if let Some((_, account)) = accounts.peek().filter(|(account, _)| *account == name) {
                by_node[*node] = Some(*account);
            }
        }
        by_node
    }

    /// Each tree node's own decayed usage at `now_ms` (leaves' accounts;
    /// zero for nodes without one), in thousandths of a unit.
    pub fn own_usage_milli(&self, now_ms: u64) -> Vec<u64> {
        let half_life_s = self.half_life_s();
        self.accounts_by_node()
            .into_iter()
            .map(|account| account.map_or(0, |a| a.usage_at(now_ms, half_life_s)))
            .collect()
    }

    /// Each tree node's own count of `count`, summed over its subtree.
    fn subtree_counts(&self, count: fn(&TenantAccount) -> u32) -> Vec<u32> {
        let own: Vec<u32> = self
            .accounts_by_node()
            .into_iter()
            .map(|account| account.map_or(0, count))
            .collect();
        self.tree.subtree_sums(&own, |a, b| a + b)
    }

    /// What each tree node's subtree holds and how many of its jobs run.
    pub fn holdings(&self) -> Holdings {
        Holdings {
            allocated: fairness::subtree_allocated(self),
            running: self.subtree_counts(|account| account.running_jobs),
        }
    }

    /// How many of each tree node's subtree's jobs wait.
    pub fn subtree_pending(&self) -> Vec<u32> {
        self.subtree_counts(|account| account.pending_jobs)
    }

    /// Each tree node's own allocation (its account's; zero without one).
    pub fn own_allocated(&self) -> Vec<ResourceAmounts> {
        self.accounts_by_node()
            .into_iter()
            .map(|account| account.map_or(ResourceAmounts::default(), |a| a.allocated))
            .collect()
    }
}

impl Projection for Accounts {
    fn queued(&mut self, _id: &str, job: &Job) {
        self.on_pending(job);
    }

    fn dequeued(&mut self, _id: &str, job: &Job) {
        self.on_not_pending(job);
    }

    fn placed(&mut self, _id: &str, job: &Job, now_ms: u64) {
        self.on_holding(job, now_ms);
    }

    fn released(&mut self, _id: &str, job: &Job, now_ms: u64) {
        self.on_released(job, now_ms);
    }

    fn node_ready(&mut self, node: &Node) {
        self.ready_capacity = self.ready_capacity.plus(&amounts(&node.capacity));
    }

    fn node_unready(&mut self, node: &Node) {
        self.ready_capacity = self.ready_capacity.minus(&amounts(&node.capacity));
    }

    fn tenants_set(&mut self, config: &TenantConfig, now_ms: u64, holding: &[&Job]) {
        self.configure(config, now_ms, holding);
    }

    fn factors_published(&mut self, factors: &BTreeMap<String, u32>, now_ms: u64) {
        self.on_factors(factors, now_ms);
    }
}
