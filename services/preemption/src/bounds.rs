//! What a node's summary of its occupants bounds, for the priority rule:
//! whether preempting could free enough there at all, and a cost no victim
//! set there can be below. A search passes a node on these alone when it
//! can, without reading the node's occupants.

use crate::victims::Cost;
use crate::view::RoundView;
use rota_events::Resources;
use rota_projections::{ClassSummary, NodeOccupants};

/// What the summary says of a node for a preemptor that may take jobs of
/// priority below `below`.
pub enum Bound {
    /// The node has no summary: its occupants must be read.
    Unknown,
    /// Even every job the rule could take would not free enough.
    NotEnough,
    /// No victim set on the node costs less.
    AtLeast(Cost),
}

/// The bound for `occupants` on a node with `free`, for `request`. A
/// class counts whole unless its every job is still in its minimum run
/// time, so what it counts is at least what could be freed, and the cost
/// at most what a set would cost: both are safe to pass a node by.
pub fn bound(
    view: &RoundView<'_>,
    occupants: &NodeOccupants,
    below: u32,
    free: &Resources,
    request: &Resources,
) -> Bound {
    let Some(summary) = &occupants.summary else {
        return Bound::Unknown;
    };
    let now = view.state.now_ms;
    let mut classes: Vec<(u32, &ClassSummary)> = summary
        .iter()
        .flatten()
        .filter_map(|s| {
            let class = view.class_of(s.class);
            let min_run_ms = class.preemption.min_run_s.saturating_mul(1000);
            let some_past_min_run = now.saturating_sub(s.earliest_bound_ms) >= min_run_ms;
            (class.priority < below && class.preemption.preemptible && some_past_min_run)
                .then_some((class.priority, s))
        })
        .collect();
    classes.sort_by_key(|(priority, _)| *priority);
    let fits = |cpu: u64, memory: u64| cpu >= request.cpu_milli && memory >= request.memory_bytes;
    // What every lower level frees, as the levels are added in turn.
    let (mut cpu, mut memory) = (free.cpu_milli, free.memory_bytes);
    let mut start = 0;
    while start < classes.len() {
        let priority = classes[start].0;
        let end = start
            + classes[start..]
                .iter()
                .take_while(|(p, _)| *p == priority)
                .count();
        let level = &classes[start..end];
        let (deficit_cpu, deficit_memory) = (
            request.cpu_milli.saturating_sub(cpu),
            request.memory_bytes.saturating_sub(memory),
        );
        for (_, s) in level {
            cpu = cpu.saturating_add(s.cpu_milli);
            memory = memory.saturating_add(s.memory_bytes);
        }
        start = end;
        if !fits(cpu, memory) {
            continue;
        }
        let largest = |get: fn(&ClassSummary) -> u64| {
            level.iter().map(|(_, s)| get(s)).max().unwrap_or(1).max(1)
        };
        let needed = deficit_cpu
            .div_ceil(largest(|s| s.max_cpu_milli))
            .max(deficit_memory.div_ceil(largest(|s| s.max_memory_bytes)))
            .max(1) as usize;
        let latest = level
            .iter()
            .map(|(_, s)| s.latest_bound_ms)
            .max()
            .unwrap_or(now);
        let min_cpu = level
            .iter()
            .map(|(_, s)| s.min_cpu_milli)
            .min()
            .unwrap_or(0);
        let least_work = now.saturating_sub(latest).saturating_mul(min_cpu) / 1000;
        return Bound::AtLeast(Cost {
            top_priority: priority,
            at_top_priority: needed,
            work_core_ms: least_work.saturating_mul(needed as u64),
            victims: needed,
        });
    }
    Bound::NotEnough
}
