//! For one waiting job: whether it fits already, and if not, under which
//! rule, on which node and at the cost of which victims it would, or why no
//! preemption can make room for it. Deciding and `rota explain` both ask
//! this.

use crate::bounds::{Bound, bound};
use crate::room::Room;
use crate::rules::{Allowed, rules_for};
use crate::victims::{Cost, Victim, minimal_set, sort_cheapest_first};
use crate::view::RoundView;
use rota_events::{PreemptionRule, Resources};
use rota_projections::accounts::quota::Verdict;
use rota_projections::protection::Protected;
use rota_projections::{Job, Node, NodeOccupants, NodeState, node_filters};

/// How many protected occupants an outlook names, at most.
pub const PROTECTED_NAMED_MAX: usize = 5;

/// The chosen node and victims for one preemptor.
#[derive(Debug, Clone)]
pub struct Plan<'a> {
    pub rule: PreemptionRule,
    pub node: &'a str,
    pub victims: Vec<Victim<'a>>,
    pub cost: Cost,
}

/// Why no preemption makes room for a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Nobody {
    /// Its tenant's quotas or limits hold it: it could not start even on
    /// an empty node, so preempting would free room for nothing.
    Held(String),
    /// No rule lets it preempt: its class never preempts, and neither
    /// reclaim nor fair share applies.
    NoRule,
    /// No ready node its constraints allow is large enough for it, even
    /// empty.
    NoNode,
    /// No running job is of a kind the rules let it take.
    NoCandidates,
    /// Every job it could take is protected; some of them and why.
    AllProtected(Vec<(String, Protected)>),
    /// Even with every job it could take gone, it fits on no node.
    NotEnough,
}

impl std::fmt::Display for Nobody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Nobody::Held(why) => write!(f, "its tenant may not start it now ({why})"),
            Nobody::NoRule => write!(
                f,
                "no rule lets it preempt: its class never preempts, and neither reclaim nor fair share applies"
            ),
            Nobody::NoNode => write!(
                f,
                "no ready node its constraints allow could hold it even empty"
            ),
            Nobody::NoCandidates => write!(
                f,
                "no running job is of lower priority (or borrowed, or over-served) on a node that could hold it"
            ),
            Nobody::AllProtected(named) => {
                write!(f, "every job it could preempt is protected:")?;
                for (job, why) in named {
                    write!(f, " {job} ({why});")?;
                }
                Ok(())
            }
            Nobody::NotEnough => write!(
                f,
                "not enough room on any node even with every job it could preempt gone"
            ),
        }
    }
}

/// What preemption would do for a waiting job now.
#[derive(Debug, Clone)]
pub enum Outlook<'a> {
    /// It fits on `node` without preempting: placement will bind it.
    Fits {
        node: &'a str,
    },
    /// Room is held for it already.
    Nominated {
        node: String,
    },
    Preempts(Plan<'a>),
    Nobody(Nobody),
}

/// What a search over the nodes saw, to say why it found nothing.
#[derive(Default)]
struct Seen {
    node: bool,
    candidates: bool,
    unprotected: bool,
    protected: Vec<(String, Protected)>,
}

/// The outlook for `job` (id `id`).
pub fn outlook<'a>(view: &RoundView<'a>, id: &str, job: &'a Job) -> Outlook<'a> {
    if let Some(nomination) = view.state.nominations.get(id) {
        return Outlook::Nominated {
            node: nomination.node.clone(),
        };
    }
    let rules = startable_rules(view, job);
    if let Err(why) = rules {
        return Outlook::Nobody(Nobody::Held(why));
    }
    let rules = rules.unwrap_or_default();
    let mut seen = Seen::default();
    let request = &job.spec.resources;
    let extended = &job.spec.constraints.extended;
    // One buffer for every node's candidates, so that a search over many
    // nodes allocates only when it finds a better plan.
    let mut scratch: Vec<Victim<'a>> = Vec::new();
    for allowed in &rules {
        let mut best: Option<Plan<'a>> = None;
        for (name, node, occupants) in nodes_with_occupants(view) {
            if !could_hold(node, job) {
                continue;
            }
            seen.node = true;
            let held = !view.held_nodes.is_empty() && view.held_nodes.contains(name);
            let room = Room::free_on(node, extended);
            if room.fits(request, extended) && !held {
                return Outlook::Fits { node: name };
            }
            if held {
                continue;
            }
            let free = node.free();
            // The node's summary may settle it without its occupants: the
            // priority rule reads only classes, which the summary counts.
            if let Allowed::Priority { below } = allowed
                && view.use_summaries
            {
                match bound(view, occupants, *below, &free, request) {
                    Bound::NotEnough => continue,
                    Bound::AtLeast(least) if best.as_ref().is_some_and(|b| least >= b.cost) => {
                        continue;
                    }
                    _ => {}
                }
            }
            scratch.clear();
            let freeable = eligible(view, allowed, occupants, &mut seen, &mut scratch);
            let could_free_enough = free.cpu_milli.saturating_add(freeable.cpu_milli)
                >= request.cpu_milli
                && free.memory_bytes.saturating_add(freeable.memory_bytes) >= request.memory_bytes;
            if scratch.is_empty() || !could_free_enough {
                continue;
            }
            // A node whose best could not beat the best so far is passed
            // without working out its set: a lower bound decides it.
            sort_cheapest_first(&mut scratch);
            let Some(bound) = Cost::lower_bound(&free, &scratch, request) else {
                continue;
            };
            if best.as_ref().is_some_and(|b| bound >= b.cost) {
                continue;
            }
            if !minimal_set(&room, &mut scratch, request, extended) {
                continue;
            }
            let cost = Cost::of(&scratch);
            if best.as_ref().is_none_or(|b| cost < b.cost) {
                best = Some(Plan {
                    rule: allowed.rule(),
                    node: name,
                    victims: scratch.clone(),
                    cost,
                });
            }
        }
        if let Some(plan) = best {
            return Outlook::Preempts(plan);
        }
    }
    Outlook::Nobody(match () {
        _ if rules.is_empty() => Nobody::NoRule,
        _ if !seen.node => Nobody::NoNode,
        _ if !seen.candidates => Nobody::NoCandidates,
        _ if !seen.unprotected => Nobody::AllProtected(seen.protected),
        _ => Nobody::NotEnough,
    })
}

/// The rules under which `job` may preempt, or why its tenant's quotas
/// or limits hold it. A held job may only reclaim: what it waits for is its
/// own guarantee, which others borrowed; no other preemption would let it
/// start.
pub fn startable_rules(view: &RoundView<'_>, job: &Job) -> Result<Vec<Allowed>, String> {
    let rules = rules_for(view, job);
    match view.tenancy.verdict(job) {
        Verdict::Fits { .. } => Ok(rules),
        Verdict::Held(why) => {
            let reclaim: Vec<Allowed> = rules
                .into_iter()
                .filter(|rule| matches!(rule, Allowed::Reclaim { .. }))
                .collect();
            match reclaim.is_empty() {
                true => Err(why),
                false => Ok(reclaim),
            }
        }
    }
}

/// Puts in `eligible` the occupants of one node the rule allows and
/// protection does not keep, and returns what they hold together.
fn eligible<'o>(
    view: &RoundView<'_>,
    allowed: &Allowed,
    occupants: &'o NodeOccupants,
    seen: &mut Seen,
    eligible: &mut Vec<Victim<'o>>,
) -> Resources {
    let now = view.state.now_ms;
    let mut freeable = Resources::default();
    for (terms, occupant) in occupants.terms.iter().zip(&occupants.details) {
        let priority = view.class_of(terms.class).priority;
        if !allowed.allows(view, occupant, terms, priority) {
            continue;
        }
        seen.candidates = true;
        match view.protection(terms) {
            Some(why) => {
                if seen.protected.len() < PROTECTED_NAMED_MAX {
                    seen.protected.push((occupant.job.clone(), why));
                }
            }
            None => {
                seen.unprotected = true;
                freeable.cpu_milli = freeable.cpu_milli.saturating_add(terms.cpu_milli);
                freeable.memory_bytes = freeable.memory_bytes.saturating_add(terms.memory_bytes);
                eligible.push(Victim::new(occupant, terms, priority, now));
            }
        }
    }
    freeable
}

/// Whether `node` takes work, allows `job` and is large enough for it.
fn could_hold(node: &Node, job: &Job) -> bool {
    node.state == NodeState::Ready
        && fits_whole(&job.spec.resources, node)
        && node_filters::refusal(job, node).is_none()
}

fn fits_whole(request: &Resources, node: &Node) -> bool {
    request.fits_within(&node.whole())
}

/// No occupants, for an idle node.
static IDLE: NodeOccupants = NodeOccupants {
    summary: Some([None; rota_projections::SUMMARY_CLASSES_MAX]),
    terms: Vec::new(),
    details: Vec::new(),
};

/// Every node of the ledger with its occupants (none for an idle node), in
/// name order: the two maps are walked together, without a lookup per node.
fn nodes_with_occupants<'v>(
    view: &RoundView<'v>,
) -> impl Iterator<Item = (&'v str, &'v Node, &'v NodeOccupants)> {
    let mut occupied = view.state.occupants.nodes().peekable();
    view.state.nodes.iter().map(move |(name, node)| {
        while occupied
            .peek()
            .is_some_and(|(n, _)| n.as_str() < name.as_str())
        {
            occupied.next();
        }
        let occupants = match occupied.peek() {
            Some((n, occupants)) if *n == name => *occupants,
            _ => &IDLE,
        };
        (name.as_str(), node, occupants)
    })
}
