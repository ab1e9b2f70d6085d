//! A node's free resources over time, from the log's present on: the step
//! function that backfill reserves against. Jobs on the node release their
//! resources at their expected end (binding time plus runtime estimate);
//! reservations take resources over an interval.

use rota_events::Resources;
use rota_projections::{CellState, JobState};

/// A request or a node's free resources in the form reservations use: GPUs
/// as thousandths summed over devices (`gpus` zero, `gpu_milli` the sum).
pub fn aggregate(resources: &Resources) -> Resources {
    Resources {
        cpu_milli: resources.cpu_milli,
        memory_bytes: resources.memory_bytes,
        gpus: 0,
        gpu_milli: u32::try_from(resources.gpu_total_milli()).unwrap_or(u32::MAX),
    }
}

/// Free resources of one node as a step function of time: step `i` holds
/// from `steps[i].0` until `steps[i + 1].0`; the last step holds forever.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    steps: Vec<(u64, Resources)>,
}

impl Timeline {
    /// The timeline of `node`, whose free resources now are `free_now` (in
    /// [`aggregate`] form), with this round's earlier bindings there
    /// (`(end_ms, request)`) counted as running.
    pub fn of_node(
        state: &CellState,
        node: &str,
        free_now: Resources,
        bound_this_round: &[(u64, Resources)],
    ) -> Timeline {
        let now = state.now_ms;
        let mut releases: Vec<(u64, Resources)> = state.nodes[node]
            .jobs
            .iter()
            .map(|id| {
                let job = &state.jobs[id];
                let end = match (job.state, job.bound_ms) {
                    // Stopping jobs end as soon as their agent reports.
                    (JobState::Cancelling, _) | (_, None) => now,
                    (_, Some(bound)) => bound.saturating_add(state.estimate_ms(job)),
                };
                (end, aggregate(&job.spec.resources))
            })
            .chain(
                bound_this_round
                    .iter()
                    .map(|(end, request)| (*end, aggregate(request))),
            )
            // A job past its expected end may end at any moment; it is
            // counted as ending just after now, never before.
            .map(|(end, resources)| (end.max(now + 1), resources))
            .collect();
        releases.sort_by_key(|(end, _)| *end);
        let mut steps = vec![(now, free_now)];
        for (end, resources) in releases {
            let (last_time, last_free) = *steps.last().expect("never empty");
            let free = last_free.plus(&resources);
            if end == last_time {
                steps.last_mut().expect("never empty").1 = free;
            } else {
                steps.push((end, free));
            }
        }
        Timeline { steps }
    }

    /// What is free at time `t` (at or after the timeline's start).
    pub fn free_at(&self, t: u64) -> Resources {
        let index = self.steps.partition_point(|(time, _)| *time <= t);
        self.steps[index.saturating_sub(1)].1
    }

    /// The earliest step time at which `request` is free for `duration_ms`
    /// without interruption, or None if it never is.
    pub fn earliest_start(&self, request: &Resources, duration_ms: u64) -> Option<u64> {
        (0..self.steps.len()).find_map(|first| {
            let start = self.steps[first].0;
            let end = start.saturating_add(duration_ms.max(1));
            self.steps[first..]
                .iter()
                .take_while(|(time, _)| *time < end)
                .all(|(_, free)| request.fits_within(free))
                .then_some(start)
        })
    }

    /// Takes `request` over `[start, end)`.
    pub fn reserve(&mut self, start: u64, end: u64, request: &Resources) {
        self.split_at(start);
        self.split_at(end);
        for (time, free) in self.steps.iter_mut() {
            if *time >= start && *time < end {
                *free = free.minus(request);
            }
        }
    }

    /// Makes `t` a step boundary (no change in value).
    fn split_at(&mut self, t: u64) {
        let index = self.steps.partition_point(|(time, _)| *time < t);
        if self.steps.get(index).is_some_and(|(time, _)| *time == t) || index == 0 {
            return;
        }
        let value = self.steps[index - 1].1;
        self.steps.insert(index, (t, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(cpu_milli: u64) -> Resources {
        Resources {
            cpu_milli,
            memory_bytes: 0,
            gpus: 0,
            ..Default::default()
        }
    }

    #[test]
    fn earliest_start_waits_for_an_uninterrupted_interval() {
        let mut timeline = Timeline {
            steps: vec![(0, cpu(1)), (10, cpu(4)), (20, cpu(8))],
        };
        assert_eq!(timeline.earliest_start(&cpu(1), 100), Some(0));
        assert_eq!(timeline.earliest_start(&cpu(3), 5), Some(10));
        assert_eq!(timeline.earliest_start(&cpu(9), 5), None);
        timeline.reserve(10, 30, &cpu(3));
        assert_eq!(timeline.free_at(15), cpu(1));
        assert_eq!(timeline.free_at(25), cpu(5));
        assert_eq!(timeline.free_at(30), cpu(8));
        assert_eq!(timeline.earliest_start(&cpu(3), 5), Some(20));
        assert_eq!(timeline.earliest_start(&cpu(6), 5), Some(30));
    }
}
