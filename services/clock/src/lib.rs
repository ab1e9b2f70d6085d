//! The clock and liveness core. It turns the passage of time and the
//! silence of nodes into events: a `clock.tick` when the log's head has not
//! moved for a tick interval, and a `node.lost` when a node's agent has not
//! been heard from for the lost-after interval. Both carry deterministic
//! message ids, so any number of clock instances log each fact once.
//!
//! The shell (`rota run clock`) feeds it heartbeats, the log's head and the
//! time as milliseconds of its own monotonic clock, and publishes what
//! [`Liveness::check`] returns; the fault simulator drives the same core in
//! simulated time.
//!
//! A clock that was itself not running (paused, starved of CPU, cut off)
//! heard nothing meanwhile through no fault of the nodes: when a check comes
//! [`CLOCK_GAP_MAX_MS`] or more after the last, every node's silence is
//! counted again from then, so that a clock waking up never declares lost a
//! node whose heartbeats are still queued behind the check. After a shorter
//! gap the heartbeats sent during it may still be queued as well, so a
//! node's silence is always measured up to the previous check, not to now:
//! a loss comes one check later, and never early.

use rota_events::{Body, ClockTick, Event, NodeLost, derived_event_id};
use rota_projections::{Ledger, NodeState};
use std::collections::{BTreeMap, BTreeSet};

/// The longest gap between two checks of a clock that is running; one
/// longer means the clock itself was stopped. Checks come every 100 ms.
pub const CLOCK_GAP_MAX_MS: u64 = 2_000;

/// How often silent nodes are looked for: a walk over every node, so less
/// often than the quiet check (a node is lost after seconds anyway).
pub const SILENT_CHECK_INTERVAL_MS: u64 = 1_000;

/// When the clock speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LivenessConfig {
    /// A tick is logged after the log's head has not moved this long.
    pub tick_interval_ms: u64,
    /// A node is declared lost after its agent has been silent this long.
    pub node_lost_after_ms: u64,
}

impl Default for LivenessConfig {
    fn default() -> Self {
        LivenessConfig {
            tick_interval_ms: 1_000,
            node_lost_after_ms: 10_000,
        }
    }
}

/// What a clock knows: when it last heard each node, the log's head and
/// since when, and what it has said.
pub struct Liveness {
    cell: String,
    config: LivenessConfig,
    /// When silence is counted from for nodes never heard.
    counting_from_ms: u64,
    heard: BTreeMap<String, u64>,
    last_check_ms: u64,
    silent_checked_ms: u64,
    /// The last head seen, and since when it has not moved.
    head: Option<(u64, u64)>,
    ticked_at_head: Option<u64>,
    /// Nodes reported lost at a given registration, and those being
    /// reported.
    reported: BTreeMap<String, u64>,
    reporting: BTreeSet<String>,
}

impl Liveness {
    /// A clock of `cell` starting at `now_ms`.
    pub fn new(cell: &str, config: LivenessConfig, now_ms: u64) -> Liveness {
        Liveness {
            cell: cell.to_string(),
            config,
            counting_from_ms: now_ms,
            heard: BTreeMap::new(),
            last_check_ms: now_ms,
            silent_checked_ms: now_ms,
            head: None,
            ticked_at_head: None,
            reported: BTreeMap::new(),
            reporting: BTreeSet::new(),
        }
    }

    /// A heartbeat from `node`'s agent arrived.
    pub fn heard(&mut self, node: &str, now_ms: u64) {
        match self.heard.get_mut(node) {
            Some(at) => *at = now_ms,
            None => {
                self.heard.insert(node.to_string(), now_ms);
            }
        }
    }

    /// The log's head is at `seq`.
    pub fn head_seen(&mut self, seq: u64, now_ms: u64) {
        if self.head.is_none_or(|(head, _)| head != seq) {
            self.head = Some((seq, now_ms));
        }
    }

    /// What to log now, given the fold of the node subjects: a tick if the
    /// head has been still for the tick interval, and a loss for every node
    /// silent past the lost-after interval (when `nodes_caught_up`, so that
    /// a node is never lost for a registration the fold has not seen).
    pub fn check(&mut self, state: &Ledger, nodes_caught_up: bool, now_ms: u64) -> Vec<Event> {
        let gap = now_ms.saturating_sub(self.last_check_ms);
        // Heartbeats sent since the last check may still be queued behind
        // this one, so silence is measured to the last check only.
        let silent_as_of = self.last_check_ms;
        self.last_check_ms = now_ms;
        if gap >= CLOCK_GAP_MAX_MS {
            self.count_silence_from(now_ms);
        }
        let mut due = Vec::new();
        if let Some((seq, since)) = self.head
            && now_ms.saturating_sub(since) >= self.config.tick_interval_ms
            && self.ticked_at_head != Some(seq)
        {
            self.ticked_at_head = Some(seq);
            due.push(tick_event(&self.cell, seq));
        }
        if nodes_caught_up
            && now_ms.saturating_sub(self.silent_checked_ms) >= SILENT_CHECK_INTERVAL_MS
        {
            self.silent_checked_ms = now_ms;
            for (node, registered_seq) in self.silent_nodes(state, silent_as_of) {
                self.reporting.insert(node.clone());
                due.push(lost_event(
                    &self.cell,
                    &node,
                    registered_seq,
                    self.config.node_lost_after_ms,
                ));
            }
        }
        due
    }

    /// A tick was not logged: it may be tried again at this head.
    pub fn tick_failed(&mut self) {
        self.ticked_at_head = None;
    }

    /// `node`'s loss at its registration `registered_seq` was logged, or
    /// (with `logged` false) was not, and may be tried again.
    pub fn lost_published(&mut self, node: &str, registered_seq: u64, logged: bool) {
        self.reporting.remove(node);
        if logged {
            self.reported.insert(node.to_string(), registered_seq);
        }
    }

    /// Ready or draining nodes not heard from within the lost-after
    /// interval before `as_of_ms`, not yet reported for their current
    /// registration.
    fn silent_nodes(&self, state: &Ledger, as_of_ms: u64) -> Vec<(String, u64)> {
        state
            .nodes
            .iter()
            .filter(|(_, node)| node.state != NodeState::Lost)
            .filter(|(name, node)| self.reported.get(*name) != Some(&node.registered_seq))
            .filter(|(name, _)| !self.reporting.contains(*name))
            .filter(|(name, _)| {
                let last = self
                    .heard
                    .get(*name)
                    .copied()
                    .unwrap_or(self.counting_from_ms);
                as_of_ms.saturating_sub(last) >= self.config.node_lost_after_ms
            })
            .map(|(name, node)| (name.clone(), node.registered_seq))
            .collect()
    }

    fn count_silence_from(&mut self, now_ms: u64) {
        self.counting_from_ms = now_ms;
        for at in self.heard.values_mut() {
            *at = now_ms;
        }
    }
}

/// A tick after `after_seq`; its id makes every clock's tick for one quiet
/// spell the same message.
pub fn tick_event(cell: &str, after_seq: u64) -> Event {
    Event::new(
        derived_event_id(&format!("tick/{cell}/{after_seq}")),
        cell,
        Body::ClockTick(ClockTick { after_seq }),
    )
}

/// `node`'s loss at its registration `registered_seq`; its id makes every
/// clock's report of one loss the same message.
pub fn lost_event(cell: &str, node: &str, registered_seq: u64, lost_after_ms: u64) -> Event {
    Event::new(
        derived_event_id(&format!("lost/{cell}/{node}/{registered_seq}")),
        cell,
        Body::NodeLost(NodeLost {
            node: node.to_string(),
            reason: format!("no heartbeat for {lost_after_ms} ms"),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rota_events::{NodeRegistered, Resources};
    use rota_projections::LogEntry;

    fn cell_with_node() -> Ledger {
        let mut state = Ledger::new("c");
        let event = Event::new(
            "r",
            "c",
            Body::NodeRegistered(NodeRegistered {
                node: "n1".into(),
                capacity: Resources {
                    cpu_milli: 1000,
                    memory_bytes: 1 << 30,
                    ..Default::default()
                },
                ..Default::default()
            }),
        );
        state.apply(&LogEntry {
            seq: 1,
            time_ms: 0,
            subject: event.subject(),
            event: Ok(event),
            signer: None,
        });
        state
    }

    fn losses(events: &[Event]) -> usize {
        events
            .iter()
            .filter(|e| matches!(e.body, Body::NodeLost(_)))
            .count()
    }

    #[test]
    fn a_silent_node_is_lost_once_and_a_heard_one_never() {
        let state = cell_with_node();
        let mut clock = Liveness::new("c", LivenessConfig::default(), 0);
        for now in (100..=9_900).step_by(100) {
            clock.heard("n1", now);
            assert_eq!(losses(&clock.check(&state, true, now)), 0);
        }
        let mut lost = 0;
        for now in (10_000..=25_000).step_by(100) {
            let due = clock.check(&state, true, now);
            for event in &due {
                if let Body::NodeLost(_) = event.body {
                    clock.lost_published("n1", 1, true);
                }
            }
            lost += losses(&due);
        }
        assert_eq!(lost, 1, "lost once for its registration");
    }

    #[test]
    fn a_clock_that_was_paused_does_not_lose_nodes_whose_heartbeats_wait() {
        let state = cell_with_node();
        let mut clock = Liveness::new("c", LivenessConfig::default(), 0);
        clock.heard("n1", 500);
        assert!(clock.check(&state, true, 600).is_empty());
        // Paused for 30 s: the first check comes before the heartbeats
        // that queued meanwhile.
        assert_eq!(losses(&clock.check(&state, true, 30_600)), 0);
        clock.heard("n1", 30_601);
        assert_eq!(losses(&clock.check(&state, true, 31_700)), 0);
        // Silent from then on, with the clock running, it is lost once the
        // interval has passed since that heartbeat, not before.
        let mut lost_at = Vec::new();
        for now in (31_800..=45_000).step_by(100) {
            if losses(&clock.check(&state, true, now)) > 0 {
                clock.lost_published("n1", 1, true);
                lost_at.push(now);
            }
        }
        assert_eq!(lost_at.len(), 1, "{lost_at:?}");
        assert!(lost_at[0] >= 40_601, "{lost_at:?}");
    }

    #[test]
    fn a_clock_stalled_briefly_does_not_lose_a_node_whose_heartbeat_waits() {
        let config = LivenessConfig::default();
        let state = cell_with_node();
        let mut clock = Liveness::new("c", config, 0);
        clock.heard("n1", 100);
        assert!(clock.check(&state, true, 100).is_empty());
        let before_stall = config.node_lost_after_ms - 500;
        for now in (200..=before_stall).step_by(100) {
            assert_eq!(losses(&clock.check(&state, true, now)), 0, "at {now} ms");
        }
        // Stalled for a second, under the gap that resets silence: the
        // node's heartbeat sent during the stall waits behind the check.
        let woke = before_stall + 1_000;
        assert_eq!(losses(&clock.check(&state, true, woke)), 0);
        clock.heard("n1", woke);
        assert_eq!(losses(&clock.check(&state, true, woke + 1_000)), 0);
    }
}
