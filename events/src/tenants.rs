//! Tenants and fair share on the wire: the tenant tree with shares, quotas
//! and hard limits (`tenants.set`, written by the cell's operator), and the
//! fair-share factors the fair-share service publishes
//! (`fairshare.updated`).

use crate::names::check_name;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most tenants (nodes of the tree, inner and leaf) a configuration has.
pub const TENANTS_MAX: usize = 1000;

/// Deepest a tenant tree goes below its root.
pub const TENANT_DEPTH_MAX: usize = 8;

/// Largest number of shares one tenant holds.
pub const TENANT_SHARES_MAX: u32 = 1_000_000;

/// Most tenants whose factors one `fairshare.updated` event carries; a
/// round carries more in several events.
pub const FAIR_SHARE_TENANTS_PER_EVENT_MAX: usize = 500;

/// Largest usage weight, in thousandths (1000 weighs a unit as 1).
pub const USAGE_WEIGHT_MILLI_MAX: u32 = 1_000_000;

/// Longest usage half-life and update interval, in seconds (365 days).
pub const FAIR_SHARE_DURATION_S_MAX: u64 = 365 * 24 * 3600;

/// Amounts of the resources quotas and limits count: cpu, memory and GPUs
/// (whole devices and shares together, in thousandths of a device).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourceAmounts {
    pub cpu_milli: u64,
    pub memory_bytes: u64,
    pub gpu_milli: u64,
}

impl ResourceAmounts {
    pub fn plus(&self, other: &ResourceAmounts) -> ResourceAmounts {
        ResourceAmounts {
            cpu_milli: self.cpu_milli.saturating_add(other.cpu_milli),
            memory_bytes: self.memory_bytes.saturating_add(other.memory_bytes),
            gpu_milli: self.gpu_milli.saturating_add(other.gpu_milli),
        }
    }

    pub fn minus(&self, other: &ResourceAmounts) -> ResourceAmounts {
        ResourceAmounts {
            cpu_milli: self.cpu_milli.saturating_sub(other.cpu_milli),
            memory_bytes: self.memory_bytes.saturating_sub(other.memory_bytes),
            gpu_milli: self.gpu_milli.saturating_sub(other.gpu_milli),
        }
    }

    /// The three amounts with their names, in a fixed order.
    pub fn named(&self) -> [(&'static str, u64); 3] {
        [
            ("cpu_milli", self.cpu_milli),
            ("memory_bytes", self.memory_bytes),
            ("gpu_milli", self.gpu_milli),
        ]
    }

    pub fn is_zero(&self) -> bool {
        *self == ResourceAmounts::default()
    }
}

/// Amounts a quota or limit sets, per resource; a resource left out is not
/// limited by it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourceLimits {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_milli: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_milli: Option<u64>,
}

impl ResourceLimits {
    /// The three amounts with their names, in the order of
    /// [`ResourceAmounts::named`].
    pub fn named(&self) -> [(&'static str, Option<u64>); 3] {
        [
            ("cpu_milli", self.cpu_milli),
            ("memory_bytes", self.memory_bytes),
            ("gpu_milli", self.gpu_milli),
        ]
    }
}

/// A tenant's quota (Kueue's cohort semantics among siblings that have
/// one): `guaranteed` is always available to it; beyond that it may borrow
/// siblings' idle guaranteed quota up to `max`, and lends at most
/// `lending_limit` of its own idle quota.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    /// The resources it names are limited by this quota; others are not.
    pub guaranteed: ResourceLimits,
    /// The most it may use, borrowing included; a resource left out: no
    /// ceiling but what siblings can lend.
    #[serde(default)]
    pub max: ResourceLimits,
    /// The most of its idle guaranteed quota siblings may borrow; a
    /// resource left out: all of it.
    #[serde(default)]
    pub lending_limit: ResourceLimits,
}

/// Hard limits on a tenant and everything below it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantLimits {
    /// Jobs holding resources at once; more wait (held).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_running_jobs: Option<u32>,
    /// Jobs waiting at once; more are refused at admission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pending_jobs: Option<u32>,
    /// Resources held at once; jobs that would exceed it wait (held).
    #[serde(default)]
    pub max_resources: ResourceLimits,
}

impl TenantLimits {
    pub fn is_empty(&self) -> bool {
        *self == TenantLimits::default()
    }
}

/// One tenant of the tree: an organisation, a project, a user; a leaf is
/// what jobs name as their tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantNode {
    pub name: String,
    /// Its weight among its siblings.
    #[serde(default = "one_share")]
    pub shares: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<Quota>,
    #[serde(default, skip_serializing_if = "TenantLimits::is_empty")]
    pub limits: TenantLimits,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<TenantNode>,
}

fn one_share() -> u32 {
    1
}

impl TenantNode {
    /// A tenant with `shares` and nothing else: no quota, limits or
    /// children.
    pub fn leaf(name: &str, shares: u32) -> TenantNode {
        TenantNode {
            name: name.to_string(),
            shares,
            quota: None,
            limits: TenantLimits::default(),
            children: Vec::new(),
        }
    }
}

/// How the fair-share factor is computed.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum FairShareMode {
    /// `2^(-effective usage / normalised shares)`, with usage normalised
    /// down the tree (Slurm's classic formula).
    #[default]
    Classic,
    /// Slurm's Fair Tree: siblings ranked by shares over usage, depth
    /// first; a user's factor is its rank.
    FairTree,
    /// Dominant resource fairness: `2^(-dominant share / normalised
    /// shares)` over what tenants hold now, applied by placement as it
    /// binds.
    Drf,
}

impl FairShareMode {
    pub fn as_str(&self) -> &'static str {
        match self {
            FairShareMode::Classic => "classic",
            FairShareMode::FairTree => "fair_tree",
            FairShareMode::Drf => "drf",
        }
    }
}

/// How much one unit of each resource held for a second counts as usage,
/// in thousandths (1000: one usage unit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UsageWeights {
    /// Per core.
    pub cpu_core_milli: u32,
    /// Per GiB of memory.
    pub memory_gib_milli: u32,
    /// Per GPU device.
    pub gpu_device_milli: u32,
    /// Per unit of a named extended resource.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub extended_milli: BTreeMap<String, u32>,
}

impl Default for UsageWeights {
    fn default() -> Self {
        UsageWeights {
            cpu_core_milli: 1000,
            memory_gib_milli: 250,
            gpu_device_milli: 2000,
            extended_milli: BTreeMap::new(),
        }
    }
}

/// The fair-share policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FairSharePolicy {
    pub mode: FairShareMode,
    /// Usage halves after this long without new use, in seconds.
    pub half_life_s: u64,
    pub weights: UsageWeights,
    /// The fair-share service publishes factors at least this often while
    /// they change, in seconds.
    pub update_interval_s: u64,
    /// A change of a tenant's factor by this much (of 1000) is published
    /// at once.
    pub significant_change: u32,
}

impl Default for FairSharePolicy {
    fn default() -> Self {
        FairSharePolicy {
            mode: FairShareMode::default(),
            half_life_s: 7 * 24 * 3600,
            weights: UsageWeights::default(),
            update_interval_s: 60,
            significant_change: 50,
        }
    }
}

/// What happens to jobs of tenants the tree does not name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UnknownTenants {
    /// Admitted, each as a tenant of its own directly under the root with
    /// `shares`; else refused at admission.
    pub admit: bool,
    pub shares: u32,
}

impl Default for UnknownTenants {
    fn default() -> Self {
        UnknownTenants {
            admit: true,
            shares: 1,
        }
    }
}

/// The cell's tenants and fair-share policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TenantConfig {
    pub fair_share: FairSharePolicy,
    pub unknown_tenants: UnknownTenants,
    /// The tenants directly under the root.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<TenantNode>,
}

impl TenantConfig {
    /// Checks every value; the error says which tenant or field, its value
    /// and what would be accepted.
    pub fn validate(&self) -> Result<(), String> {
        let policy = &self.fair_share;
        if !(1..=FAIR_SHARE_DURATION_S_MAX).contains(&policy.half_life_s) {
            return Err(format!(
                "fair_share.half_life_s is {}; it must be 1 to {FAIR_SHARE_DURATION_S_MAX} seconds",
                policy.half_life_s
            ));
        }
        if !(1..=FAIR_SHARE_DURATION_S_MAX).contains(&policy.update_interval_s) {
            return Err(format!(
                "fair_share.update_interval_s is {}; it must be 1 to {FAIR_SHARE_DURATION_S_MAX} seconds",
                policy.update_interval_s
            ));
        }
        if !(1..=1000).contains(&policy.significant_change) {
            return Err(format!(
                "fair_share.significant_change is {}; it must be 1 to 1000",
                policy.significant_change
            ));
        }
        let w = &policy.weights;
        let weights = [
            ("cpu_core_milli", w.cpu_core_milli),
            ("memory_gib_milli", w.memory_gib_milli),
            ("gpu_device_milli", w.gpu_device_milli),
        ];
        let extended = w.extended_milli.iter().map(|(k, v)| (k.as_str(), *v));
        for (name, weight) in weights.into_iter().chain(extended) {
            if weight > USAGE_WEIGHT_MILLI_MAX {
                return Err(format!(
                    "fair_share.weights {name} is {weight}; a weight must be 0 to {USAGE_WEIGHT_MILLI_MAX} (thousandths)"
                ));
            }
        }
        let shares = self.unknown_tenants.shares;
        if !(1..=TENANT_SHARES_MAX).contains(&shares) {
            return Err(format!(
                "unknown_tenants.shares is {shares}; it must be 1 to {TENANT_SHARES_MAX}"
            ));
        }
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for tenant in &self.tenants {
            validate_node(tenant, 1, &mut seen)?;
        }
        if seen.len() > TENANTS_MAX {
            return Err(format!(
                "the tree has {} tenants; it may have at most {TENANTS_MAX}",
                seen.len()
            ));
        }
        Ok(())
    }
}

fn validate_node<'a>(
    node: &'a TenantNode,
    depth: usize,
    seen: &mut BTreeMap<&'a str, usize>,
) -> Result<(), String> {
    check_name("tenant", &node.name).map_err(|e| e.to_string())?;
    if depth > TENANT_DEPTH_MAX {
        return Err(format!(
            "tenant {:?} is {depth} levels deep; the tree may be at most {TENANT_DEPTH_MAX} deep",
            node.name
        ));
    }
    if seen.insert(&node.name, depth).is_some() {
        return Err(format!(
            "tenant {:?} appears twice; every tenant name must be unique in the tree",
            node.name
        ));
    }
    if seen.len() > TENANTS_MAX {
        return Err(format!(
            "the tree has more than {TENANTS_MAX} tenants; it may have at most {TENANTS_MAX}"
        ));
    }
    if node.shares > TENANT_SHARES_MAX {
        return Err(format!(
            "tenant {:?} has {} shares; shares must be 0 to {TENANT_SHARES_MAX}",
            node.name, node.shares
        ));
    }
    if let Some(quota) = &node.quota {
        validate_quota(&node.name, quota)?;
    }
    for child in &node.children {
        validate_node(child, depth + 1, seen)?;
    }
    Ok(())
}

fn validate_quota(tenant: &str, quota: &Quota) -> Result<(), String> {
    let guaranteed = quota.guaranteed.named();
    for ((name, g), ((_, m), (_, l))) in guaranteed.iter().zip(
        quota
            .max
            .named()
            .into_iter()
            .zip(quota.lending_limit.named()),
    ) {
        match (g, m, l) {
            (None, Some(_), _) | (None, _, Some(_)) => {
                return Err(format!(
                    "tenant {tenant:?}: the quota sets a max or lending limit for {name} but guarantees none; set quota.guaranteed.{name} (0 if need be)"
                ));
            }
            (Some(g), Some(m), _) if m < *g => {
                return Err(format!(
                    "tenant {tenant:?}: quota.max.{name} is {m}, below quota.guaranteed.{name} {g}; max must be at least the guarantee"
                ));
            }
            (Some(g), _, Some(l)) if l > *g => {
                return Err(format!(
                    "tenant {tenant:?}: quota.lending_limit.{name} is {l}, above quota.guaranteed.{name} {g}; a tenant lends at most what it is guaranteed"
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// An operator set the cell's tenants and fair-share policy. It replaces
/// the previous configuration whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantsSet {
    pub config: TenantConfig,
}

/// The fair-share service's factors: per tenant, 0 to 1000, higher runs
/// first. Tenants not named keep their previous factor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FairShareUpdated {
    pub factors: BTreeMap<String, u32>,
}
