//! The roster's rules in the fold: who may set it, which version comes
//! next, and which events it requires signed by whom.

mod common;

use common::Log;
use rota_events::*;
use rota_projections::CellState;

/// A valid NKey user public key, one per `n`.
fn key(n: u8) -> PublicKey {
    let signing = ed25519_dalek::SigningKey::from_bytes(&[n; 32]);
    PublicKey::from_ed25519(signing.verifying_key().to_bytes())
}

const OPERATOR: u8 = 1;
const AGENT_N1: u8 = 2;
const PLACEMENT: u8 = 3;
const STRANGER: u8 = 9;

fn roster(version: u64, members: &[(u8, Identity)]) -> Event {
    let members = members
        .iter()
        .map(|(n, identity)| RosterMember {
            key: key(*n),
            identity: identity.clone(),
        })
        .collect();
    Event::new(
        format!("roster-{version}"),
        "default",
        Body::RosterSet(RosterSet { version, members }),
    )
}

fn first_roster() -> Event {
    roster(
        1,
        &[
            (OPERATOR, Identity::Operator),
            (AGENT_N1, Identity::Agent("n1".into())),
            (PLACEMENT, Identity::Service("placement".into())),
        ],
    )
}

fn registration(node: &str) -> Event {
    Event::new(
        format!("reg-{node}"),
        "default",
        Body::NodeRegistered(NodeRegistered {
            node: node.into(),
            capacity: Resources {
                cpu_milli: 1000,
                memory_bytes: 1 << 30,
                ..Default::default()
            },
            ..Default::default()
        }),
    )
}

/// Appends `event` signed by key `by` (None: unsigned).
fn signed(log: &mut Log, event: Event, by: Option<u8>) {
    log.push(event);
    log.entries.last_mut().unwrap().signer = by.map(key);
}

fn fold(log: &Log) -> CellState {
    let mut state = CellState::new("default");
    for entry in &log.entries {
        state.apply(entry);
    }
    state
}

fn refusal(state: &CellState, seq: u64) -> String {
    state.backlog.rejections[&seq].detail.clone()
}

#[test]
fn a_cell_without_a_roster_takes_unsigned_events() {
    let mut log = Log::new();
    signed(&mut log, registration("n1"), None);
    let state = fold(&log);
    assert!(!state.roster.is_set());
    assert!(state.nodes.contains_key("n1"));
}

#[test]
fn the_first_roster_must_be_signed_by_an_operator_it_names() {
    for by in [None, Some(AGENT_N1), Some(STRANGER)] {
        let mut log = Log::new();
        signed(&mut log, first_roster(), by);
        let state = fold(&log);
        assert!(!state.roster.is_set(), "signed by {by:?}");
        assert!(refusal(&state, 1).contains("signed by an operator key it names"));
    }
    let mut log = Log::new();
    signed(&mut log, first_roster(), Some(OPERATOR));
    let state = fold(&log);
    assert_eq!(state.roster.version, 1);
    assert_eq!(state.roster.members.len(), 3);
}

#[test]
fn a_roster_takes_only_its_next_version_from_an_operator_of_the_last() {
    let mut log = Log::new();
    signed(&mut log, first_roster(), Some(OPERATOR));
    // Played again: version 1 is not next.
    signed(&mut log, first_roster(), Some(OPERATOR));
    // Version 2 from someone who names himself operator in it.
    let usurper = roster(2, &[(STRANGER, Identity::Operator)]);
    signed(&mut log, usurper.clone(), Some(STRANGER));
    // Version 3, skipping 2.
    signed(
        &mut log,
        roster(3, &[(OPERATOR, Identity::Operator)]),
        Some(OPERATOR),
    );
    let state = fold(&log);
    assert!(refusal(&state, 2).contains("the next roster is version 2"));
    assert!(refusal(&state, 3).contains("not in the cell's roster"));
    assert!(refusal(&state, 4).contains("the next roster is version 2"));
    assert_eq!(state.roster.version, 1);
    // The operator hands the cell to a new key.
    let mut handed = roster(2, &[(STRANGER, Identity::Operator)]);
    handed.id = "roster-2b".into();
    signed(&mut log, handed, Some(OPERATOR));
    let state = fold(&log);
    assert_eq!(state.roster.version, 2);
    assert_eq!(
        state.roster.identity_of(&key(STRANGER)),
        Some(&Identity::Operator)
    );
}

#[test]
fn a_roster_without_an_operator_or_with_a_key_twice_is_refused() {
    let mut log = Log::new();
    signed(&mut log, first_roster(), Some(OPERATOR));
    signed(
        &mut log,
        roster(2, &[(AGENT_N1, Identity::Fleet)]),
        Some(OPERATOR),
    );
    let twice = roster(
        2,
        &[(OPERATOR, Identity::Operator), (OPERATOR, Identity::Fleet)],
    );
    signed(&mut log, twice, Some(OPERATOR));
    let state = fold(&log);
    assert!(refusal(&state, 2).contains("names no operator"));
    assert!(refusal(&state, 3).contains("more than once"));
    assert_eq!(state.roster.version, 1);
}

#[test]
fn under_a_roster_only_a_key_that_may_write_an_event_has_it_taken() {
    let mut log = Log::new();
    signed(&mut log, first_roster(), Some(OPERATOR));
    signed(&mut log, registration("n1"), None);
    signed(&mut log, registration("n1"), Some(STRANGER));
    signed(&mut log, registration("n1"), Some(PLACEMENT));
    signed(&mut log, registration("n2"), Some(AGENT_N1));
    signed(&mut log, registration("n1"), Some(AGENT_N1));
    let state = fold(&log);
    assert!(refusal(&state, 2).contains("not signed"));
    assert!(refusal(&state, 3).contains("not in the cell's roster (version 1)"));
    assert!(refusal(&state, 4).contains("service-placement, which may not write it"));
    assert!(refusal(&state, 5).contains("agent-n1, which may not write it"));
    assert!(!state.backlog.rejections.contains_key(&6));
    assert_eq!(state.nodes.keys().collect::<Vec<_>>(), ["n1"]);
}

#[test]
fn a_tenants_submission_needs_no_signature() {
    let mut log = Log::new();
    signed(&mut log, first_roster(), Some(OPERATOR));
    signed(&mut log, common::submit("j1", 100), None);
    let state = fold(&log);
    assert!(state.backlog.rejections.is_empty());
    assert!(state.jobs.contains_key("j1"));
}
