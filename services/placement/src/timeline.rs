//! A node's free resources over time, from the log's present on: the step
//! function that backfill reserves against. Jobs on the node release their
//! resources at their expected end (binding time plus runtime estimate);
//! reservations take resources over an interval.
//!
//! GPUs are kept per device, as the node keeps them: a share fits only on
//! one device with room for it, and a reservation holds the same devices
//! for its whole interval, so a reservation is never made at a time the
//! job could not in fact start.

use rota_events::Resources;
use rota_projections::{
    CellState, GPU_MILLI_PER_DEVICE, JobState, gpu_share_milli, pick_gpu_devices,
};

/// What a node has free at some time, as reservations see it: cpu, memory
/// and each GPU device's free thousandths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Free {
    pub cpu_milli: u64,
    pub memory_bytes: u64,
    pub gpu_free_milli: Vec<u32>,
}

impl Free {
    /// The devices `request` would take here (empty for no GPUs), if it
    /// fits.
    pub fn devices_for(&self, request: &Resources) -> Option<Vec<u32>> {
        if request.cpu_milli > self.cpu_milli || request.memory_bytes > self.memory_bytes {
            return None;
        }
        pick_gpu_devices(&self.gpu_free_milli, request)
    }

    /// Takes `request` from this, on `devices`.
    pub fn take(&mut self, request: &Resources, devices: &[u32]) {
        self.cpu_milli = self.cpu_milli.saturating_sub(request.cpu_milli);
        self.memory_bytes = self.memory_bytes.saturating_sub(request.memory_bytes);
        let share = gpu_share_milli(request);
        for device in devices {
            if let Some(free) = self.gpu_free_milli.get_mut(*device as usize) {
                *free = free.saturating_sub(share);
            }
        }
    }

    /// Gives `request`, held on `devices`, back to this.
    fn give(&mut self, request: &Resources, devices: &[u32]) {
        self.cpu_milli = self.cpu_milli.saturating_add(request.cpu_milli);
        self.memory_bytes = self.memory_bytes.saturating_add(request.memory_bytes);
        let share = gpu_share_milli(request);
        for device in devices {
            if let Some(free) = self.gpu_free_milli.get_mut(*device as usize) {
                *free = (*free + share).min(GPU_MILLI_PER_DEVICE);
            }
        }
    }

    /// Lowers each amount to `other`'s where that is less: what is free
    /// throughout two steps.
    pub fn meet(&mut self, other: &Free) {
        self.cpu_milli = self.cpu_milli.min(other.cpu_milli);
        self.memory_bytes = self.memory_bytes.min(other.memory_bytes);
        for (mine, theirs) in self.gpu_free_milli.iter_mut().zip(&other.gpu_free_milli) {
            *mine = (*mine).min(*theirs);
        }
    }
}

/// A job bound earlier in this round: when it is expected to end, what it
/// holds and on which GPU devices.
pub type RoundBinding = (u64, Resources, Vec<u32>);

/// Free resources of one node as a step function of time: step `i` holds
/// from `steps[i].0` until `steps[i + 1].0`; the last step holds forever.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    steps: Vec<(u64, Free)>,
}

impl Timeline {
    /// The timeline of `node`, whose free resources now are `free_now`,
    /// with this round's earlier bindings there counted as running.
    pub fn of_node(
        state: &CellState,
        node: &str,
        free_now: Free,
        bound_this_round: &[RoundBinding],
    ) -> Timeline {
        let now = state.now_ms;
        let mut releases: Vec<(u64, &Resources, &[u32])> = state.nodes[node]
            .jobs
            .iter()
            .map(|id| {
                let job = &state.jobs[id];
                let end = match (job.state, job.bound_ms) {
                    // Stopping jobs end as soon as their agent reports.
                    (JobState::Cancelling, _) | (_, None) => now,
                    (_, Some(bound)) => bound.saturating_add(state.estimate_ms(job)),
                };
                (end, &job.spec.resources, job.gpu_devices.as_slice())
            })
            .chain(
                bound_this_round
                    .iter()
                    .map(|(end, request, devices)| (*end, request, devices.as_slice())),
            )
            // A job past its expected end may end at any moment; it is
            // counted as ending just after now, never before.
            .map(|(end, resources, devices)| (end.max(now + 1), resources, devices))
            .collect();
        releases.sort_by_key(|(end, _, _)| *end);
        let mut steps = vec![(now, free_now)];
        for (end, resources, devices) in releases {
            let (last_time, last_free) = steps.last().expect("never empty");
            let mut free = last_free.clone();
            free.give(resources, devices);
            if end == *last_time {
                steps.last_mut().expect("never empty").1 = free;
            } else {
                steps.push((end, free));
            }
        }
        Timeline { steps }
    }

    /// What is free at time `t` (at or after the timeline's start).
    pub fn free_at(&self, t: u64) -> &Free {
        let index = self.steps.partition_point(|(time, _)| *time <= t);
        &self.steps[index.saturating_sub(1)].1
    }

    /// The GPU devices (empty for no GPUs) on which `request` fits
    /// throughout `[start, end)`, where step `first` holds at `start`; None
    /// as soon as a step shows it does not.
    fn devices_from(&self, first: usize, end: u64, request: &Resources) -> Option<Vec<u32>> {
        let wants_gpus = request.gpus > 0 || request.gpu_milli > 0;
        let mut least_per_device: Vec<u32> = Vec::new();
        for (index, (_, free)) in self.steps[first..]
            .iter()
            .enumerate()
            .take_while(|(index, (time, _))| *index == 0 || *time < end)
        {
            if request.cpu_milli > free.cpu_milli || request.memory_bytes > free.memory_bytes {
                return None;
            }
            if !wants_gpus {
                continue;
            }
            if index == 0 {
                least_per_device.clone_from(&free.gpu_free_milli);
            } else {
                for (least, now) in least_per_device.iter_mut().zip(&free.gpu_free_milli) {
                    *least = (*least).min(*now);
                }
            }
            pick_gpu_devices(&least_per_device, request)?;
        }
        pick_gpu_devices(&least_per_device, request)
    }

    /// The earliest step time at which `request` is free for `duration_ms`
    /// without interruption, on the same GPU devices throughout, or None if
    /// it never is.
    pub fn earliest_start(&self, request: &Resources, duration_ms: u64) -> Option<u64> {
        (0..self.steps.len()).find_map(|first| {
            let start = self.steps[first].0;
            let end = start.saturating_add(duration_ms.max(1));
            self.devices_from(first, end, request).map(|_| start)
        })
    }

    /// The GPU devices `request` can hold throughout `[start, end)`, if it
    /// fits there.
    pub fn devices_throughout(
        &self,
        start: u64,
        end: u64,
        request: &Resources,
    ) -> Option<Vec<u32>> {
        let first = self
            .steps
            .partition_point(|(time, _)| *time <= start)
            .saturating_sub(1);
        self.devices_from(first, end, request)
    }

    /// Takes `request` on `devices` over `[start, end)`.
    pub fn reserve(&mut self, start: u64, end: u64, request: &Resources, devices: &[u32]) {
        self.split_at(start);
        self.split_at(end);
        for (time, free) in self.steps.iter_mut() {
            if *time >= start && *time < end {
                free.take(request, devices);
            }
        }
    }

    /// Makes `t` a step boundary (no change in value).
    fn split_at(&mut self, t: u64) {
        let index = self.steps.partition_point(|(time, _)| *time < t);
        if self.steps.get(index).is_some_and(|(time, _)| *time == t) || index == 0 {
            return;
        }
        let value = self.steps[index - 1].1.clone();
        self.steps.insert(index, (t, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(cpu_milli: u64) -> Free {
        Free {
            cpu_milli,
            ..Default::default()
        }
    }

    fn request(cpu_milli: u64) -> Resources {
        Resources {
            cpu_milli,
            ..Default::default()
        }
    }

    fn gpu_share(gpu_milli: u32) -> Resources {
        Resources {
            gpu_milli,
            ..Default::default()
        }
    }

    #[test]
    fn earliest_start_waits_for_an_uninterrupted_interval() {
        let mut timeline = Timeline {
            steps: vec![(0, cpu(1)), (10, cpu(4)), (20, cpu(8))],
        };
        assert_eq!(timeline.earliest_start(&request(1), 100), Some(0));
        assert_eq!(timeline.earliest_start(&request(3), 5), Some(10));
        assert_eq!(timeline.earliest_start(&request(9), 5), None);
        timeline.reserve(10, 30, &request(3), &[]);
        assert_eq!(*timeline.free_at(15), cpu(1));
        assert_eq!(*timeline.free_at(25), cpu(5));
        assert_eq!(*timeline.free_at(30), cpu(8));
        assert_eq!(timeline.earliest_start(&request(3), 5), Some(20));
        assert_eq!(timeline.earliest_start(&request(6), 5), Some(30));
    }

    #[test]
    fn a_gpu_share_waits_for_one_device_with_room_not_for_the_sum() {
        let halves = Free {
            gpu_free_milli: vec![500, 500],
            ..Default::default()
        };
        let one_free = Free {
            gpu_free_milli: vec![1000, 500],
            ..Default::default()
        };
        let timeline = Timeline {
            steps: vec![(0, halves), (10, one_free)],
        };
        // 1000 thousandths are free at 0, but on no single device.
        assert_eq!(timeline.earliest_start(&gpu_share(600), 5), Some(10));
        assert_eq!(timeline.earliest_start(&gpu_share(500), 5), Some(0));
    }

    #[test]
    fn a_reservation_holds_the_same_device_throughout() {
        // Device 0 is free early and busy later; device 1 the other way.
        let timeline = Timeline {
            steps: vec![
                (
                    0,
                    Free {
                        gpu_free_milli: vec![1000, 0],
                        ..Default::default()
                    },
                ),
                (
                    10,
                    Free {
                        gpu_free_milli: vec![0, 1000],
                        ..Default::default()
                    },
                ),
                (
                    20,
                    Free {
                        gpu_free_milli: vec![1000, 1000],
                        ..Default::default()
                    },
                ),
            ],
        };
        let whole = Resources {
            gpus: 1,
            ..Default::default()
        };
        assert_eq!(timeline.earliest_start(&whole, 15), Some(10));
        assert_eq!(timeline.devices_throughout(10, 25, &whole), Some(vec![1]));
        assert_eq!(timeline.earliest_start(&whole, 5), Some(0));
        assert_eq!(timeline.devices_throughout(0, 5, &whole), Some(vec![0]));
    }
}
