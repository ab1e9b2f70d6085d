//! The ready nodes during one round: what each has free, updated as the
//! round binds, and the choice of a node for a job: the feasible nodes
//! (filters, then room, searched through a segment tree of free resources),
//! at most [`SCORED_NODES_MAX`] of them in name order (from a point derived
//! from the job's id under the spread strategy), ranked by score, ties to
//! the lowest node name.

use crate::filter::{filter_key, refusal};
use crate::filter_memory::{ClassFacts, FilterMemory, PASSES, REFUSED, UNKNOWN};
use crate::neighbours::{JobView, Neighbours};
use crate::node_trees::NodeTrees;
use crate::score::{Candidate, scores, total};
use crate::timeline::{Free, RoundBinding};
use rota_events::{Resources, Strategy, fnv1a64};
use rota_projections::{
    CellState, Job, Node, NodeState, gpu_share_milli, gpu_summary, pick_gpu_devices,
};
use std::collections::BTreeMap;

/// Most feasible nodes scored for one job. Like kube-scheduler's
/// percentage of nodes to score, it bounds a decision's work on a large
/// cluster; the starting point varies with the job so that load spreads.
pub const SCORED_NODES_MAX: usize = 16;

/// Most request shapes one round remembers as fitting nowhere.
pub const UNFIT_SHAPES_MAX: usize = 64;

/// Where a job's filter results are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FilterClass {
    /// The job's constraints filter nothing; only refusing taints matter.
    TaintsOnly,
    /// Row of the filter memory.
    Remembered(usize),
    /// The memory is full; filters run at every visit.
    Unremembered,
}

impl FilterClass {
    /// The class's row in the filter memory (`None` for unconstrained jobs),
    /// if it is remembered.
    fn memory_row(self) -> Option<Option<usize>> {
        match self {
            FilterClass::TaintsOnly => Some(None),
            FilterClass::Remembered(row) => Some(Some(row)),
            FilterClass::Unremembered => None,
        }
    }
}

/// A node chosen for a job, with the GPU devices it gets there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice<'a> {
    pub node: &'a str,
    pub devices: Vec<u32>,
}

/// What placement keeps from one round to the next: what it learnt about
/// node filters and the trees of the ready nodes' resources. Both are
/// caches, so a round that starts with nothing decides the same.
#[derive(Debug, Clone, Default)]
pub struct RoundMemory {
    pub filters: FilterMemory,
    pub trees: NodeTrees,
}

/// What each ready node has free now, and what this round has bound there.
pub struct FreeCapacity<'a> {
    state: &'a CellState,
    /// Ready nodes in name order.
    names: Vec<&'a str>,
    nodes: Vec<&'a Node>,
    /// The free and whole capacity of the ready nodes, and their taints.
    trees: NodeTrees,
    /// Free thousandths per GPU device, for nodes this round has bound to.
    devices: BTreeMap<usize, Vec<u32>>,
    /// Extended resources this round has taken, per node.
    extended_taken: BTreeMap<usize, BTreeMap<String, u64>>,
    /// What is known about node filters per constraint class, kept from
    /// round to round while the nodes do not change.
    memory: std::cell::RefCell<FilterMemory>,
    /// Requests (with their filter class and extended needs) that fit on no
    /// node this round. Free capacity only shrinks within a round, so a
    /// request at least as large in the same class cannot fit either.
    unfit: std::cell::RefCell<Vec<(FilterClass, Resources, bool)>>,
    /// Per node, this round's bindings: expected end in ms, request, devices.
    pub bound_this_round: BTreeMap<&'a str, Vec<RoundBinding>>,
    /// Where the jobs are, for filters and scores that depend on them.
    neighbours: Neighbours<'a>,
}

impl<'a> FreeCapacity<'a> {
    /// The round's view, with nothing remembered from earlier rounds.
    pub fn of(state: &'a CellState) -> FreeCapacity<'a> {
        FreeCapacity::with_memory(state, RoundMemory::default())
    }

    /// The round's view, with what earlier rounds learnt (forgotten where
    /// the nodes changed since).
    pub fn with_memory(state: &'a CellState, memory: RoundMemory) -> FreeCapacity<'a> {
        let (names, nodes): (Vec<&'a str>, Vec<&'a Node>) = state
            .nodes
            .iter()
            .filter(|(_, node)| node.state == NodeState::Ready)
            .map(|(name, node)| (name.as_str(), node))
            .unzip();
        let mut filters = memory
            .filters
            .valid_for(state.placement.nodes_changed_seq, nodes.len());
        let numbering = std::mem::take(&mut filters.numbering);
        FreeCapacity {
            state,
            trees: memory
                .trees
                .refreshed(state.placement.nodes_changed_seq, &nodes),
            memory: std::cell::RefCell::new(filters),
            unfit: std::cell::RefCell::new(Vec::new()),
            devices: BTreeMap::new(),
            extended_taken: BTreeMap::new(),
            bound_this_round: BTreeMap::new(),
            neighbours: Neighbours::of(state, names.clone(), nodes.clone(), numbering),
            names,
            nodes,
        }
    }

    /// The numbered domains under `key` of the ready nodes that pass the
    /// job's node filters and are large enough for it: where a spread
    /// constraint counts. A domain no node of which could ever take the job
    /// would otherwise hold the spread's minimum down for good.
    fn eligible_domains(&self, job: &'a Job, class: FilterClass, key: &'a str) -> Vec<u32> {
        let request = job.spec.resources;
        if let Some(Some(domains)) =
            self.with_facts(class, |facts| facts.eligible_domains(key, &request))
        {
            return domains;
        }
        let mut domains: Vec<u32> = (0..self.names.len())
            .filter(|i| {
                request.fits_within(&self.trees.capacity.get(*i))
                    && self.passes_filters(*i, job, class)
            })
            .filter_map(|i| self.neighbours.domain_of(key, i))
            .collect();
        domains.sort_unstable();
        domains.dedup();
        self.with_facts(class, |facts| {
            facts.note_eligible_domains(key, &request, domains.clone())
        });
        domains
    }

    /// The job's view of the other jobs, if its placement depends on them.
    fn job_view(&self, job: &'a Job, class: FilterClass) -> Option<JobView<'a>> {
        self.neighbours
            .view(job, &|key| self.eligible_domains(job, class, key))
    }

    /// Why other jobs keep `job` off each ready node they keep it off, by
    /// node name: for explanations.
    pub fn neighbour_conflicts(&self, job: &'a Job) -> BTreeMap<&'a str, String> {
        let class = self.filter_class(job);
        let Some(view) = self.job_view(job, class) else {
            return BTreeMap::new();
        };
        (0..self.names.len())
            .filter_map(|i| {
                let conflict = self.neighbours.conflict(job, &view, i)?;
                Some((self.names[i], conflict.to_string()))
            })
            .collect()
    }

    /// True when nothing about other jobs keeps `job` off node `i`.
    fn no_conflict(&self, i: usize, job: &'a Job, view: Option<&JobView<'a>>) -> bool {
        view.is_none_or(|view| self.neighbours.conflict(job, view, i).is_none())
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Ready nodes in name order.
    pub fn names(&self) -> &[&'a str] {
        &self.names
    }

    fn index(&self, node: &str) -> Option<usize> {
        self.names.binary_search(&node).ok()
    }

    fn gpu_free(&self, i: usize) -> &[u32] {
        self.devices
            .get(&i)
            .map_or(&self.nodes[i].gpu_free_milli, Vec::as_slice)
    }

    /// What `node` has free now, GPUs per device: the form reservations are
    /// made in.
    pub fn free_now(&self, node: &str) -> Free {
        let Some(i) = self.index(node) else {
            return Free::default();
        };
        let free = self.trees.free.get(i);
        Free {
            cpu_milli: free.cpu_milli,
            memory_bytes: free.memory_bytes,
            gpu_free_milli: self.gpu_free(i).to_vec(),
        }
    }

    fn extended_fits(&self, i: usize, job: &Job) -> bool {
        let taken = self.extended_taken.get(&i);
        job.spec.constraints.extended.iter().all(|(name, amount)| {
            let taken = taken.and_then(|t| t.get(name)).copied().unwrap_or(0);
            self.nodes[i].extended_free(name).saturating_sub(taken) >= *amount
        })
    }

    /// The job's filter class for this round: its row in the memo, found
    /// once per job rather than once per node visited.
    fn filter_class(&self, job: &'a Job) -> FilterClass {
        let Some(key) = filter_key(job) else {
            return FilterClass::TaintsOnly;
        };
        match self.memory.borrow_mut().row_of(&key) {
            Some(row) => FilterClass::Remembered(row),
            None => FilterClass::Unremembered,
        }
    }

    /// Reads the remembered facts of a class, if it is remembered.
    fn with_facts<R>(
        &self,
        class: FilterClass,
        read: impl FnOnce(&mut ClassFacts) -> R,
    ) -> Option<R> {
        let row = class.memory_row()?;
        Some(read(self.memory.borrow_mut().facts(row)))
    }

    /// Ends the round, handing back what it learnt. The nodes it bound to
    /// are computed again from the fold before the next round, which may or
    /// may not hold these bindings.
    pub fn into_memory(self) -> RoundMemory {
        let mut filters = self.memory.into_inner();
        filters.numbering = self.neighbours.into_numbering();
        filters.end_round();
        let mut trees = self.trees;
        for i in self.devices.keys() {
            trees.note_changed_by_round(*i);
        }
        RoundMemory { filters, trees }
    }

    /// Whether node `i` passes the job's filters, remembered per filter
    /// class for the round. A job whose constraints filter nothing passes
    /// every node but those with refusing taints, without looking further.
    fn passes_filters(&self, i: usize, job: &'a Job, class: FilterClass) -> bool {
        match class {
            FilterClass::TaintsOnly if !self.trees.hard_tainted[i] => true,
            FilterClass::Unremembered => refusal(job, self.nodes[i]).is_none(),
            FilterClass::TaintsOnly | FilterClass::Remembered(_) => {
                let row = class.memory_row().expect("remembered");
                let mut memory = self.memory.borrow_mut();
                let known = &mut memory.facts(row).results[i];
                if *known == UNKNOWN {
                    *known = if refusal(job, self.nodes[i]).is_none() {
                        PASSES
                    } else {
                        REFUSED
                    };
                }
                *known == PASSES
            }
        }
    }

    /// True when some ready node passes the job's filters and is large
    /// enough for it when empty.
    /// False when the job's class is known to have no node large enough:
    /// a quick necessary condition for fitting, known once a search for the
    /// class has failed.
    fn class_could_fit(&self, class: FilterClass, request: &Resources) -> bool {
        !self
            .with_facts(class, |facts| facts.known_never_to_fit(request))
            .unwrap_or(false)
    }

    /// Computes the class's largest capacity, after a failed search.
    fn learn_class(&self, class: FilterClass, job: &'a Job) {
        if self
            .with_facts(class, |facts| facts.largest.is_some())
            .unwrap_or(true)
        {
            return;
        }
        let largest = (0..self.names.len())
            .filter(|i| self.passes_filters(*i, job, class))
            .map(|i| self.trees.capacity.get(i))
            .fold(Resources::default(), |a, b| crate::max_tree::max(&a, &b));
        self.with_facts(class, |facts| facts.largest = Some(largest));
    }

    pub fn could_ever_fit(&self, job: &'a Job) -> bool {
        let class = self.filter_class(job);
        let request = &job.spec.resources;
        if !self.class_could_fit(class, request) {
            return false;
        }
        let fits = self
            .trees
            .capacity
            .first_fit_where(request, &|i| self.passes_filters(i, job, class))
            .is_some();
        if !fits {
            self.with_facts(class, |facts| facts.note_never_fits(request));
        }
        fits
    }

    /// The ready nodes, in name order, that pass the job's filters and are
    /// large enough for it when empty.
    pub fn nodes_ever_fitting(&self, job: &'a Job) -> Vec<&'a str> {
        let class = self.filter_class(job);
        let view = self.job_view(job, class);
        (0..self.names.len())
            .filter(|i| {
                job.spec.resources.fits_within(&self.trees.capacity.get(*i))
                    && self.passes_filters(*i, job, class)
                    && self.no_conflict(*i, job, view.as_ref())
            })
            .map(|i| self.names[i])
            .collect()
    }

    /// The best node for `job` among those with room now that `accept`
    /// takes (all of them if None), or None.
    pub fn choose(
        &self,
        job_id: &str,
        job: &'a Job,
        accept: Option<&dyn Fn(&str) -> bool>,
    ) -> Option<Choice<'a>> {
        // Room held for a preemptor is given to no other job: a node with a
        // nomination takes only the jobs nominated to it.
        let nominations = &self.state.nominations;
        let unrestricted = accept.is_none() && nominations.is_empty();
        let accept = |node: &str| {
            accept.is_none_or(|accept| accept(node))
                && (nominations.is_empty() || held_for(nominations, node, job_id))
        };
        if self.names.is_empty() {
            return None;
        }
        let request = &job.spec.resources;
        let class = self.filter_class(job);
        let extended = !job.spec.constraints.extended.is_empty();
        let known_unfit = self
            .unfit
            .borrow()
            .iter()
            .any(|(unfit_class, shape, unfit_extended)| {
                *unfit_class == class && !unfit_extended && !extended && shape.fits_within(request)
            });
        if known_unfit || !self.class_could_fit(class, request) {
            return None;
        }
        let view = self.job_view(job, class);
        let feasible = |i: usize| {
            accept(self.names[i])
                && self.extended_fits(i, job)
                && self.passes_filters(i, job, class)
                && self.no_conflict(i, job, view.as_ref())
        };
        // Spreading starts each job's search at its own point, so that load
        // spreads over the whole cluster; packing starts at the first node,
        // which keeps the free capacity in one region that the tree finds
        // quickly.
        let start = match self.state.policy.strategy {
            Strategy::Spread => (fnv1a64(0, job_id.as_bytes()) % self.names.len() as u64) as usize,
            Strategy::Binpack | Strategy::Weighted => 0,
        };
        let mut candidates: Vec<usize> = Vec::with_capacity(SCORED_NODES_MAX);
        let nodes = self.names.len();
        for range in [start..nodes, 0..start] {
            self.trees.free.collect_fits_where(
                request,
                range,
                SCORED_NODES_MAX,
                &feasible,
                &mut candidates,
            );
        }
        if candidates.is_empty() {
            self.learn_class(class, job);
            // Remembered only when nothing but room and node filters was
            // asked (an `accept` or other jobs that turn nodes down prove
            // nothing general).
            let mut unfit = self.unfit.borrow_mut();
            if unrestricted
                && view.is_none()
                && unfit.len() < UNFIT_SHAPES_MAX
                && class != FilterClass::Unremembered
            {
                unfit.push((class, *request, extended));
            }
            return None;
        }
        let policy = &self.state.policy;
        candidates
            .into_iter()
            .map(|i| {
                let free = self.trees.free.get(i);
                let after = Resources {
                    cpu_milli: free.cpu_milli - request.cpu_milli,
                    memory_bytes: free.memory_bytes - request.memory_bytes,
                    ..Resources::default()
                };
                let job_preference = view
                    .as_ref()
                    .map_or((0, 0), |view| self.neighbours.preference(job, view, i));
                let candidate = Candidate {
                    job,
                    node: self.nodes[i],
                    free_after: after,
                    max_cost: self.trees.max_cost,
                    job_preference,
                };
                (total(policy, &scores(&candidate)), i)
            })
            .max_by(|(a, i), (b, j)| a.cmp(b).then(self.names[*j].cmp(self.names[*i])))
            .map(|(_, i)| Choice {
                node: self.names[i],
                devices: pick_gpu_devices(self.gpu_free(i), request)
                    .expect("the summary said it fits"),
            })
    }

    /// Takes `job`'s request from the chosen node, for a binding expected to
    /// end at `end_ms`.
    pub fn bind(&mut self, choice: &Choice<'a>, job: &'a Job, end_ms: u64) {
        let i = self.index(choice.node).expect("binding onto a ready node");
        let request = &job.spec.resources;
        let mut devices = self.gpu_free(i).to_vec();
        let share = gpu_share_milli(request);
        for device in &choice.devices {
            devices[*device as usize] -= share;
        }
        let free = self.trees.free.get(i);
        let summary = gpu_summary(
            free.cpu_milli - request.cpu_milli,
            free.memory_bytes - request.memory_bytes,
            &devices,
        );
        self.trees.free.set(i, summary);
        self.devices.insert(i, devices);
        for (name, amount) in &job.spec.constraints.extended {
            *self
                .extended_taken
                .entry(i)
                .or_default()
                .entry(name.clone())
                .or_default() += amount;
        }
        self.bound_this_round.entry(choice.node).or_default().push((
            end_ms,
            *request,
            choice.devices.clone(),
        ));
        self.neighbours.note_bound(job, i);
    }
}

/// Whether `node` may take `job_id` as far as nominations go: it holds no
/// room for another job.
fn held_for(nominations: &rota_projections::Nominations, node: &str, job_id: &str) -> bool {
    let mut nominees = nominations.on_node(node).peekable();
    nominees.peek().is_none() || nominees.any(|nominee| nominee == job_id)
}
