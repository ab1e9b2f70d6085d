//! The clock in the simulation: the real clock core
//! ([`rota_clock::Liveness`]) hearing the agents' heartbeats, except those
//! of nodes cut off from it, and checking every [`CHECK_STEP_MS`] of log
//! time while it runs. A paused clock checks nothing and hears nothing; on
//! waking, its first check comes before the heartbeats that queued, the
//! worst order a real one can see.
//!
//! What it must never do: declare lost a node whose agent kept sending
//! heartbeats within the lost-after interval. What it must do: declare lost,
//! within a bound of its own running, a node cut off from it.

use rota_clock::{Liveness, LivenessConfig, SILENT_CHECK_INTERVAL_MS};
use rota_events::{Body, Event};
use rota_projections::{Ledger, NodeState};
use std::collections::{BTreeMap, BTreeSet};

/// The clock's settings in the simulation: shorter than the defaults, so
/// that losses happen within a run of a few hundred steps.
pub const SIM_LIVENESS: LivenessConfig = LivenessConfig {
    tick_interval_ms: 1_000,
    node_lost_after_ms: 3_000,
};

/// How often a running clock checks, in log time.
pub const CHECK_STEP_MS: u64 = 100;

/// How often agents send heartbeats, in log time.
pub const HEARTBEAT_EVERY_MS: u64 = 500;

pub struct SimClock {
    liveness: Liveness,
    /// The log time the clock has run to.
    now_ms: u64,
    /// When the agents next send heartbeats.
    next_heartbeat_ms: u64,
    /// Nodes whose heartbeats do not reach the clock.
    cut: BTreeSet<String>,
    /// When each node's agent sent its last two heartbeats that could
    /// reach the clock, earlier first (a paused clock's heartbeats queue).
    last_sent: BTreeMap<String, (u64, u64)>,
    /// How long each cut-off node has been silent while the clock ran
    /// (only cut-off nodes: a healed one is heard again).
    silent_for: BTreeMap<String, u64>,
}

impl SimClock {
    pub fn new(cell: &str) -> SimClock {
        SimClock {
            liveness: Liveness::new(cell, SIM_LIVENESS, 0),
            now_ms: 0,
            next_heartbeat_ms: HEARTBEAT_EVERY_MS,
            cut: BTreeSet::new(),
            last_sent: BTreeMap::new(),
            silent_for: BTreeMap::new(),
        }
    }

    pub fn cut(&mut self, node: String) {
        self.cut.insert(node);
    }

    pub fn heal(&mut self, node: &str) {
        self.cut.remove(node);
        self.silent_for.remove(node);
    }

    pub fn heal_all(&mut self) {
        self.cut.clear();
        self.silent_for.clear();
    }

    /// Runs the clock to `to_ms` with the log's head at `head`, over the
    /// nodes of `state`; returns what it says to log, or the invariant it
    /// broke.
    pub fn run(&mut self, state: &Ledger, head: u64, to_ms: u64) -> Result<Vec<Event>, String> {
        let mut due = Vec::new();
        while self.now_ms + CHECK_STEP_MS <= to_ms {
            self.now_ms += CHECK_STEP_MS;
            let now = self.now_ms;
            if now >= self.next_heartbeat_ms {
                self.next_heartbeat_ms = now + HEARTBEAT_EVERY_MS;
                self.send_heartbeats(state, now, true);
            }
            self.liveness.head_seen(head, now);
            let said = self.liveness.check(state, true, now);
            self.judge(&said, now)?;
            for event in &said {
                if let Body::NodeLost(lost) = &event.body {
                    self.silence_ended(&lost.node);
                }
            }
            due.extend(said);
            for (node, silent) in &mut self.silent_for {
                let live = state
                    .nodes
                    .get(node)
                    .is_some_and(|n| n.state != NodeState::Lost);
                *silent = if live { *silent + CHECK_STEP_MS } else { 0 };
            }
            for node in &self.cut {
                self.silent_for.entry(node.clone()).or_insert(0);
            }
            let bound =
                SIM_LIVENESS.node_lost_after_ms + SILENT_CHECK_INTERVAL_MS + 2 * CHECK_STEP_MS;
            if let Some((node, silent)) = self.silent_for.iter().find(|(_, s)| **s > bound) {
                return Err(format!(
                    "node {node}, cut off from the clock, was not declared lost after {silent} ms of the clock's running"
                ));
            }
        }
        Ok(due)
    }

    /// The clock stops until `woke` in log time: it checks nothing and
    /// hears nothing meanwhile, though the agents keep sending. On waking it
    /// checks first, then hears what queued.
    pub fn pause(&mut self, state: &Ledger, head: u64, woke: u64) -> Result<Vec<Event>, String> {
        let mut sent_at = self.next_heartbeat_ms;
        while sent_at <= woke {
            for node in state.nodes.keys() {
                if !self.cut.contains(node) {
                    self.note_sent(node, sent_at);
                }
            }
            sent_at += HEARTBEAT_EVERY_MS;
        }
        self.now_ms = woke;
        self.liveness.head_seen(head, woke);
        let said = self.liveness.check(state, true, woke);
        self.judge(&said, woke)?;
        self.send_heartbeats(state, woke, false);
        self.next_heartbeat_ms = woke + HEARTBEAT_EVERY_MS;
        for silent in self.silent_for.values_mut() {
            *silent = 0;
        }
        Ok(said)
    }

    /// Tells the core what became of a loss it said.
    pub fn published(&mut self, event: &Event, state: &Ledger, logged: bool) {
        if let Body::NodeLost(lost) = &event.body
            && let Some(node) = state.nodes.get(&lost.node)
        {
            self.liveness
                .lost_published(&lost.node, node.registered_seq, logged);
            self.silence_ended(&lost.node);
        }
    }

    /// A cut-off node was declared lost: its silence counts again from
    /// here, towards the loss of its next registration.
    fn silence_ended(&mut self, node: &str) {
        if let Some(silent) = self.silent_for.get_mut(node) {
            *silent = 0;
        }
    }

    fn send_heartbeats(&mut self, state: &Ledger, now: u64, note_sent: bool) {
        for node in state.nodes.keys() {
            if self.cut.contains(node) {
                continue;
            }
            if note_sent {
                self.note_sent(node, now);
            }
            self.liveness.heard(node, now);
        }
    }

    fn note_sent(&mut self, node: &str, now: u64) {
        let last = self.last_sent.get(node).map_or(now, |(_, last)| *last);
        self.last_sent.insert(node.to_string(), (last, now));
    }

    /// No loss of a node whose agent never fell silent for the interval:
    /// neither since its last heartbeat, nor between its last two (the
    /// last may still be queued behind the check).
    fn judge(&self, said: &[Event], now: u64) -> Result<(), String> {
        let lost_after = SIM_LIVENESS.node_lost_after_ms;
        for event in said {
            if let Body::NodeLost(lost) = &event.body
                && let Some((before, last)) = self.last_sent.get(&lost.node)
                && now.saturating_sub(*last) < lost_after
                && last - before < lost_after
            {
                return Err(format!(
                    "the clock declared {} lost at {now} ms though its agent sent heartbeats at {before} and {last} ms",
                    lost.node
                ));
            }
        }
        Ok(())
    }
}
