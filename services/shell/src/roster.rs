//! Setting a cell's roster, and checking that this process's key is in it.
//!
//! `rota auth init` writes the roster of the keys it made
//! ([`ROSTER_FILE`]); the operator sets it in the log (`rota roster set`,
//! and `rota demo` and the test harness right after provisioning). From
//! then on the fold takes an event other than a tenant's only when a key
//! of the roster signed it for an identity that may write it.

use crate::log::{CellLog, LogError};
use crate::signing::Signer;
use rota_events::{Body, Event, RosterMember, RosterSet, derived_event_id};
use rota_projections::{CellState, Ledger, Roster};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The roster file `rota auth init` writes beside the server configuration.
pub const ROSTER_FILE: &str = "roster.json";

/// What a roster file holds: the keys and whose each is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterFile {
    pub members: Vec<RosterMember>,
}

impl RosterFile {
    pub fn text(&self) -> String {
        serde_json::to_string_pretty(self).expect("a roster always encodes") + "\n"
    }

    /// Reads a roster file's `text`, read from `path`.
    pub fn parse(text: &str, path: &Path) -> Result<RosterFile, String> {
        serde_json::from_str(text).map_err(|e| {
            format!(
                "roster {}: {e}; a roster file is {{\"members\": [{{\"key\": \"U...\", \"identity\": \"agent-n1\"}}, ...]}}, as `rota auth init` writes it",
                path.display()
            )
        })
    }
}

/// The roster the log holds now, folded from its `roster.set` events.
pub async fn current_roster(log: &CellLog) -> Result<Roster, LogError> {
    Ok(roster_fold(log).await?.ledger.roster)
}

/// A fold of the log's `roster.set` events alone: the roster in force,
/// and why any of them was refused.
async fn roster_fold(log: &CellLog) -> Result<CellState, LogError> {
    let mut state = CellState::new(log.cell.clone());
    for entry in log.read_matching(&roster_subject(&log.cell)).await? {
        state.apply(&entry);
    }
    Ok(state)
}

fn roster_subject(cell: &str) -> String {
    format!("rota.{cell}.roster.set")
}

/// Sets `members` as the cell's next roster, signed by `log`'s key (the
/// operator's), and returns its version and stream sequence once the fold
/// has taken it. The fold refuses it unless the key is an operator's of
/// the roster in force (or, for the first, of this one); the error then
/// says why.
pub async fn set_roster(log: &CellLog, members: Vec<RosterMember>) -> Result<(u64, u64), LogError> {
    let subject = roster_subject(&log.cell);
    let refused = |detail: String| LogError::Publish {
        subject: subject.clone(),
        detail,
    };
    let version = current_roster(log).await?.version + 1;
    let set = RosterSet { version, members };
    set.validate().map_err(|problem| {
        refused(format!(
            "the roster is not one the cell can take: {problem}"
        ))
    })?;
    // One id per version: a retry is stored once, and of two operators
    // racing to set one version only the first is stored.
    let id = derived_event_id(&format!("{}/roster.set/{version}", log.cell));
    let event = Event::new(id, log.cell.clone(), Body::RosterSet(set));
    let seq = log.publish(&event).await?;
    let folded = roster_fold(log).await?;
    if folded.roster.version >= version {
        return Ok((version, seq));
    }
    let reason = folded
        .backlog
        .rejections
        .get(&seq)
        .map(|rejection| rejection.detail.clone())
        .unwrap_or_else(|| {
            format!(
                "the log's roster is still version {}",
                folded.roster.version
            )
        });
    Err(refused(format!(
        "stored at sequence {seq} but not taken: {reason}"
    )))
}

/// Fails when the cell has a roster that does not name `signer`'s key:
/// every event this process wrote would be refused, so it stops and says
/// why rather than writing them.
pub fn check_in_roster(
    state: &Ledger,
    signer: Option<&Signer>,
    what: &str,
) -> Result<(), LogError> {
    let roster = &state.roster;
    let Some(signer) = signer else {
        return match roster.is_set() {
            true => Err(LogError::Stalled {
                service: what.to_string(),
                reason: format!(
                    "the cell has a roster (version {}), which takes only signed events, and this process has no credentials to sign with; give it --creds",
                    roster.version
                ),
            }),
            false => Ok(()),
        };
    };
    match roster.is_set() && roster.identity_of(signer.public_key()).is_none() {
        true => Err(LogError::Stalled {
            service: what.to_string(),
            reason: format!(
                "the cell's roster (version {}) does not name this process's key {}, so every event it wrote would be refused; set a roster that names it (`rota roster set`)",
                roster.version,
                signer.public_key()
            ),
        }),
        false => Ok(()),
    }
}
