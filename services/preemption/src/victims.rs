//! The victims on one node: of the occupants a rule allows, the fewest and
//! cheapest whose going makes room for the preemptor, and what that costs.

use crate::room::Room;
use rota_events::Resources;
use rota_projections::{Occupant, OccupantTerms};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// One occupant a rule allows to be preempted, with what preempting it
/// costs.
#[derive(Debug, Clone, Copy)]
pub struct Victim<'a> {
    pub occupant: &'a Occupant,
    pub cpu_milli: u64,
    pub memory_bytes: u64,
    /// Its preemption priority (its class's value).
    pub priority: u32,
    /// The run time it would lose, in milliseconds.
    pub lost_ms: u64,
    /// The work it would lose: run time times cores, in core-milliseconds.
    pub work_core_ms: u64,
}

impl<'a> Victim<'a> {
    /// `occupant`, whose terms are `terms`: only the terms are read here.
    pub fn new(
        occupant: &'a Occupant,
        terms: &OccupantTerms,
        priority: u32,
        now_ms: u64,
    ) -> Victim<'a> {
        let lost_ms = now_ms.saturating_sub(terms.bound_ms);
        let work_core_ms = lost_ms.saturating_mul(terms.cpu_milli) / 1000;
        Victim {
            occupant,
            cpu_milli: terms.cpu_milli,
            memory_bytes: terms.memory_bytes,
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

impl Cost {
    /// A cost no victim set on this node can be below, from cpu and memory
    /// alone, or None when even every victim would not free enough of them.
    /// `eligible` must be sorted cheapest first ([`sort_cheapest_first`]).
    ///
    /// Every set that makes room includes a victim of at least the lowest
    /// priority `p` at which all eligible victims of priority `p` or lower
    /// would free enough; a set whose dearest victim is of `p` must cover
    /// with victims of `p` what those of lower priorities cannot, which
    /// takes at least as many as the largest of them would, and loses at
    /// least the work of that many of the cheapest of them.
    pub fn lower_bound(
        free: &Resources,
        eligible: &[Victim<'_>],
        request: &Resources,
    ) -> Option<Cost> {
        let fits =
            |cpu: u64, memory: u64| cpu >= request.cpu_milli && memory >= request.memory_bytes;
        let (mut cpu, mut memory) = (free.cpu_milli, free.memory_bytes);
        let mut level_start = 0;
        for (i, victim) in eligible.iter().enumerate() {
            if i > 0 && victim.priority != eligible[i - 1].priority {
                level_start = i;
            }
            cpu = cpu.saturating_add(victim.cpu_milli);
            memory = memory.saturating_add(victim.memory_bytes);
            let level_ends = eligible
                .get(i + 1)
                .is_none_or(|next| next.priority != victim.priority);
            if !(level_ends && fits(cpu, memory)) {
                continue;
            }
            let level = &eligible[level_start..=i];
            let below = &eligible[..level_start];
            let freed_below =
                |get: fn(&Victim<'_>) -> u64| below.iter().map(get).fold(0u64, u64::saturating_add);
            let deficit_cpu = request
                .cpu_milli
                .saturating_sub(free.cpu_milli.saturating_add(freed_below(|v| v.cpu_milli)));
            let deficit_memory = request.memory_bytes.saturating_sub(
                free.memory_bytes
                    .saturating_add(freed_below(|v| v.memory_bytes)),
            );
            let needed = fewest_covering(level, deficit_cpu, |v| v.cpu_milli)
                .max(fewest_covering(level, deficit_memory, |v| v.memory_bytes))
                .max(1);
            return Some(Cost {
                top_priority: victim.priority,
                at_top_priority: needed,
                work_core_ms: level.iter().take(needed).map(|v| v.work_core_ms).sum(),
                victims: needed,
            });
        }
        None
    }
}

/// How few of `level` cover `deficit` of one resource, the largest first.
fn fewest_covering(level: &[Victim<'_>], deficit: u64, get: fn(&Victim<'_>) -> u64) -> usize {
    if deficit == 0 {
        return 0;
    }
    let mut amounts: Vec<u64> = level.iter().map(get).collect();
    amounts.sort_unstable_by(|a, b| b.cmp(a));
    let mut covered = 0u64;
    for (count, amount) in amounts.iter().enumerate() {
        covered = covered.saturating_add(*amount);
        if covered >= deficit {
            return count + 1;
        }
    }
    amounts.len()
}

/// Sorts victims cheapest first: lower priority, then less work lost, then
/// job id.
pub fn sort_cheapest_first(eligible: &mut [Victim<'_>]) {
    eligible.sort_unstable_by(|a, b| a.cheaper(b));
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
    sort_cheapest_first(eligible);
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
