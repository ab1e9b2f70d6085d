//! One message of the log, as every core sees it.

use rota_events::{Event, InputError, PublicKey};

/// A message read from the cell's stream: its sequence, the server's
/// timestamp, its subject, the decoded event or why it could not be, and
/// its signer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub seq: u64,
    /// The JetStream timestamp, in milliseconds since the Unix epoch. This is
    /// the only time any core ever sees.
    pub time_ms: u64,
    pub subject: String,
    pub event: Result<Event, InputError>,
    /// Whose key signed the message, its signature checked when it was
    /// decoded; None for an unsigned message.
    pub signer: Option<PublicKey>,
}
