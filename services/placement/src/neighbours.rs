//! Where a job goes relative to other jobs of its tenant: required and
//! preferred affinity and anti-affinity, and topology spread.
//!
//! Unlike node filters, these depend on where jobs are, which changes as a
//! round binds; so their answers are never remembered across bindings. What
//! a round keeps is the count of a tenant's selected jobs per topology
//! domain, started from the fold's label index and kept current as the
//! round binds. Domains are numbered per topology key for the round, so
//! that checking a candidate node is an array lookup.
//!
//! Selectors match jobs of the job's own tenant only, so that one tenant's
//! terms can neither attract nor repel another tenant's work. Anti-affinity
//! is symmetric: a job holding a node with a required anti-affinity term
//! keeps matching jobs out of its domain, whichever of the two came first.

use rota_events::{JobAffinityTerm, JobSelector, WeightedJobAffinityTerm, WhenUnsatisfiable};
use rota_projections::neighbour_terms::{Kept, NeighbourRefusal, candidates, kept_counts};
use rota_projections::{CellState, Job, Node, RepellerKind};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

/// The weight of a spread constraint that may be broken (`schedule_anyway`)
/// among the job's preferences: that of the heaviest preference.
pub const SOFT_SPREAD_WEIGHT: u64 = 100;

pub use rota_projections::topology_domain as domain;

/// Why a job's terms turn a node down: the reasons for which the fold also
/// holds every binding void.
pub type Conflict<'a> = NeighbourRefusal<'a>;

/// The numbering of the domains of one topology key: the domains of the
/// ready nodes, in name order of the domain.
#[derive(Debug, Clone)]
struct Domains {
    key: String,
    /// Per ready node, by index: its domain's number.
    of_node: Vec<Option<u32>>,
    numbers: BTreeMap<String, u32>,
    /// Domain names by number.
    names: Vec<String>,
}

/// Domain numberings per topology key. They depend only on the ready nodes,
/// so they are kept with the filter memory from round to round while the
/// nodes do not change.
#[derive(Debug, Clone, Default)]
pub struct DomainNumbering {
    keys: Vec<Domains>,
}

/// A tenant's selected jobs per numbered domain of one topology key, the
/// fold's and this round's. Jobs in domains no ready node is in count only
/// in the total.
#[derive(Debug, Clone, Default)]
struct DomainCounts<'a> {
    /// The fold's counts by domain name, where the fold keeps them; read
    /// only for the domains a decision asks about.
    kept: Option<&'a BTreeMap<String, u32>>,
    /// Counts the fold does not keep, and this round's bindings, by number.
    per_domain: BTreeMap<u32, u32>,
    total: u32,
}

impl DomainCounts<'_> {
    /// The count of domain number `domain`, named `name`.
    fn get(&self, domain: Option<u32>, name: &str) -> u32 {
        let Some(d) = domain else {
            return 0;
        };
        let kept = self
            .kept
            .and_then(|kept| kept.get(name))
            .copied()
            .unwrap_or(0);
        kept + self.per_domain.get(&d).copied().unwrap_or(0)
    }

    fn add(&mut self, domain: Option<u32>, jobs: u32) {
        self.total += jobs;
        if let Some(d) = domain {
            *self.per_domain.entry(d).or_default() += jobs;
        }
    }
}

type CountsKey<'a> = (&'a str, &'a JobSelector, &'a str);

/// One kind of required anti-affinity that a tenant's jobs on nodes hold:
/// its selector and topology key, and which numbered domains hold such a
/// job.
#[derive(Debug, Clone)]
struct RepellerGroup<'a> {
    selector: &'a JobSelector,
    key: &'a str,
    /// The index of the key's numbered domains.
    domains: usize,
    /// The numbered domains holding such a job.
    held: BTreeSet<u32>,
}

/// A tenant's repeller groups, found by the first label of their selector.
#[derive(Debug, Clone, Default)]
struct TenantRepellers<'a> {
    groups: Vec<RepellerGroup<'a>>,
    /// Groups whose selector names labels, by its first (key, value).
    by_label: BTreeMap<(&'a str, &'a str), Vec<usize>>,
    /// Groups whose selector names no label: every job is a candidate.
    unlabelled: Vec<usize>,
}

impl<'a> TenantRepellers<'a> {
    /// Adds a group, indexed by its selector's first label; returns its
    /// index.
    fn push(&mut self, group: RepellerGroup<'a>) -> usize {
        let index = self.groups.len();
        match first_label(group.selector) {
            Some(label) => self.by_label.entry(label).or_default().push(index),
            None => self.unlabelled.push(index),
        }
        self.groups.push(group);
        index
    }

    /// The groups that may share `selector`: those indexed under its first
    /// label, or those without labels.
    fn candidates(&self, selector: &'a JobSelector) -> &[usize] {
        match first_label(selector) {
            Some(label) => self.by_label.get(&label).map_or(&[][..], Vec::as_slice),
            None => &self.unlabelled[..],
        }
    }
}

/// A selector's first (key, value) label, in key order.
fn first_label(selector: &JobSelector) -> Option<(&str, &str)> {
    selector
        .match_labels
        .iter()
        .next()
        .map(|(k, v)| (k.as_str(), v.as_str()))
}

/// A job's view of its neighbours for one placement decision, computed
/// once per decision and consulted per candidate node: for each of its
/// terms, which counts to read.
#[derive(Debug, Clone, Default)]
pub struct JobView<'a> {
    tenant: &'a str,
    /// The tenant's repeller groups whose selector matches this job.
    repelled_by: Vec<usize>,
    /// Counts per required affinity and anti-affinity term, in order.
    required_affinity: Vec<usize>,
    required_anti_affinity: Vec<usize>,
    /// Counts per preferred affinity and anti-affinity term, in order.
    preferred_affinity: Vec<usize>,
    preferred_anti_affinity: Vec<usize>,
    /// Per spread constraint: its counts, and the fewest and most selected
    /// jobs in any eligible domain.
    spread: Vec<(usize, u32, u32)>,
}

/// The jobs on nodes, as one round sees them: the fold's, plus the round's
/// own bindings.
///
/// Counts are kept for the round in an arena, one per distinct (tenant,
/// selector, topology key) that a job asked about; a round looks at a
/// bounded number of jobs (`ROUND_JOBS_SCANNED_MAX`), each with a bounded
/// number of terms, so the arena is bounded too.
pub struct Neighbours<'a> {
    state: &'a CellState,
    /// Ready nodes, in name order, as the round indexes them.
    names: Vec<&'a str>,
    nodes: Vec<&'a Node>,
    /// This round's bindings: (job, ready node index).
    bound: Vec<(&'a Job, usize)>,
    /// Per topology key asked about: its numbered domains.
    domains: RefCell<DomainNumbering>,
    /// Counts, each with the index of its key's domains.
    counts: RefCell<Vec<(CountsKey<'a>, usize, DomainCounts<'a>)>>,
    count_index: RefCell<BTreeMap<CountsKey<'a>, usize>>,
    /// Per tenant, once asked for: the required anti-affinity its jobs on
    /// nodes hold, grouped.
    repellers: RefCell<BTreeMap<&'a str, TenantRepellers<'a>>>,
}

impl<'a> Neighbours<'a> {
    /// The round's neighbours over the ready nodes `names` and `nodes`, with
    /// domains numbered for those nodes by earlier rounds.
    pub fn of(
        state: &'a CellState,
        names: Vec<&'a str>,
        nodes: Vec<&'a Node>,
        numbering: DomainNumbering,
    ) -> Neighbours<'a> {
        Neighbours {
            state,
            names,
            nodes,
            bound: Vec::new(),
            domains: RefCell::new(numbering),
            counts: RefCell::new(Vec::new()),
            count_index: RefCell::new(BTreeMap::new()),
            repellers: RefCell::new(BTreeMap::new()),
        }
    }

    /// Ends the round, handing back the domain numbering.
    pub fn into_numbering(self) -> DomainNumbering {
        self.domains.into_inner()
    }

    /// The index of `key`'s numbered domains, numbering them on first use.
    fn number_domains(&self, key: &'a str) -> usize {
        if let Some(index) = self.domains.borrow().keys.iter().position(|d| d.key == key) {
            return index;
        }
        let mut numbers: BTreeMap<String, u32> = BTreeMap::new();
        for (name, node) in self.names.iter().zip(&self.nodes) {
            if let Some(d) = domain(name, node, key) {
                numbers.insert(d.to_string(), 0);
            }
        }
        for (number, value) in numbers.values_mut().enumerate() {
            *value = number as u32;
        }
        let of_node = self
            .names
            .iter()
            .zip(&self.nodes)
            .map(|(name, node)| domain(name, node, key).map(|d| numbers[d]))
            .collect();
        let names = numbers.keys().cloned().collect();
        let mut domains = self.domains.borrow_mut();
        domains.keys.push(Domains {
            key: key.to_string(),
            of_node,
            numbers,
            names,
        });
        domains.keys.len() - 1
    }

    /// The number of ready node `i`'s domain under `key`.
    pub fn domain_of(&self, key: &'a str, i: usize) -> Option<u32> {
        let index = self.number_domains(key);
        self.domain_at(index, i)
    }

    /// The number of ready node `i`'s domain in the numbering at `index`.
    fn domain_at(&self, index: usize, i: usize) -> Option<u32> {
        self.domains.borrow().keys[index].of_node[i]
    }

    /// The number of the named domain under `key`, if a ready node is in it.
    fn number_of(&self, key: &'a str, domain: &str) -> Option<u32> {
        let index = self.number_domains(key);
        self.domains.borrow().keys[index]
            .numbers
            .get(domain)
            .copied()
    }

    /// The domain number, under `key`, of the node the fold's job `id` is
    /// on, with the job; None if the job is on no node.
    fn placed(&self, id: &'a str, key: &'a str) -> Option<(&'a Job, Option<u32>)> {
        let job = self.state.jobs.get(id)?;
        let (name, node) = self.state.nodes.get_key_value(job.node.as_deref()?)?;
        Some((
            job,
            domain(name, node, key).and_then(|d| self.number_of(key, d)),
        ))
    }

    fn count_afresh(&self, key: CountsKey<'a>) -> DomainCounts<'a> {
        let (tenant, selector, topology_key) = key;
        let domains = self.number_domains(topology_key);
        let mut counts = DomainCounts {
            kept: None,
            per_domain: BTreeMap::new(),
            total: 0,
        };
        match kept_counts(self.state, tenant, selector, topology_key) {
            Some(Kept::Counts { per_domain, total }) => {
                counts.kept = Some(per_domain);
                counts.total = total;
            }
            Some(Kept::NoneSelected) => {}
            None => {
                for id in candidates(self.state, tenant, selector) {
                    if let Some((job, d)) = self.placed(id, topology_key)
                        && selector.matches(&job.spec.labels)
                    {
                        counts.add(d, 1);
                    }
                }
            }
        }
        for (job, i) in &self.bound {
            if job.tenant == tenant && selector.matches(&job.spec.labels) {
                counts.add(self.domain_at(domains, *i), 1);
            }
        }
        counts
    }

    /// The arena index of the counts for a term, counted on first use.
    fn counts_for(
        &self,
        tenant: &'a str,
        selector: &'a JobSelector,
        topology_key: &'a str,
    ) -> usize {
        let key = (tenant, selector, topology_key);
        if let Some(index) = self.count_index.borrow().get(&key) {
            return *index;
        }
        let counts = self.count_afresh(key);
        let domains = self.number_domains(topology_key);
        let mut arena = self.counts.borrow_mut();
        arena.push((key, domains, counts));
        self.count_index.borrow_mut().insert(key, arena.len() - 1);
        arena.len() - 1
    }

    /// Selected jobs in ready node `i`'s domain, by the counts at `index`.
    fn count_at(&self, index: usize, i: usize) -> u32 {
        let counts = self.counts.borrow();
        let (_, domains, counts) = &counts[index];
        let numbering = self.domains.borrow();
        let domains = &numbering.keys[*domains];
        let d = domains.of_node[i];
        d.map_or(0, |d| counts.get(Some(d), &domains.names[d as usize]))
    }

    /// Selected jobs in domain number `d`, by the counts at `index`.
    fn count_of_domain(&self, index: usize, d: u32) -> u32 {
        let counts = self.counts.borrow();
        let (_, domains, counts) = &counts[index];
        let numbering = self.domains.borrow();
        counts.get(Some(d), &numbering.keys[*domains].names[d as usize])
    }

    /// Adds one holder of required anti-affinity, whose node's domain under
    /// each term's key is `domain_of(key)`, to its tenant's groups.
    fn add_repeller(
        &self,
        repellers: &mut TenantRepellers<'a>,
        holder: &'a Job,
        domain_of: impl Fn(&'a str) -> Option<u32>,
    ) {
        for term in &holder.spec.constraints.job_anti_affinity.required {
            let key = term.topology_key.as_str();
            let Some(d) = domain_of(key) else {
                continue;
            };
            let same_kind = repellers
                .candidates(&term.selector)
                .iter()
                .copied()
                .find(|g| {
                    let group = &repellers.groups[*g];
                    group.key == key && *group.selector == term.selector
                });
            let group = match same_kind {
                Some(group) => group,
                None => {
                    let domains = self.number_domains(key);
                    repellers.push(RepellerGroup {
                        selector: &term.selector,
                        key,
                        domains,
                        held: BTreeSet::new(),
                    })
                }
            };
            repellers.groups[group].held.insert(d);
        }
    }

    /// A group for a kind of required anti-affinity that the fold counts,
    /// holding the numbered domains of its holders.
    fn fold_group(
        &self,
        kind: &'a RepellerKind,
        per_domain: &'a BTreeMap<String, u32>,
    ) -> RepellerGroup<'a> {
        let key = kind.topology_key.as_str();
        let domains = self.number_domains(key);
        let numbering = self.domains.borrow();
        let numbers = &numbering.keys[domains].numbers;
        RepellerGroup {
            selector: &kind.selector,
            key,
            domains,
            held: per_domain
                .keys()
                .filter_map(|name| numbers.get(name.as_str()).copied())
                .collect(),
        }
    }

    /// The indices of the tenant's repeller groups that select `job`,
    /// grouping the tenant's repellers on first use.
    fn repelled_by(&self, job: &'a Job) -> Vec<usize> {
        let tenant = job.tenant.as_str();
        if !self.repellers.borrow().contains_key(tenant) {
            let mut groups = TenantRepellers::default();
            for (kind, per_domain) in self.state.repellers.of_tenant(tenant) {
                groups.push(self.fold_group(kind, per_domain));
            }
            for (holder, i) in &self.bound {
                if holder.tenant == tenant {
                    self.add_repeller(&mut groups, holder, |key| self.domain_of(key, *i));
                }
            }
            self.repellers.borrow_mut().insert(tenant, groups);
        }
        let repellers = self.repellers.borrow();
        let repellers = &repellers[tenant];
        if repellers.groups.is_empty() {
            return Vec::new();
        }
        let labelled = job
            .spec
            .labels
            .iter()
            .filter_map(|(k, v)| repellers.by_label.get(&(k.as_str(), v.as_str())))
            .flatten();
        let mut selecting: Vec<usize> = repellers
            .unlabelled
            .iter()
            .chain(labelled)
            .copied()
            .filter(|g| repellers.groups[*g].selector.matches(&job.spec.labels))
            .collect();
        selecting.sort_unstable();
        selecting.dedup();
        selecting
    }

    /// The job's view of the other jobs, if its placement depends on them:
    /// its own terms, or another job's anti-affinity that selects it.
    /// `eligible(key)` numbers the domains a spread over `key` counts.
    pub fn view(
        &self,
        job: &'a Job,
        eligible: &dyn Fn(&'a str) -> Vec<u32>,
    ) -> Option<JobView<'a>> {
        let constraints = &job.spec.constraints;
        let repelled_by = self.repelled_by(job);
        if !constraints.has_job_terms() && repelled_by.is_empty() {
            return None;
        }
        let tenant = job.tenant.as_str();
        let terms = |terms: &'a [JobAffinityTerm]| {
            terms
                .iter()
                .map(|t| self.counts_for(tenant, &t.selector, &t.topology_key))
                .collect()
        };
        let weighted = |terms: &'a [WeightedJobAffinityTerm]| {
            terms
                .iter()
                .map(|t| self.counts_for(tenant, &t.selector, &t.topology_key))
                .collect()
        };
        let spread = constraints
            .topology_spread
            .iter()
            .map(|spread| {
                let index = self.counts_for(tenant, &spread.selector, &spread.topology_key);
                let domains = eligible(&spread.topology_key);
                let per_domain = domains.iter().map(|d| self.count_of_domain(index, *d));
                let fewest = per_domain.clone().min().unwrap_or(0);
                (index, fewest, per_domain.max().unwrap_or(0))
            })
            .collect();
        Some(JobView {
            tenant,
            repelled_by,
            required_affinity: terms(&constraints.job_affinity.required),
            required_anti_affinity: terms(&constraints.job_anti_affinity.required),
            preferred_affinity: weighted(&constraints.job_affinity.preferred),
            preferred_anti_affinity: weighted(&constraints.job_anti_affinity.preferred),
            spread,
        })
    }

    /// The topology key of the first repeller group in the view that holds
    /// ready node `i`'s domain, if any.
    fn repelled_here(&self, view: &JobView<'a>, i: usize) -> Option<&'a str> {
        if view.repelled_by.is_empty() {
            return None;
        }
        let repellers = self.repellers.borrow();
        let groups = &repellers[view.tenant].groups;
        view.repelled_by.iter().find_map(|g| {
            let group = &groups[*g];
            self.domain_at(group.domains, i)
                .is_some_and(|d| group.held.contains(&d))
                .then_some(group.key)
        })
    }

    /// Why `job` may not go to ready node `i` given where the other jobs
    /// are, or None.
    pub fn conflict(&self, job: &'a Job, view: &JobView<'a>, i: usize) -> Option<Conflict<'a>> {
        let constraints = &job.spec.constraints;
        for (term, index) in constraints
            .job_affinity
            .required
            .iter()
            .zip(&view.required_affinity)
        {
            // The first of a group that selects itself may go anywhere.
            let first = term.selector.matches(&job.spec.labels)
                && self.counts.borrow()[*index].2.total == 0;
            if !first && self.count_at(*index, i) == 0 {
                return Some(Conflict::AffinityUnmet {
                    selector: &term.selector,
                    key: &term.topology_key,
                });
            }
        }
        for (term, index) in constraints
            .job_anti_affinity
            .required
            .iter()
            .zip(&view.required_anti_affinity)
        {
            if self.count_at(*index, i) > 0 {
                return Some(Conflict::AntiAffinity {
                    selector: &term.selector,
                    key: &term.topology_key,
                });
            }
        }
        if let Some(key) = self.repelled_here(view, i) {
            return Some(Conflict::Repelled { key });
        }
        for (spread, (index, fewest, _)) in constraints.topology_spread.iter().zip(&view.spread) {
            if spread.when_unsatisfiable == WhenUnsatisfiable::ScheduleAnyway {
                continue;
            }
            if self.domain_at(self.counts.borrow()[*index].1, i).is_none() {
                return Some(Conflict::NoDomain {
                    key: &spread.topology_key,
                });
            }
            let own = u32::from(spread.selector.matches(&job.spec.labels));
            let skew = (self.count_at(*index, i) + own).saturating_sub(*fewest);
            if skew > spread.max_skew {
                return Some(Conflict::Skew {
                    key: &spread.topology_key,
                    max_skew: spread.max_skew,
                });
            }
        }
        None
    }

    /// The job's preferences about other jobs on ready node `i`: (weight
    /// met, weight stated). Preferred affinity is met where a selected job
    /// is in the domain, preferred anti-affinity where none is, and a spread
    /// that may be broken in proportion to how uncrowded the domain is.
    pub fn preference(&self, job: &'a Job, view: &JobView<'a>, i: usize) -> (u64, u64) {
        let constraints = &job.spec.constraints;
        let (mut met, mut stated) = (0u64, 0u64);
        for (term, index) in constraints
            .job_affinity
            .preferred
            .iter()
            .zip(&view.preferred_affinity)
        {
            stated += u64::from(term.weight);
            if self.count_at(*index, i) > 0 {
                met += u64::from(term.weight);
            }
        }
        for (term, index) in constraints
            .job_anti_affinity
            .preferred
            .iter()
            .zip(&view.preferred_anti_affinity)
        {
            stated += u64::from(term.weight);
            if self.count_at(*index, i) == 0 {
                met += u64::from(term.weight);
            }
        }
        for (spread, (index, fewest, most)) in constraints.topology_spread.iter().zip(&view.spread)
        {
            if spread.when_unsatisfiable != WhenUnsatisfiable::ScheduleAnyway {
                continue;
            }
            stated += SOFT_SPREAD_WEIGHT;
            if self.domain_at(self.counts.borrow()[*index].1, i).is_none() {
                continue;
            }
            let count = self.count_at(*index, i);
            met += if most > fewest {
                SOFT_SPREAD_WEIGHT * u64::from(most.saturating_sub(count))
                    / u64::from(most - fewest)
            } else {
                SOFT_SPREAD_WEIGHT
            };
        }
        (met, stated)
    }

    /// Records a binding of this round onto ready node `i`, keeping every
    /// count current.
    pub fn note_bound(&mut self, job: &'a Job, i: usize) {
        self.bound.push((job, i));
        let tenant = job.tenant.as_str();
        if !job.spec.constraints.job_anti_affinity.required.is_empty()
            && let Some(mut groups) = self.repellers.get_mut().remove(tenant)
        {
            self.add_repeller(&mut groups, job, |key| self.domain_of(key, i));
            self.repellers.get_mut().insert(tenant, groups);
        }
        let mut counts = std::mem::take(self.counts.get_mut());
        for ((counted_tenant, selector, _), domains, counts) in counts.iter_mut() {
            if *counted_tenant == tenant && selector.matches(&job.spec.labels) {
                counts.add(self.domain_at(*domains, i), 1);
            }
        }
        *self.counts.get_mut() = counts;
    }
}
