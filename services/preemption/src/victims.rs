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

/// Leaves in `eligible` the minimal set of them whose going lets
/// `request` fit in `room`, and says whether there is one (when even all of
/// them are not enough, `eligible` is left as it was). Victims are taken
/// cheapest first until the request fits, then each is spared again, the
/// dearest first, if the request still fits without it. A victim kept is
/// one the request could not fit without when it was looked at, and
/// sparing others afterwards only shrinks the room, so no victim of the
/// result can be spared: the set is minimal.
pub fn minimal_set(
    room: &Room,
    eligible: &mut Vec<Victim<'_>>,
    request: &Resources,
    extended: &BTreeMap<String, u64>,
) -> bool {
    eligible.sort_unstable_by(|a, b| a.cheaper(b));
    let mut freed = room.clone();
    let mut taken = 0;
    while !freed.fits(request, extended) {
        let Some(victim) = eligible.get(taken) else {
            return false;
        };
        freed.release(victim.occupant);
        taken += 1;
    }
    eligible.truncate(taken);
    // `freed` is now the room with every victim taken gone; sparing one
    // puts it back, and keeping it takes it out again.
    for spare in (0..eligible.len()).rev() {
        freed.take_back(eligible[spare].occupant);
        match freed.fits(request, extended) {
            true => {
                eligible.remove(spare);
            }
            false => freed.release(eligible[spare].occupant),
        }
    }
    true
}
