//! A service's round and lease logic as a state machine without IO.
//!
//! The async loop in [`crate::service`] feeds it what happened ([`Input`]:
//! a log entry, a round's acknowledgement, another instance's heartbeat, a
//! read error) and the time, and carries out what it asks for ([`Output`]:
//! publish a round, claim the lease, send a heartbeat, reopen the reader,
//! save a snapshot). [`ServiceMachine::poll_timeout`] says when it next
//! needs to be woken even if nothing happens. It reads no clock and does no
//! IO, so every rule here is tested with a simulated clock and no server.
//!
//! The rules:
//! - Entries are applied in stream order; an entry at or below the applied
//!   sequence (a redelivery) is dropped and counted, never folded twice.
//! - A round is decided only by the lease holder, only with no round of its
//!   own in flight, and only once the log has been applied up to its last
//!   round, so its state is always exactly the fold of the log to its basis.
//! - The lease is held only while the reader makes progress: a holder whose
//!   reader is stalled or failing stops sending heartbeats, so that a
//!   standby takes over after the lease timeout.
//! - A read error reopens the reader after a backoff that doubles up to
//!   [`READ_RETRY_BACKOFF_MAX`]; after [`READ_FAILURES_MAX`] failures in a
//!   row the machine gives up ([`Output::GiveUp`]), and so it does after
//!   [`ROUND_FAILURES_MAX`] rounds in a row that did not land.

use rota_events::{Body, Event, LeaseClaimed, derived_event_id};
use rota_projections::{LogEntry, ServiceCore};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// A point in time as the driver measures it: time since an origin of its
/// choosing. Live, that is the process's monotonic clock; in tests, a
/// simulated one.
pub type Moment = Duration;

/// Applied events after which a round is decided even if the reader is not
/// yet at the head, so that a flood cannot delay decisions without bound.
pub const DECIDE_AFTER_EVENTS_MAX: u64 = 5000;

/// Longest time between rounds while events keep arriving. Under a steady
/// stream of events the reader is rarely exactly at the head; this bounds how
/// long work waits. Which sequence becomes a round's basis is the shell's
/// choice and is recorded in the round, so this timing does not make any
/// decision depend on the clock.
pub const DECIDE_INTERVAL_MAX: Duration = Duration::from_millis(10);

/// A reader that has not advanced for this long while the log holds entries
/// it has not applied is stalled: it is reopened, and the lease is let go.
pub const READ_STALL_AFTER: Duration = Duration::from_secs(5);

/// How often the head of the log is asked for, to tell an idle log from a
/// stalled reader.
pub const HEAD_PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// The first wait before reopening a reader that failed.
pub const READ_RETRY_BACKOFF_MIN: Duration = Duration::from_millis(100);

/// The longest wait before reopening a reader that failed.
pub const READ_RETRY_BACKOFF_MAX: Duration = Duration::from_secs(5);

/// The least time between two snapshots. Encoding and writing a state costs
/// in proportion to what is live, so a snapshot every few thousand events
/// of a large state would take most of the service's time; a restart folds
/// at most this much of the log again beyond `snapshot_every_events`.
pub const SNAPSHOT_INTERVAL_MIN: Duration = Duration::from_secs(5);

/// Read failures in a row after which the service gives up and exits.
pub const READ_FAILURES_MAX: u32 = 20;

/// Rounds in a row that did not land after which the service gives up.
pub const ROUND_FAILURES_MAX: u32 = 20;

/// How a machine runs.
#[derive(Debug, Clone)]
pub struct MachineConfig {
    /// This instance's name in lease claims; unique per process.
    pub instance: String,
    /// A standby claims the lease after the holder has been silent this long.
    pub lease_timeout: Duration,
    /// How often the holder says it is alive.
    pub heartbeat_interval: Duration,
    /// A snapshot is asked for after this many applied events (0: never),
    /// and at most once per [`SNAPSHOT_INTERVAL_MIN`].
    pub snapshot_every_events: u64,
}

/// What happened, as the driver saw it. Inputs are moved into the machine
/// one at a time and never stored, so the size of the entry variant costs
/// nothing that boxing it would save.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Input {
    /// The next entry of the log, with how many entries the server still
    /// holds behind it (0: the reader is at the head).
    Entry { entry: Arc<LogEntry>, pending: u64 },
    /// The reader failed; it needs reopening.
    ReadFailed { error: String },
    /// The head of the log, from a probe.
    HeadSeen { seq: u64 },
    /// The probe for the head failed.
    HeadProbeFailed { error: String },
    /// The round in flight landed; its last event is at `last_seq`.
    RoundLanded { last_seq: u64 },
    /// The round in flight was not committed.
    RoundFailed { error: String },
    /// The lease claim in flight was answered.
    ClaimAnswered { outcome: ClaimOutcome },
    /// A heartbeat on this service's liveness subject, from `instance`.
    Heartbeat { instance: String },
    /// The last input took the driver until `until` to handle (a slow
    /// decision): the interval before the next round counts from there, so
    /// a decision that takes longer than the interval does not make the
    /// machine decide again after every entry.
    Busy { until: Moment },
}

/// How a lease claim ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    Won,
    /// Another claim landed first.
    Lost,
    Failed(String),
}

/// What the machine asks the driver to do. A handful wait in its queue at
/// a time, so the claim's inline event is not worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// (Re)open the reader at this sequence, dropping any old one.
    OpenReader { from_seq: u64 },
    /// Publish a round as one atomic batch; answer with `RoundLanded` or
    /// `RoundFailed`.
    PublishRound { round: Vec<Event> },
    /// Publish a lease claim only if the last claim on its subject is still
    /// at `expected_last_subject_seq`; answer with `ClaimAnswered`.
    ClaimLease {
        claim: Event,
        expected_last_subject_seq: u64,
    },
    /// Send this heartbeat on the service's liveness subject (core NATS).
    Heartbeat { payload: String },
    /// Ask for the head of the log; answer with `HeadSeen`.
    ProbeHead,
    /// Save the core's state as a snapshot.
    SaveSnapshot,
    /// The machine's health changed; the driver logs it.
    Health(Health),
    /// The machine cannot make progress and gives up: the driver stops the
    /// service with this error.
    GiveUp { reason: String },
}

/// Whether the service can make progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Healthy,
    Stalled { why: String },
}

/// What a service did, for its report and status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MachineStats {
    pub rounds: u64,
    pub decisions: u64,
    pub failed_rounds: u64,
    pub duplicates_dropped: u64,
    pub read_failures: u64,
    pub reader_reopens: u64,
    pub snapshots_asked: u64,
}

/// A round or claim the machine is waiting on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InFlight {
    Round { size: usize },
    Claim,
}

/// The round and lease state machine of one service instance.
pub struct ServiceMachine {
    core: Box<dyn ServiceCore>,
    config: MachineConfig,
    outputs: VecDeque<Output>,
    stats: MachineStats,
    health: Health,
    given_up: bool,

    // The reader.
    /// The highest head the machine knows of, from entries and probes.
    head_seen: u64,
    caught_up: bool,
    last_progress_at: Moment,
    /// Since when the reader has been stalled: set when a stall is found,
    /// cleared by the next entry applied.
    stalled_since: Option<Moment>,
    read_failures_in_row: u32,
    /// When a failed reader is to be reopened.
    reopen_at: Option<Moment>,
    probe_in_flight: bool,
    next_probe_at: Moment,

    // Rounds.
    in_flight: Option<InFlight>,
    /// No decision until the log has been applied up to here: the machine's
    /// own last round, or the head after a round that did not land.
    settle_seq: u64,
    /// Set when a failed round waits for a head probe to settle on.
    settle_on_next_head: bool,
    /// The state changed (or a round failed) since the last decision.
    wants_decision: bool,
    applied_since_decide: u64,
    last_decided_at: Moment,
    /// When the last snapshot was asked for; none yet, and the first may come
    /// as soon as enough events are applied.
    last_snapshot_at: Option<Moment>,
    round_failures_in_row: u32,
    applied_since_snapshot: u64,

    // The lease.
    /// When another instance was last heard; a holder never heard from
    /// counts as silent since the machine started.
    holder_heard_at: Moment,
    last_claim_at: Option<Moment>,
    next_heartbeat_at: Moment,
}

impl ServiceMachine {
    /// A machine over `core` (fresh, or restored from a snapshot) for a log
    /// whose head is `head`, at time `now`.
    pub fn new(
        core: Box<dyn ServiceCore>,
        config: MachineConfig,
        head: u64,
        now: Moment,
    ) -> ServiceMachine {
        let applied = core.state().applied_seq;
        let mut machine = ServiceMachine {
            core,
            config,
            outputs: VecDeque::new(),
            stats: MachineStats::default(),
            health: Health::Healthy,
            given_up: false,
            head_seen: head,
            caught_up: head <= applied,
            last_progress_at: now,
            stalled_since: None,
            read_failures_in_row: 0,
            reopen_at: None,
            probe_in_flight: false,
            next_probe_at: now + HEAD_PROBE_INTERVAL,
            in_flight: None,
            settle_seq: 0,
            settle_on_next_head: false,
            wants_decision: true,
            applied_since_decide: 0,
            last_decided_at: now,
            last_snapshot_at: None,
            round_failures_in_row: 0,
            applied_since_snapshot: 0,
            holder_heard_at: now,
            last_claim_at: None,
            next_heartbeat_at: now,
        };
        machine.outputs.push_back(Output::OpenReader {
            from_seq: applied + 1,
        });
        machine.step(now);
        machine
    }

    pub fn core(&self) -> &dyn ServiceCore {
        self.core.as_ref()
    }

    pub fn stats(&self) -> &MachineStats {
        &self.stats
    }

    pub fn health(&self) -> &Health {
        &self.health
    }

    /// The service's name.
    pub fn service(&self) -> &str {
        self.core.service()
    }

    /// The lease epoch this instance holds, if the log says it holds one.
    pub fn held_epoch(&self) -> Option<u64> {
        let lease = self.core.state().leases.get(self.core.service())?;
        (lease.holder == self.config.instance).then_some(lease.epoch)
    }

    /// Feeds one input at time `now`.
    pub fn handle(&mut self, now: Moment, input: Input) {
        if self.given_up {
            return;
        }
        match input {
            Input::Entry { entry, pending } => self.on_entry(now, entry, pending),
            Input::ReadFailed { error } => self.on_read_failed(now, error),
            Input::HeadSeen { seq } => self.on_head_seen(seq),
            Input::HeadProbeFailed { error } => {
                self.probe_in_flight = false;
                self.set_health(Health::Stalled {
                    why: format!("cannot ask the server for the log's head: {error}"),
                });
            }
            Input::RoundLanded { last_seq } => self.on_round_landed(last_seq),
            Input::RoundFailed { error } => self.on_round_failed(error),
            Input::ClaimAnswered { outcome } => self.on_claim_answered(outcome),
            Input::Heartbeat { instance } => {
                if instance != self.config.instance {
                    self.holder_heard_at = now;
                }
            }
            Input::Busy { until } => self.last_decided_at = self.last_decided_at.max(until),
        }
        self.step(now);
    }

    /// Lets time pass: call at or after [`poll_timeout`](Self::poll_timeout).
    pub fn handle_timeout(&mut self, now: Moment) {
        if self.given_up {
            return;
        }
        self.step(now);
    }

    /// The next thing to do, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When the machine next needs [`handle_timeout`](Self::handle_timeout)
    /// even if no input arrives.
    pub fn poll_timeout(&self) -> Option<Moment> {
        if self.given_up {
            return None;
        }
        // Only times at which something can happen: a wake that would find
        // nothing to do would come back at once and spin.
        let mut wakes = vec![self.next_probe_at];
        if let Some(at) = self.reopen_at {
            wakes.push(at);
        } else if self.head_seen > self.applied_seq() && self.stalled_since.is_none() {
            wakes.push(self.last_progress_at + READ_STALL_AFTER);
        }
        if self.held_epoch().is_some() {
            wakes.push(self.next_heartbeat_at);
            if self.may_decide() && !self.caught_up {
                wakes.push(self.last_decided_at + DECIDE_INTERVAL_MAX);
            }
        } else if self.in_flight.is_none() && self.caught_up {
            wakes.push(self.holder_heard_at + self.config.lease_timeout);
            if let Some(at) = self.last_claim_at {
                wakes.push(at + self.config.lease_timeout);
            }
        }
        wakes.into_iter().min()
    }

    /// True when nothing but readiness stands between the machine and its
    /// next round: it wants one, has none in flight, and is settled.
    fn may_decide(&self) -> bool {
        self.wants_decision
            && self.in_flight.is_none()
            && self.settle_seq != u64::MAX
            && self.applied_seq() >= self.settle_seq
    }

    fn applied_seq(&self) -> u64 {
        self.core.state().applied_seq
    }

    fn on_entry(&mut self, now: Moment, entry: Arc<LogEntry>, pending: u64) {
        if entry.seq <= self.applied_seq() {
            self.stats.duplicates_dropped += 1;
            return;
        }
        self.core.apply(&entry);
        self.last_progress_at = now;
        self.stalled_since = None;
        self.read_failures_in_row = 0;
        self.head_seen = self.head_seen.max(entry.seq + pending);
        self.caught_up = pending == 0;
        self.wants_decision = true;
        self.applied_since_decide += 1;
        self.applied_since_snapshot += 1;
        if self.config.snapshot_every_events > 0
            && self.applied_since_snapshot >= self.config.snapshot_every_events
            && self
                .last_snapshot_at
                .is_none_or(|at| now.saturating_sub(at) >= SNAPSHOT_INTERVAL_MIN)
        {
            self.applied_since_snapshot = 0;
            self.last_snapshot_at = Some(now);
            self.stats.snapshots_asked += 1;
            self.outputs.push_back(Output::SaveSnapshot);
        }
    }

    fn on_read_failed(&mut self, now: Moment, error: String) {
        self.stats.read_failures += 1;
        self.read_failures_in_row += 1;
        self.stalled_since.get_or_insert(now);
        if self.read_failures_in_row >= READ_FAILURES_MAX {
            self.give_up(format!(
                "reading the log failed {READ_FAILURES_MAX} times in a row; the last error: {error}"
            ));
            return;
        }
        let backoff = read_backoff(self.read_failures_in_row);
        self.reopen_at = Some(now + backoff);
        self.set_health(Health::Stalled {
            why: format!(
                "reading the log failed ({error}); reopening in {} ms",
                backoff.as_millis()
            ),
        });
    }

    fn on_head_seen(&mut self, seq: u64) {
        self.probe_in_flight = false;
        self.head_seen = self.head_seen.max(seq);
        if seq > self.applied_seq() {
            self.caught_up = false;
        }
        if self.settle_on_next_head {
            self.settle_on_next_head = false;
            self.settle_seq = seq;
        }
    }

    fn on_round_landed(&mut self, last_seq: u64) {
        if let Some(InFlight::Round { size }) = self.in_flight.take() {
            self.stats.rounds += 1;
            self.stats.decisions += size as u64;
        }
        self.round_failures_in_row = 0;
        self.settle_seq = last_seq;
        self.head_seen = self.head_seen.max(last_seq);
    }

    fn on_round_failed(&mut self, error: String) {
        self.in_flight = None;
        self.stats.failed_rounds += 1;
        self.round_failures_in_row += 1;
        if self.round_failures_in_row >= ROUND_FAILURES_MAX {
            self.give_up(format!(
                "{ROUND_FAILURES_MAX} rounds in a row were not committed; the last error: {error}"
            ));
            return;
        }
        // Part of the round may have landed after all (a lost commit reply):
        // read the log up to its head before deciding again.
        self.settle_on_next_head = true;
        self.settle_seq = u64::MAX;
        self.wants_decision = true;
        self.request_probe();
        self.set_health(Health::Stalled {
            why: format!("a round was not published ({error}); re-reading the log first"),
        });
    }

    fn on_claim_answered(&mut self, outcome: ClaimOutcome) {
        if self.in_flight == Some(InFlight::Claim) {
            self.in_flight = None;
        }
        if let ClaimOutcome::Failed(error) = outcome {
            self.set_health(Health::Stalled {
                why: format!("the lease claim failed: {error}"),
            });
        }
    }

    /// Everything that follows from the state and the time.
    fn step(&mut self, now: Moment) {
        if self.given_up {
            return;
        }
        self.check_reader(now);
        self.check_probe(now);
        self.check_lease(now);
        self.maybe_decide(now);
        if self.reader_healthy(now) && self.settle_seq != u64::MAX {
            self.set_health(Health::Healthy);
        }
    }

    /// True while the reader is making progress or has nothing to read.
    fn reader_healthy(&self, now: Moment) -> bool {
        self.reopen_at.is_none()
            && self.stalled_since.is_none()
            && (self.head_seen <= self.applied_seq()
                || now.saturating_sub(self.last_progress_at) < READ_STALL_AFTER)
    }

    fn check_reader(&mut self, now: Moment) {
        if let Some(at) = self.reopen_at {
            if now >= at {
                self.reopen_at = None;
                self.reopen_reader(now);
            }
            return;
        }
        let behind = self.head_seen > self.applied_seq();
        if behind && now.saturating_sub(self.last_progress_at) >= READ_STALL_AFTER {
            self.set_health(Health::Stalled {
                why: format!(
                    "the reader has not advanced for {} ms with the log at {} and {} applied; reopening it",
                    READ_STALL_AFTER.as_millis(),
                    self.head_seen,
                    self.applied_seq()
                ),
            });
            self.stalled_since.get_or_insert(now);
            self.read_failures_in_row += 1;
            if self.read_failures_in_row >= READ_FAILURES_MAX {
                self.give_up(format!(
                    "the reader stalled {READ_FAILURES_MAX} times in a row at sequence {}",
                    self.applied_seq()
                ));
                return;
            }
            self.reopen_reader(now);
        }
    }

    fn reopen_reader(&mut self, now: Moment) {
        self.stats.reader_reopens += 1;
        // The reopened reader gets a full stall bound of its own.
        self.last_progress_at = now;
        self.outputs.push_back(Output::OpenReader {
            from_seq: self.applied_seq() + 1,
        });
    }

    fn check_probe(&mut self, now: Moment) {
        if now >= self.next_probe_at {
            self.request_probe();
            self.next_probe_at = now + HEAD_PROBE_INTERVAL;
        }
    }

    fn request_probe(&mut self) {
        if !self.probe_in_flight {
            self.probe_in_flight = true;
            self.outputs.push_back(Output::ProbeHead);
        }
    }

    fn check_lease(&mut self, now: Moment) {
        let healthy = self.reader_healthy(now);
        if let Some(epoch) = self.held_epoch() {
            // A holder that cannot read the log must not look alive.
            if healthy && now >= self.next_heartbeat_at {
                self.next_heartbeat_at = now + self.config.heartbeat_interval;
                self.outputs.push_back(Output::Heartbeat {
                    payload: format!("{epoch} {}", self.config.instance),
                });
            }
            return;
        }
        if !healthy || !self.caught_up || self.in_flight.is_some() {
            return;
        }
        let never_led = !self.core.state().leases.contains_key(self.core.service());
        let silent = now.saturating_sub(self.holder_heard_at) >= self.config.lease_timeout;
        let backed_off = self
            .last_claim_at
            .is_none_or(|at| now.saturating_sub(at) >= self.config.lease_timeout);
        // A service nobody has ever led is claimed as soon as the log is
        // read, not after a lease timeout: work may be waiting.
        let first_claim = never_led && self.last_claim_at.is_none();
        if first_claim || (backed_off && (silent || never_led)) {
            self.last_claim_at = Some(now);
            self.claim_lease();
        }
    }

    fn claim_lease(&mut self) {
        let state = self.core.state();
        let service = self.core.service();
        let (epoch, expected) = match state.leases.get(service) {
            Some(lease) => (lease.epoch + 1, lease.seq),
            None => (1, 0),
        };
        let claim = lease_claim(&state.cell, service, epoch, &self.config.instance);
        self.in_flight = Some(InFlight::Claim);
        self.outputs.push_back(Output::ClaimLease {
            claim,
            expected_last_subject_seq: expected,
        });
    }

    fn maybe_decide(&mut self, now: Moment) {
        if !self.may_decide() {
            return;
        }
        let Some(epoch) = self.held_epoch() else {
            return;
        };
        let ready = self.caught_up
            || self.applied_since_decide >= DECIDE_AFTER_EVENTS_MAX
            || now.saturating_sub(self.last_decided_at) >= DECIDE_INTERVAL_MAX;
        if !ready {
            return;
        }
        self.wants_decision = false;
        self.applied_since_decide = 0;
        self.last_decided_at = now;
        let round = self.core.decide(epoch);
        if round.is_empty() {
            return;
        }
        self.in_flight = Some(InFlight::Round { size: round.len() });
        self.outputs.push_back(Output::PublishRound { round });
    }

    fn set_health(&mut self, health: Health) {
        if self.health != health {
            self.health = health.clone();
            self.outputs.push_back(Output::Health(health));
        }
    }

    fn give_up(&mut self, reason: String) {
        self.given_up = true;
        self.outputs.push_back(Output::GiveUp { reason });
    }
}

/// The wait before the `failures`-th reopening in a row: doubling from
/// [`READ_RETRY_BACKOFF_MIN`], at most [`READ_RETRY_BACKOFF_MAX`].
pub fn read_backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    (READ_RETRY_BACKOFF_MIN * 2u32.pow(doublings)).min(READ_RETRY_BACKOFF_MAX)
}

/// A lease claim event. Its id is derived from the service and epoch, so two
/// claims for one epoch share a message id and only one can be stored.
pub fn lease_claim(cell: &str, service: &str, epoch: u64, instance: &str) -> Event {
    let mut event = Event::new(
        derived_event_id(&format!("lease/{cell}/{service}/{epoch}")),
        cell,
        Body::LeaseClaimed(LeaseClaimed {
            service: service.to_string(),
            epoch,
            holder: instance.to_string(),
        }),
    );
    event.correlation_id = Some(format!("lease-{service}"));
    event
}
