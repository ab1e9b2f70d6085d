//! Where a job goes relative to other jobs of its tenant: required and
//! preferred affinity and anti-affinity, and topology spread.
//!
//! Unlike node filters, these depend on where jobs are, which changes as a
//! round binds; so their answers are never remembered across bindings. What
//! is remembered within a round is the count of a tenant's selected jobs per
//! topology domain, kept current as the round binds.
//!
//! Selectors match jobs of the job's own tenant only, so that one tenant's
//! terms can neither attract nor repel another tenant's work. Anti-affinity
//! is symmetric: a job holding a node with a required anti-affinity term
//! keeps matching jobs out of its domain, whichever of the two came first.

use rota_events::{
    JobSelector, TOPOLOGY_NODE, TOPOLOGY_RACK, TOPOLOGY_ZONE, TopologySpread, WhenUnsatisfiable,
};
use rota_projections::{CellState, Job, Node};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;

/// Most distinct (tenant, selector, topology key) counts one round keeps;
/// beyond them counts are computed afresh at each use.
pub const DOMAIN_COUNTS_MAX: usize = 64;

/// The weight of a spread constraint that may be broken (`schedule_anyway`)
/// among the job's preferences: that of the heaviest preference.
pub const SOFT_SPREAD_WEIGHT: u64 = 100;

/// The domain of `node` (named `name`) under topology key `key`, if it has
/// one: the node itself, its zone, its rack, or the value of a label.
pub fn domain<'n>(name: &'n str, node: &'n Node, key: &str) -> Option<&'n str> {
    match key {
        TOPOLOGY_NODE => Some(name),
        TOPOLOGY_ZONE => node.topology.zone.as_deref(),
        TOPOLOGY_RACK => node.topology.rack.as_deref(),
        _ => node.labels.get(key).map(String::as_str),
    }
}

/// Why a job's terms turn a node down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict<'a> {
    /// No selected job in the node's domain.
    AffinityUnmet {
        selector: &'a JobSelector,
        key: &'a str,
    },
    /// A selected job is already in the node's domain.
    AntiAffinity {
        selector: &'a JobSelector,
        key: &'a str,
    },
    /// A job in the node's domain keeps jobs like this one away.
    Repelled { key: &'a str },
    /// The node has no domain under a spread constraint's key.
    NoDomain { key: &'a str },
    /// Placing the job here would make the spread uneven beyond its skew.
    Skew { key: &'a str, max_skew: u32 },
}

impl fmt::Display for Conflict<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Conflict::AffinityUnmet { selector, key } => {
                write!(f, "job affinity {selector} per {key} not met")
            }
            Conflict::AntiAffinity { selector, key } => {
                write!(f, "job anti-affinity {selector} per {key}")
            }
            Conflict::Repelled { key } => write!(f, "repelled by a job's anti-affinity per {key}"),
            Conflict::NoDomain { key } => write!(f, "node has no {key} for topology spread"),
            Conflict::Skew { key, max_skew } => {
                write!(f, "topology spread per {key} over max skew {max_skew}")
            }
        }
    }
}

/// A tenant's selected jobs per domain of one topology key.
#[derive(Debug, Clone, Default)]
struct DomainCounts<'a> {
    per_domain: BTreeMap<&'a str, u32>,
    total: u32,
}

impl DomainCounts<'_> {
    fn get(&self, domain: &str) -> u32 {
        self.per_domain.get(domain).copied().unwrap_or(0)
    }
}

type CountsKey<'a> = (&'a str, &'a JobSelector, &'a str);

/// A job's view of its neighbours for one placement decision, computed
/// once per decision and consulted per candidate node.
#[derive(Debug, Clone, Default)]
pub struct JobView<'a> {
    /// Domains other jobs' anti-affinity keeps this job out of: (key, domain).
    repelled_from: Vec<(&'a str, &'a str)>,
    /// Per spread constraint: the fewest and most selected jobs in any
    /// eligible domain.
    spread_bounds: Vec<(u32, u32)>,
}

/// The jobs on nodes, as one round sees them: the fold's, plus the round's
/// own bindings.
pub struct Neighbours<'a> {
    state: &'a CellState,
    /// This round's bindings: (job, node name, node).
    bound: Vec<(&'a Job, &'a str, &'a Node)>,
    /// Those of this round's bindings with required anti-affinity.
    bound_repellers: Vec<(&'a Job, &'a str, &'a Node)>,
    counts: RefCell<Vec<(CountsKey<'a>, DomainCounts<'a>)>>,
}

impl<'a> Neighbours<'a> {
    pub fn of(state: &'a CellState) -> Neighbours<'a> {
        Neighbours {
            state,
            bound: Vec::new(),
            bound_repellers: Vec::new(),
            counts: RefCell::new(Vec::new()),
        }
    }

    /// Every job of `tenant` on a node, with that node: the fold's and the
    /// round's.
    fn tenant_jobs(&self, tenant: &'a str) -> impl Iterator<Item = (&'a Job, &'a str, &'a Node)> {
        let state = self.state;
        let held = state
            .holding
            .get(tenant)
            .into_iter()
            .flatten()
            .filter_map(move |id| {
                let job = &state.jobs[id];
                let (name, node) = state.nodes.get_key_value(job.node.as_deref()?)?;
                Some((job, name.as_str(), node))
            });
        let bound = self
            .bound
            .iter()
            .copied()
            .filter(move |(job, _, _)| job.tenant == tenant);
        held.chain(bound)
    }

    fn count_afresh(&self, key: CountsKey<'a>) -> DomainCounts<'a> {
        let (tenant, selector, topology_key) = key;
        let mut counts = DomainCounts::default();
        for (job, name, node) in self.tenant_jobs(tenant) {
            if selector.matches(&job.spec.labels) {
                counts.total += 1;
                if let Some(domain) = domain(name, node, topology_key) {
                    *counts.per_domain.entry(domain).or_default() += 1;
                }
            }
        }
        counts
    }

    /// Runs `read` on the counts for `key`, remembered for the round.
    fn with_counts<R>(&self, key: CountsKey<'a>, read: impl FnOnce(&DomainCounts<'a>) -> R) -> R {
        let mut cache = self.counts.borrow_mut();
        if let Some((_, counts)) = cache.iter().find(|(known, _)| *known == key) {
            return read(counts);
        }
        let counts = self.count_afresh(key);
        let result = read(&counts);
        if cache.len() < DOMAIN_COUNTS_MAX {
            cache.push((key, counts));
        }
        result
    }

    /// True when the job's placement depends on other jobs: its own terms,
    /// or another job's anti-affinity that selects it.
    pub fn view(
        &self,
        job: &'a Job,
        eligible_domains: &dyn Fn(&str) -> Vec<&'a str>,
    ) -> Option<JobView<'a>> {
        let constraints = &job.spec.constraints;
        let repelled_from = self.repelled_from(job);
        if !constraints.has_job_terms() && repelled_from.is_empty() {
            return None;
        }
        let spread_bounds = constraints
            .topology_spread
            .iter()
            .map(|spread| {
                let key = (
                    job.tenant.as_str(),
                    &spread.selector,
                    spread.topology_key.as_str(),
                );
                let domains = eligible_domains(&spread.topology_key);
                self.with_counts(key, |counts| {
                    let per_domain = domains.iter().map(|d| counts.get(d));
                    let fewest = per_domain.clone().min().unwrap_or(0);
                    (fewest, per_domain.max().unwrap_or(0))
                })
            })
            .collect();
        Some(JobView {
            repelled_from,
            spread_bounds,
        })
    }

    /// The domains that required anti-affinity of the tenant's other jobs
    /// keeps `job` out of.
    fn repelled_from(&self, job: &'a Job) -> Vec<(&'a str, &'a str)> {
        let state = self.state;
        let held = state
            .repellers
            .get(&job.tenant)
            .into_iter()
            .flatten()
            .filter_map(|id| {
                let holder = &state.jobs[id];
                let (name, node) = state.nodes.get_key_value(holder.node.as_deref()?)?;
                Some((holder, name.as_str(), node))
            });
        let bound = self
            .bound_repellers
            .iter()
            .copied()
            .filter(|(holder, _, _)| holder.tenant == job.tenant);
        let mut domains = Vec::new();
        for (holder, name, node) in held.chain(bound) {
            for term in &holder.spec.constraints.job_anti_affinity.required {
                if term.selector.matches(&job.spec.labels)
                    && let Some(domain) = domain(name, node, &term.topology_key)
                {
                    domains.push((term.topology_key.as_str(), domain));
                }
            }
        }
        domains.sort_unstable();
        domains.dedup();
        domains
    }

    /// Why `job` may not go to `node` (named `name`) given where the other
    /// jobs are, or None.
    pub fn conflict(
        &self,
        job: &'a Job,
        view: &JobView<'a>,
        name: &'a str,
        node: &'a Node,
    ) -> Option<Conflict<'a>> {
        let tenant = job.tenant.as_str();
        let constraints = &job.spec.constraints;
        for term in &constraints.job_affinity.required {
            let key = (tenant, &term.selector, term.topology_key.as_str());
            let here = domain(name, node, &term.topology_key);
            let met = self.with_counts(key, |counts| {
                // The first of a group that selects itself may go anywhere.
                (counts.total == 0 && term.selector.matches(&job.spec.labels))
                    || here.is_some_and(|d| counts.get(d) > 0)
            });
            if !met {
                return Some(Conflict::AffinityUnmet {
                    selector: &term.selector,
                    key: &term.topology_key,
                });
            }
        }
        for term in &constraints.job_anti_affinity.required {
            let key = (tenant, &term.selector, term.topology_key.as_str());
            let Some(here) = domain(name, node, &term.topology_key) else {
                continue;
            };
            if self.with_counts(key, |counts| counts.get(here) > 0) {
                return Some(Conflict::AntiAffinity {
                    selector: &term.selector,
                    key: &term.topology_key,
                });
            }
        }
        for (key, domain_held) in &view.repelled_from {
            if domain(name, node, key) == Some(*domain_held) {
                return Some(Conflict::Repelled { key });
            }
        }
        for (spread, (fewest, _)) in constraints.topology_spread.iter().zip(&view.spread_bounds) {
            if spread.when_unsatisfiable == WhenUnsatisfiable::ScheduleAnyway {
                continue;
            }
            let Some(here) = domain(name, node, &spread.topology_key) else {
                return Some(Conflict::NoDomain {
                    key: &spread.topology_key,
                });
            };
            if self.skew_after(job, spread, here, *fewest) > spread.max_skew {
                return Some(Conflict::Skew {
                    key: &spread.topology_key,
                    max_skew: spread.max_skew,
                });
            }
        }
        None
    }

    /// The spread's skew if `job` went to domain `here`.
    fn skew_after(&self, job: &'a Job, spread: &'a TopologySpread, here: &str, fewest: u32) -> u32 {
        let key = (
            job.tenant.as_str(),
            &spread.selector,
            spread.topology_key.as_str(),
        );
        let own = u32::from(spread.selector.matches(&job.spec.labels));
        self.with_counts(key, |counts| counts.get(here) + own)
            .saturating_sub(fewest)
    }

    /// The job's preferences about other jobs on `node`: (weight met, weight
    /// stated). Preferred affinity is met where a selected job is in the
    /// domain, preferred anti-affinity where none is, and a spread that may
    /// be broken in proportion to how uncrowded the domain is.
    pub fn preference(
        &self,
        job: &'a Job,
        view: &JobView<'a>,
        name: &'a str,
        node: &'a Node,
    ) -> (u64, u64) {
        let tenant = job.tenant.as_str();
        let constraints = &job.spec.constraints;
        let (mut met, mut stated) = (0u64, 0u64);
        let occupied = |selector: &'a JobSelector, key: &'a str| {
            domain(name, node, key)
                .is_some_and(|d| self.with_counts((tenant, selector, key), |c| c.get(d) > 0))
        };
        for term in &constraints.job_affinity.preferred {
            stated += u64::from(term.weight);
            if occupied(&term.selector, &term.topology_key) {
                met += u64::from(term.weight);
            }
        }
        for term in &constraints.job_anti_affinity.preferred {
            stated += u64::from(term.weight);
            if !occupied(&term.selector, &term.topology_key) {
                met += u64::from(term.weight);
            }
        }
        for (spread, (fewest, most)) in constraints.topology_spread.iter().zip(&view.spread_bounds)
        {
            if spread.when_unsatisfiable != WhenUnsatisfiable::ScheduleAnyway {
                continue;
            }
            stated += SOFT_SPREAD_WEIGHT;
            let Some(here) = domain(name, node, &spread.topology_key) else {
                continue;
            };
            let key = (tenant, &spread.selector, spread.topology_key.as_str());
            let count = self.with_counts(key, |c| c.get(here));
            met += if most > fewest {
                SOFT_SPREAD_WEIGHT * u64::from(most.saturating_sub(count))
                    / u64::from(most - fewest)
            } else {
                SOFT_SPREAD_WEIGHT
            };
        }
        (met, stated)
    }

    /// Records a binding of this round, keeping remembered counts current.
    pub fn note_bound(&mut self, job: &'a Job, name: &'a str, node: &'a Node) {
        self.bound.push((job, name, node));
        if !job.spec.constraints.job_anti_affinity.required.is_empty() {
            self.bound_repellers.push((job, name, node));
        }
        for ((tenant, selector, key), counts) in self.counts.get_mut().iter_mut() {
            if *tenant == job.tenant && selector.matches(&job.spec.labels) {
                counts.total += 1;
                if let Some(domain) = domain(name, node, key) {
                    *counts.per_domain.entry(domain).or_default() += 1;
                }
            }
        }
    }
}
