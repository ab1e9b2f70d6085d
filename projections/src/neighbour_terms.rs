//! Whether a binding keeps its job's required terms about the other jobs of
//! its tenant: affinity (a selected job in the node's domain), anti-affinity
//! (none there), and the anti-affinity of jobs already on nodes, which
//! keeps the jobs they select out of their domains. The fold applies this to every
//! binding, after the node filters, so that a binding that breaks them is
//! void whoever wrote it.
//!
//! It is the rule placement's `neighbours.rs` decides by, evaluated for one
//! binding against the fold as it stands: bindings earlier in the same round
//! are already folded, just as placement counts them while it decides. A
//! required affinity whose selector matches the job itself may go anywhere
//! while no selected job of the tenant is on any node, so that the first of
//! a group can start it.
//!
//! Topology spread is placement's alone. Its skew is counted against the
//! emptiest domain of every ready node the job could use, which the fold
//! would have to find by walking every node for each binding of a spread
//! job: at 10,000 nodes that made the fold 70 times slower per event. It
//! needs an index of the ready nodes by domain first.

use crate::job::Job;
use crate::ledger::Ledger;
use crate::node::{Node, topology_domain};
use rota_events::{JobSelector, TOPOLOGY_NODE, TOPOLOGY_RACK, TOPOLOGY_ZONE};
use std::collections::BTreeMap;
use std::fmt;

/// Why a binding breaks one of its job's terms about other jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeighbourRefusal<'a> {
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
    /// The node has no domain under a spread constraint's key (placement
    /// only).
    NoDomain { key: &'a str },
    /// Placing the job here would make the spread uneven beyond its skew
    /// (placement only).
    Skew { key: &'a str, max_skew: u32 },
}

impl fmt::Display for NeighbourRefusal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NeighbourRefusal::AffinityUnmet { selector, key } => {
                write!(f, "job affinity {selector} per {key} not met")
            }
            NeighbourRefusal::AntiAffinity { selector, key } => {
                write!(f, "job anti-affinity {selector} per {key}")
            }
            NeighbourRefusal::Repelled { key } => {
                write!(f, "repelled by a job's anti-affinity per {key}")
            }
            NeighbourRefusal::NoDomain { key } => {
                write!(f, "node has no {key} for topology spread")
            }
            NeighbourRefusal::Skew { key, max_skew } => {
                write!(f, "topology spread per {key} over max skew {max_skew}")
            }
        }
    }
}

/// Why binding `job` to node `name` breaks one of its required terms about
/// other jobs, or another job's anti-affinity, given where the fold's jobs
/// are; None if it breaks none.
pub fn refusal<'a>(
    state: &'a Ledger,
    job: &'a Job,
    name: &'a str,
    node: &'a Node,
) -> Option<NeighbourRefusal<'a>> {
    let constraints = &job.spec.constraints;
    for term in &constraints.job_affinity.required {
        let key = term.topology_key.as_str();
        let here = topology_domain(name, node, key);
        let selected = Selected::count(state, &job.tenant, &term.selector, key, here);
        let first = term.selector.matches(&job.spec.labels) && selected.anywhere == 0;
        if !first && selected.in_domain == 0 {
            return Some(NeighbourRefusal::AffinityUnmet {
                selector: &term.selector,
                key,
            });
        }
    }
    for term in &constraints.job_anti_affinity.required {
        let key = term.topology_key.as_str();
        let here = topology_domain(name, node, key);
        if Selected::count(state, &job.tenant, &term.selector, key, here).in_domain > 0 {
            return Some(NeighbourRefusal::AntiAffinity {
                selector: &term.selector,
                key,
            });
        }
    }
    state
        .repellers
        .of_tenant(&job.tenant)
        .find(|(kind, per_domain)| {
            kind.selector.matches(&job.spec.labels)
                && topology_domain(name, node, &kind.topology_key)
                    .is_some_and(|here| per_domain.contains_key(here))
        })
        .map(|(kind, _)| NeighbourRefusal::Repelled {
            key: &kind.topology_key,
        })
}

/// How many of a tenant's jobs on nodes a selector selects: in one domain
/// under a topology key, and on any node.
struct Selected {
    in_domain: u32,
    anywhere: u32,
}

impl Selected {
    fn count(
        state: &Ledger,
        tenant: &str,
        selector: &JobSelector,
        key: &str,
        domain: Option<&str>,
    ) -> Selected {
        if let Some(kept) = Selected::kept(state, tenant, selector, key, domain) {
            return kept;
        }
        let mut selected = Selected {
            in_domain: 0,
            anywhere: 0,
        };
        for id in candidates(state, tenant, selector) {
            let Some(job) = state.jobs.get(id) else {
                continue;
            };
            if !selector.matches(&job.spec.labels) {
                continue;
            }
            selected.anywhere += 1;
            let on = job
                .node
                .as_deref()
                .and_then(|n| state.nodes.get_key_value(n));
            if let (Some(domain), Some((name, node))) = (domain, on)
                && topology_domain(name, node, key) == Some(domain)
            {
                selected.in_domain += 1;
            }
        }
        selected
    }

    /// The counts the fold's label index keeps, where it keeps them.
    fn kept(
        state: &Ledger,
        tenant: &str,
        selector: &JobSelector,
        key: &str,
        domain: Option<&str>,
    ) -> Option<Selected> {
        Some(match kept_counts(state, tenant, selector, key)? {
            Kept::Counts { per_domain, total } => Selected {
                in_domain: domain.and_then(|d| per_domain.get(d)).copied().unwrap_or(0),
                anywhere: total,
            },
            Kept::NoneSelected => Selected {
                in_domain: 0,
                anywhere: 0,
            },
        })
    }
}

/// A selector's counts as the fold's label index keeps them.
pub enum Kept<'a> {
    /// Selected jobs per domain name, and in all.
    Counts {
        per_domain: &'a BTreeMap<String, u32>,
        total: u32,
    },
    /// The selector's one label is on no job on a node.
    NoneSelected,
}

/// A tenant's jobs on nodes that `selector` selects, counted per domain
/// under `key`, where the fold's label index keeps them: for a selector of
/// exactly one label, over node, zone or rack. None elsewhere: callers count
/// the [`candidates`] themselves.
pub fn kept_counts<'a>(
    state: &'a Ledger,
    tenant: &str,
    selector: &JobSelector,
    key: &str,
) -> Option<Kept<'a>> {
    if !selector.match_expressions.is_empty() || selector.match_labels.len() != 1 {
        return None;
    }
    let (label, value) = selector.match_labels.iter().next()?;
    let Some(labelled) = state.labels.get(tenant, label, value) else {
        return Some(Kept::NoneSelected);
    };
    let per_domain = match key {
        TOPOLOGY_NODE => &labelled.per_node,
        TOPOLOGY_ZONE => &labelled.per_zone,
        TOPOLOGY_RACK => &labelled.per_rack,
        _ => return None,
    };
    Some(Kept::Counts {
        per_domain,
        total: labelled.jobs.len() as u32,
    })
}

/// The tenant's jobs on nodes that `selector` may select: those carrying
/// its first label when it has one, else all of them. Callers still check
/// the selector.
pub fn candidates<'a>(
    state: &'a Ledger,
    tenant: &str,
    selector: &JobSelector,
) -> Box<dyn Iterator<Item = &'a String> + 'a> {
    match selector.match_labels.iter().next() {
        Some((key, value)) => Box::new(
            state
                .labels
                .get(tenant, key, value)
                .into_iter()
                .flat_map(|labelled| labelled.jobs.iter()),
        ),
        None => Box::new(state.holding.get(tenant).into_iter().flatten()),
    }
}
