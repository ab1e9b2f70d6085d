//! Replay verification (DESIGN.md section 3): for every round recorded in a
//! log, fold the service's core up to the round's basis, decide again, and
//! compare with what was recorded. Any difference is nondeterminism, and the
//! report names the event, the service and the field.
//!
//! This crate is pure: it takes the log as a slice of entries and the cores
//! from a factory, so the same check runs on a live log, a saved one, or in a
//! test with a deliberately broken core.

use rota_events::{Encoding, Event, encode_as};
use rota_projections::{LogEntry, ServiceCore};
use std::collections::BTreeMap;
use std::fmt;

/// Makes a fresh core for a service name, or None if the service is unknown.
pub type CoreFactory<'a> = &'a dyn Fn(&str) -> Option<Box<dyn ServiceCore>>;

/// Every deciding service of this build, each the one writer of its
/// decisions.
pub const DECIDING_SERVICES: [&str; 4] = [
    rota_admission::SERVICE,
    rota_placement::SERVICE,
    rota_fairshare::SERVICE,
    rota_preemption::SERVICE,
];

/// The cores of this build, for `cell`.
pub fn standard_core(cell: &str, service: &str) -> Option<Box<dyn ServiceCore>> {
    match service {
        rota_admission::SERVICE => Some(Box::new(rota_admission::Admission::new(cell))),
        rota_placement::SERVICE => Some(Box::new(rota_placement::Placement::new(cell))),
        rota_fairshare::SERVICE => Some(Box::new(rota_fairshare::FairShare::new(cell))),
        rota_preemption::SERVICE => Some(Box::new(rota_preemption::Preemption::new(cell))),
        _ => None,
    }
}

/// A recorded event that replay could not re-derive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub service: String,
    pub epoch: u64,
    pub basis: u64,
    /// The stream sequence of the recorded event, if there was one.
    pub seq: Option<u64>,
    pub index: usize,
    /// The dotted path of the first differing field (`data.node`), or
    /// `round` when the rounds differ in length.
    pub field: String,
    pub recorded: String,
    pub derived: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = match self.seq {
            Some(seq) => format!("event at sequence {seq}"),
            None => "a missing event".to_string(),
        };
        write!(
            f,
            "{at}: service {} (epoch {}, basis {}, index {}): field {}: recorded {}, re-derived {}",
            self.service,
            self.epoch,
            self.basis,
            self.index,
            self.field,
            self.recorded,
            self.derived
        )
    }
}

/// The outcome of verifying a log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub entries: usize,
    pub rounds: usize,
    pub decisions: usize,
    /// Services that wrote rounds this build has no core for.
    pub unknown_services: Vec<String>,
    pub mismatches: Vec<Mismatch>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.mismatches.is_empty() && self.unknown_services.is_empty()
    }
}

/// A round as recorded: its events by index, with their sequences.
type Recorded = BTreeMap<(u64, u64), Vec<(u64, Event)>>;

/// Verifies every recorded round in `entries` (the whole log, in order).
pub fn verify(entries: &[LogEntry], make_core: CoreFactory<'_>) -> Report {
    let mut report = Report {
        entries: entries.len(),
        ..Report::default()
    };
    // service -> (basis, epoch) -> events
    let mut rounds: BTreeMap<String, Recorded> = BTreeMap::new();
    for entry in entries {
        if let Ok(event) = &entry.event
            && let Some(round) = &event.round
        {
            rounds
                .entry(round.service.clone())
                .or_default()
                .entry((round.basis, round.epoch))
                .or_default()
                .push((entry.seq, event.clone()));
        }
    }
    for (service, recorded) in rounds {
        let Some(mut core) = make_core(&service) else {
            report.unknown_services.push(service);
            continue;
        };
        report.rounds += recorded.len();
        report.decisions += recorded.values().map(Vec::len).sum::<usize>();
        verify_service(
            entries,
            &service,
            core.as_mut(),
            &recorded,
            &mut report.mismatches,
        );
    }
    report
}

fn verify_service(
    entries: &[LogEntry],
    service: &str,
    core: &mut dyn ServiceCore,
    recorded: &Recorded,
    mismatches: &mut Vec<Mismatch>,
) {
    let mut next = recorded.iter().peekable();
    for entry in entries {
        core.apply(entry);
        while let Some(((basis, epoch), events)) =
            next.next_if(|((basis, _), _)| *basis <= entry.seq)
        {
            if *basis != entry.seq {
                // The basis is not in the log (it was never applied here).
                mismatches.push(Mismatch {
                    service: service.to_string(),
                    epoch: *epoch,
                    basis: *basis,
                    seq: events.first().map(|(seq, _)| *seq),
                    index: 0,
                    field: "round.basis".to_string(),
                    recorded: basis.to_string(),
                    derived: "no such sequence in the log".to_string(),
                });
                continue;
            }
            let derived = core.decide(*epoch);
            compare_round(service, *epoch, *basis, events, &derived, mismatches);
        }
    }
}

fn compare_round(
    service: &str,
    epoch: u64,
    basis: u64,
    recorded: &[(u64, Event)],
    derived: &[Event],
    mismatches: &mut Vec<Mismatch>,
) {
    let mismatch = |seq, index, field: String, recorded: String, derived: String| Mismatch {
        service: service.to_string(),
        epoch,
        basis,
        seq,
        index,
        field,
        recorded,
        derived,
    };
    let declared = recorded
        .first()
        .map_or(0, |(_, e)| e.round.as_ref().map_or(0, |r| r.size as usize));
    if recorded.len() != derived.len() || declared != recorded.len() {
        mismatches.push(mismatch(
            recorded.first().map(|(seq, _)| *seq),
            0,
            "round".to_string(),
            format!("{} events (declared size {declared})", recorded.len()),
            format!("{} events", derived.len()),
        ));
    }
    for (index, ((seq, recorded), derived)) in recorded.iter().zip(derived).enumerate() {
        let left = as_json(recorded);
        let right = as_json(derived);
        if let Some((field, a, b)) = first_difference("", &left, &right) {
            mismatches.push(mismatch(Some(*seq), index, field, a, b));
        }
    }
}

fn as_json(event: &Event) -> serde_json::Value {
    serde_json::from_slice(&encode_as(event, Encoding::Json)).expect("events encode as JSON")
}

/// The first path at which two JSON values differ, with both sides.
fn first_difference(
    path: &str,
    left: &serde_json::Value,
    right: &serde_json::Value,
) -> Option<(String, String, String)> {
    use serde_json::Value;
    match (left, right) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            keys.into_iter().find_map(|key| {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                first_difference(
                    &child,
                    a.get(key).unwrap_or(&Value::Null),
                    b.get(key).unwrap_or(&Value::Null),
                )
            })
        }
        _ if left == right => None,
        _ => Some((path.to_string(), left.to_string(), right.to_string())),
    }
}
