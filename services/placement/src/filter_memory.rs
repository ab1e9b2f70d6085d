//! What placement has learnt about node filters, kept from round to round.
//!
//! A node filter's answer depends only on the job's constraints and the
//! node's registration, so it stays true until the cell's nodes change
//! (`CellState::nodes_changed_seq`). Remembering answers per constraint
//! class, with what follows from them (the largest node a class may use,
//! requests no such node could ever take), saves evaluating every filter on
//! every node in every round. It is a cache: a core without it decides the
//! same rounds, which replay verification relies on.

use crate::filter::FilterKey;
use crate::neighbours::DomainNumbering;
use rota_events::{LabelRequirement, Resources, Toleration};
use std::collections::BTreeMap;

/// Most constraint classes remembered; further classes are filtered
/// without memory.
pub const FILTER_MEMO_CLASSES_MAX: usize = 64;

/// Most request shapes remembered per class as fitting on no node even
/// empty.
pub const NEVER_FIT_SHAPES_MAX: usize = 64;

/// Most (topology key, request) sets of eligible spread domains remembered
/// per class.
pub const ELIGIBLE_DOMAIN_SETS_MAX: usize = 64;

/// A node's remembered answer for one class.
pub const UNKNOWN: u8 = 0;
pub const PASSES: u8 = 1;
pub const REFUSED: u8 = 2;

/// A filter key that owns its parts, to outlive the round that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OwnedFilterKey {
    node_selector: BTreeMap<String, String>,
    required: Vec<LabelRequirement>,
    tolerations: Vec<Toleration>,
    gpu_model: Option<String>,
    extended: BTreeMap<String, u64>,
}

impl OwnedFilterKey {
    fn of(key: &FilterKey) -> OwnedFilterKey {
        OwnedFilterKey {
            node_selector: key.node_selector.clone(),
            required: key.required.to_vec(),
            tolerations: key.tolerations.to_vec(),
            gpu_model: key.gpu_model.map(str::to_string),
            extended: key.extended.clone(),
        }
    }

    fn view(&self) -> FilterKey<'_> {
        FilterKey {
            node_selector: &self.node_selector,
            required: &self.required,
            tolerations: &self.tolerations,
            gpu_model: self.gpu_model.as_deref(),
            extended: &self.extended,
        }
    }
}

/// What is known about one constraint class.
#[derive(Debug, Clone)]
pub struct ClassFacts {
    /// Per ready node, in name order: [`UNKNOWN`], [`PASSES`] or [`REFUSED`].
    pub results: Vec<u8>,
    /// The component-wise largest capacity among the nodes that pass, once
    /// computed. A request it does not cover fits nowhere, now or later.
    pub largest: Option<Resources>,
    /// Requests no passing node could take even empty; a request at least
    /// as large cannot either.
    pub never_fit: Vec<Resources>,
    /// Per (topology key, request): the numbered domains of the passing
    /// nodes large enough for the request, where a spread counts.
    eligible: Vec<(String, Resources, Vec<u32>)>,
}

impl ClassFacts {
    fn new(nodes: usize) -> ClassFacts {
        ClassFacts {
            results: vec![UNKNOWN; nodes],
            largest: None,
            never_fit: Vec::new(),
            eligible: Vec::new(),
        }
    }

    /// The eligible spread domains under `key` for `request`, if known.
    pub fn eligible_domains(&self, key: &str, request: &Resources) -> Option<Vec<u32>> {
        self.eligible
            .iter()
            .find(|(known, shape, _)| known == key && shape == request)
            .map(|(_, _, domains)| domains.clone())
    }

    pub fn note_eligible_domains(&mut self, key: &str, request: &Resources, domains: Vec<u32>) {
        if self.eligible.len() < ELIGIBLE_DOMAIN_SETS_MAX {
            self.eligible.push((key.to_string(), *request, domains));
        }
    }

    /// True when a request of this shape is known never to fit.
    pub fn known_never_to_fit(&self, request: &Resources) -> bool {
        self.largest
            .is_some_and(|largest| !request.fits_within(&largest))
            || self
                .never_fit
                .iter()
                .any(|shape| shape.fits_within(request))
    }

    pub fn note_never_fits(&mut self, request: &Resources) {
        if self.never_fit.len() < NEVER_FIT_SHAPES_MAX {
            self.never_fit.push(*request);
        }
    }
}

#[derive(Debug, Clone)]
struct Row {
    key: OwnedFilterKey,
    facts: ClassFacts,
    used: bool,
}

/// Filter facts per constraint class, valid for one set of ready nodes.
#[derive(Debug, Clone, Default)]
pub struct FilterMemory {
    /// The fold's `nodes_changed_seq` the facts hold for.
    nodes_changed_seq: u64,
    ready_nodes: usize,
    /// Jobs whose constraints filter nothing (only refusing taints apply).
    unconstrained: Option<ClassFacts>,
    rows: Vec<Row>,
    /// The ready nodes' topology domains, numbered per key.
    pub numbering: DomainNumbering,
}

impl FilterMemory {
    /// The memory, emptied if the nodes have changed since it was filled.
    pub fn valid_for(self, nodes_changed_seq: u64, ready_nodes: usize) -> FilterMemory {
        if self.nodes_changed_seq == nodes_changed_seq && self.ready_nodes == ready_nodes {
            return self;
        }
        FilterMemory {
            nodes_changed_seq,
            ready_nodes,
            unconstrained: None,
            rows: Vec::new(),
            numbering: DomainNumbering::default(),
        }
    }

    /// The row of the class with `key`, added if there is room.
    pub fn row_of(&mut self, key: &FilterKey) -> Option<usize> {
        if let Some(row) = self.rows.iter().position(|row| row.key.view() == *key) {
            self.rows[row].used = true;
            return Some(row);
        }
        if self.rows.len() >= FILTER_MEMO_CLASSES_MAX {
            return None;
        }
        self.rows.push(Row {
            key: OwnedFilterKey::of(key),
            facts: ClassFacts::new(self.ready_nodes),
            used: true,
        });
        Some(self.rows.len() - 1)
    }

    /// The facts of a row, or of unconstrained jobs (`None`).
    pub fn facts(&mut self, row: Option<usize>) -> &mut ClassFacts {
        match row {
            Some(row) => &mut self.rows[row].facts,
            None => {
                let nodes = self.ready_nodes;
                self.unconstrained
                    .get_or_insert_with(|| ClassFacts::new(nodes))
            }
        }
    }

    /// Ends a round: when the memory is full, classes the round did not use
    /// make room for new ones.
    pub fn end_round(&mut self) {
        if self.rows.len() >= FILTER_MEMO_CLASSES_MAX {
            self.rows.retain(|row| row.used);
        }
        for row in &mut self.rows {
            row.used = false;
        }
    }
}
