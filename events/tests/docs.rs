//! docs/events.md is the reference for clients in any language, so what it
//! states about the wire format is checked against this build: the number
//! of event types and a section for each, the stream's subjects, and where
//! `null` is accepted.

use rota_events::{Encoding, TYPE_NAMES, decode, stream_subjects};

/// The reference in this checkout. Cargo names the package's directory at
/// run time; the path compiled in is only a fallback, because a build
/// directory shared between checkouts may hold a test built in another.
#[allow(clippy::disallowed_methods)]
fn reference() -> String {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    let path = dir.join("../docs/events.md");
    std::fs::read_to_string(&path).expect("docs/events.md beside the crate")
}

#[test]
fn the_reference_counts_and_describes_every_event_type() {
    let text = reference();
    let count = format!("{} event types", TYPE_NAMES.len());
    assert!(text.contains(&count), "docs/events.md never says {count:?}");
    for wrong in ["16 event types", "16 types"] {
        assert!(!text.contains(wrong), "docs/events.md still says {wrong:?}");
    }
    for type_name in TYPE_NAMES {
        let heading = format!("### `{type_name}`");
        assert!(text.contains(&heading), "docs/events.md has no {heading}");
    }
}

#[test]
fn the_reference_lists_every_subject_the_stream_holds() {
    let text = reference();
    let row = text
        .lines()
        .find(|line| line.starts_with("| Subjects |"))
        .expect("the stream's Subjects row");
    for subject in stream_subjects("<cell>") {
        assert!(
            row.contains(&format!("`{subject}`")),
            "{row} lacks {subject}"
        );
    }
}

/// `null` means "left out" for an optional field without a default, and is
/// malformed for a field with one, as the reference says.
#[test]
fn null_is_accepted_only_where_the_reference_says() {
    let submit = |field: &str| {
        let mut data = serde_json::json!({
            "job": "j1",
            "resources": {"cpu_milli": 1000, "memory_bytes": 1024}
        });
        data[field] = serde_json::Value::Null;
        let event = serde_json::json!({
            "id": "x1", "type": "job.submitted", "v": 2, "cell": "default",
            "tenant": "acme", "data": data
        });
        decode(
            "rota.default.job.acme.j1.submitted",
            Encoding::Json,
            &serde_json::to_vec(&event).unwrap(),
        )
    };
    for optional in ["name", "duration_ms", "walltime_s", "priority_class"] {
        assert!(submit(optional).is_ok(), "null {optional} was refused");
    }
    for defaulted in ["priority", "command", "labels", "constraints"] {
        assert!(submit(defaulted).is_err(), "null {defaulted} was accepted");
    }
}

/// The roster example decodes, its keys real NKey public keys.
#[test]
fn the_roster_example_is_a_roster_this_build_reads() {
    let text = reference();
    let section = text
        .split("### `roster.set`")
        .nth(1)
        .expect("a roster.set section");
    let example = section
        .split("```json\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a JSON example in the roster.set section");
    let decoded = decode(
        "rota.default.roster.set",
        Encoding::Json,
        example.as_bytes(),
    );
    assert!(decoded.is_ok(), "{decoded:?}");
}
