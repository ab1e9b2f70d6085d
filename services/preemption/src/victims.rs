//! The victims on one node: of the occupants a rule allows, the fewest and
//! cheapest whose going makes room for the preemptor, and what that costs.

use crate::room::Room;
use rota_events::Resources;
use rota_projections::Occupant;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// One occupant a rule allows to be preempted, with what preempting it
/// costs.
#[derive(Debug, Clone, Copy)]
pub struct Victim<'a> {
    pub occupant: &'a Occupant,
    /// Its preemption priority (its class's value).
    pub priority: u32,
    /// The run time it would lose, in milliseconds.
    pub lost_ms: u64,
    /// The work it would lose: run time times cores, in core-milliseconds.
    pub work_core_ms: u64,
}

impl<'a> Victim<'a> {
    pub fn new(occupant: &'a Occupant, priority: u32, now_ms: u64) -> Victim<'a> {
        let lost_ms = now_ms.saturating_sub(occupant.bound_ms);
        let work_core_ms = lost_ms.saturating_mul(occupant.resources.cpu_milli) / 1000;
        Victim {
            occupant,
            priority,
            lost_ms,
            work_core_ms,
        }
    }

    /// Cheapest first: lower priority, then less work lost, then job id.
    fn cheaper(&self, other: &Victim<'_>) -> Ordering {
        (self.priority, self.work_core_ms, &self.occupant.job).cmp(&(
            other.priority,
            other.work_core_ms,
            &other.occupant.job,
        ))
    }
}

/// What a set of victims costs, compared in order: the highest priority
/// among them, how many are of it, the work lost, how many in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cost {
    pub top_priority: u32,
    pub at_top_priority: usize,
    pub work_core_ms: u64,
    pub victims: usize,
}

impl Cost {
    pub fn of(victims: &[Victim<'_>]) -> Cost {
        let top_priority = victims.iter().map(|v| v.priority).max().unwrap_or(0);
        Cost {
            top_priority,
            at_top_priority: victims
                .iter()
                .filter(|v| v.priority == top_priority)
                .count(),
            work_core_ms: victims.iter().map(|v| v.work_core_ms).sum(),
            victims: victims.len(),
        }
    }
}

/// The minimal set of `eligible` whose going lets `request` fit in `room`,
/// or None when even all of them are not enough. Victims are taken
/// cheapest first until the request fits, then each is spared again, the
/// dearest first, if the request still fits without it. A victim kept is
/// one the request could not fit without when it was looked at, and
/// sparing others afterwards only shrinks the room, so no victim of the
/// result can be spared: the set is minimal.
pub fn minimal_set<'a>(
    room: &Room,
    mut eligible: Vec<Victim<'a>>,
    request: &Resources,
    extended: &BTreeMap<String, u64>,
) -> Option<Vec<Victim<'a>>> {
    eligible.sort_by(|a, b| a.cheaper(b));
    let mut freed = room.clone();
    let mut taken = 0;
    while !freed.fits(request, extended) {
        let victim = eligible.get(taken)?;
        freed.release(victim.occupant);
        taken += 1;
    }
    eligible.truncate(taken);
    let mut kept: Vec<bool> = vec![true; eligible.len()];
    for spare in (0..eligible.len()).rev() {
        kept[spare] = false;
        if !fits_without_kept(room, &eligible, &kept, request, extended) {
            kept[spare] = true;
        }
    }
    Some(
        eligible
            .into_iter()
            .zip(kept)
            .filter_map(|(victim, kept)| kept.then_some(victim))
            .collect(),
    )
}

/// Whether the request fits once the kept victims have gone.
fn fits_without_kept(
    room: &Room,
    victims: &[Victim<'_>],
    kept: &[bool],
    request: &Resources,
    extended: &BTreeMap<String, u64>,
) -> bool {
    let mut freed = room.clone();
    for (victim, _) in victims.iter().zip(kept).filter(|(_, kept)| **kept) {
        freed.release(victim.occupant);
    }
    freed.fits(request, extended)
}
