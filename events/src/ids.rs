//! Deterministic identifiers: decision ids and message ids derived from the
//! round, and W3C trace context derived from the event that caused it.

/// FNV-1a over `bytes`, starting from `seed`. Stable across builds and
/// platforms, unlike the standard library's hasher.
pub fn fnv1a64(seed: u64, bytes: &[u8]) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = 0xcbf2_9ce4_8422_2325 ^ seed;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(PRIME);
    }
    hash
}

/// The `Nats-Msg-Id` of a decision: unique per service, epoch, basis and
/// position, so that a retried publish of the same round deduplicates.
pub fn decision_msg_id(service: &str, epoch: u64, basis: u64, index: u32) -> String {
    format!("{service}.{epoch}.{basis}.{index}")
}

/// The event id of a decision: a ULID whose time is the basis event's and
/// whose random part is a hash of the round position.
pub fn decision_event_id(
    cell: &str,
    service: &str,
    epoch: u64,
    basis: u64,
    index: u32,
    basis_time_ms: u64,
) -> String {
    let key = format!("{cell}/{}", decision_msg_id(service, epoch, basis, index));
    let high = fnv1a64(1, key.as_bytes());
    let low = fnv1a64(2, key.as_bytes());
    let random = (u128::from(high) << 64 | u128::from(low)) & ((1u128 << 80) - 1);
    new_event_id(basis_time_ms, random)
}

/// A ULID from a millisecond timestamp and 80 bits of randomness. The shell
/// supplies both; nothing here reads a clock.
pub fn new_event_id(time_ms: u64, random: u128) -> String {
    ulid::Ulid::from_parts(time_ms, random).to_string()
}

/// A W3C `traceparent` for an event: the trace id is the parent's when there
/// is one, else derived from `trace_seed`; the span id is derived from
/// `span_seed` (the event's own id).
pub fn traceparent_for(parent: Option<&str>, trace_seed: &str, span_seed: &str) -> String {
    let trace_id = parent.and_then(parse_trace_id).unwrap_or_else(|| {
        format!(
            "{:016x}{:016x}",
            fnv1a64(3, trace_seed.as_bytes()),
            fnv1a64(4, trace_seed.as_bytes())
        )
    });
    let span_id = fnv1a64(5, span_seed.as_bytes()).max(1);
    format!("00-{trace_id}-{span_id:016x}-01")
}

/// The 32-hex-digit trace id of a well-formed `traceparent`.
fn parse_trace_id(traceparent: &str) -> Option<String> {
    let mut parts = traceparent.split('-');
    let _version = parts.next()?;
    let trace_id = parts.next()?;
    let valid = trace_id.len() == 32
        && trace_id.chars().all(|c| c.is_ascii_hexdigit())
        && trace_id.chars().any(|c| c != '0');
    valid.then(|| trace_id.to_ascii_lowercase())
}

/// A deterministic event id for a fact that must be logged once however
/// often it is published (a tick, a lease claim, an agent's report): a ULID
/// whose time part is zero and whose random part is a hash of `key`.
pub fn derived_event_id(key: &str) -> String {
    let high = fnv1a64(6, key.as_bytes());
    let low = fnv1a64(7, key.as_bytes());
    let random = (u128::from(high) << 64 | u128::from(low)) & ((1u128 << 80) - 1);
    new_event_id(0, random)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_ids_are_deterministic_and_distinct() {
        let a = decision_event_id("default", "placement", 1, 10, 0, 1_700_000_000_000);
        let b = decision_event_id("default", "placement", 1, 10, 0, 1_700_000_000_000);
        let c = decision_event_id("default", "placement", 1, 10, 1, 1_700_000_000_000);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 26);
    }

    #[test]
    fn traceparent_keeps_the_parent_trace() {
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let child = traceparent_for(Some(parent), "job-1", "event-2");
        assert!(child.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert_eq!(child.len(), 55);
        let fresh = traceparent_for(None, "job-1", "event-2");
        assert_eq!(fresh, traceparent_for(Some("garbage"), "job-1", "event-2"));
    }
}
