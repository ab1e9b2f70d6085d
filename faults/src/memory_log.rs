//! The log of a simulated cell: an ordered list of entries with the
//! stream's deduplication, so that a publish repeated within the window is
//! stored once, as JetStream does.

use rota_events::Event;
use rota_projections::LogEntry;
use std::collections::BTreeMap;

/// The stream's duplicate window, in milliseconds of log time.
pub const DEDUPE_WINDOW_MS: u64 = 120_000;

#[derive(Debug, Default)]
pub struct MemoryLog {
    pub entries: Vec<LogEntry>,
    /// Message id to the time it was stored, within the window.
    seen: BTreeMap<String, u64>,
    pub now_ms: u64,
    /// Publishes the window dropped as duplicates.
    pub duplicates: u64,
}

impl MemoryLog {
    pub fn head(&self) -> u64 {
        self.entries.len() as u64
    }

    /// Appends `events` as one batch (all or none): none is stored if the
    /// first is a duplicate, as a retried round's batch is. Returns whether
    /// they were stored.
    pub fn append(&mut self, events: &[Event]) -> bool {
        let Some(first) = events.first() else {
            return false;
        };
        let now = self.now_ms;
        self.seen
            .retain(|_, stored| now.saturating_sub(*stored) < DEDUPE_WINDOW_MS);
        if self.seen.contains_key(&first.msg_id()) {
            self.duplicates += 1;
            return false;
        }
        for event in events {
            self.seen.insert(event.msg_id(), now);
            let seq = self.head() + 1;
            self.entries.push(LogEntry {
                seq,
                time_ms: now,
                subject: event.subject(),
                event: Ok(event.clone()),
                signer: None,
            });
        }
        true
    }
}
