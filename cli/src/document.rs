//! Reading the documents people write (job specs, policy and tenants files):
//! YAML or JSON, with every field checked.
//!
//! Wire types accept unknown fields so that newer events stay readable, but
//! a person's file must not lose a misspelt field silently: a typo such as
//! `tolerationz` would otherwise leave a job without the constraint its
//! author meant it to have.

use anyhow::bail;
use serde::de::DeserializeOwned;

/// Most unknown fields one error lists.
const UNKNOWN_FIELDS_LISTED_MAX: usize = 10;

/// Parses `text` as JSON when it looks like JSON (so that errors point at
/// JSON syntax), else as YAML, into an untyped document.
/// Reads the text of `path`, a `what` file (for errors), refusing one of
/// more than `bytes_max` bytes before reading it.
pub fn read_bounded(path: &std::path::Path, what: &str, bytes_max: u64) -> anyhow::Result<String> {
    let cannot_read = |e: std::io::Error| anyhow::anyhow!("cannot read {}: {e}", path.display());
    let size = std::fs::metadata(path).map_err(cannot_read)?.len();
    if size > bytes_max {
        bail!(
            "{} is {size} bytes; a {what} file may be at most {bytes_max}",
            path.display()
        );
    }
    std::fs::read_to_string(path).map_err(cannot_read)
}

pub fn parse(text: &str) -> anyhow::Result<serde_json::Value> {
    if looks_like_json(text) {
        Ok(serde_json::from_str(text)?)
    } else {
        Ok(serde_yaml::from_str(text)?)
    }
}

/// Parses `text` as JSON or YAML (chosen as in [`parse`]) into `T`, refusing
/// fields `T` has no place for at any depth. Errors about values keep the
/// line and column the parser gives.
pub fn parse_strict<T: DeserializeOwned>(text: &str) -> anyhow::Result<T> {
    let mut unknown: Vec<String> = Vec::new();
    let record = |path: serde_ignored::Path| unknown.push(path.to_string());
    let value = if looks_like_json(text) {
        let mut json = serde_json::Deserializer::from_str(text);
        let value = serde_ignored::deserialize(&mut json, record)?;
        json.end()?;
        value
    } else {
        serde_ignored::deserialize(serde_yaml::Deserializer::from_str(text), record)?
    };
    refuse_unknown(&unknown)?;
    Ok(value)
}

/// Converts a document into `T`, refusing fields `T` has no place for at any
/// depth.
pub fn from_value_strict<T: DeserializeOwned>(document: serde_json::Value) -> anyhow::Result<T> {
    let mut unknown: Vec<String> = Vec::new();
    let value = serde_ignored::deserialize(document, |path| unknown.push(path.to_string()))?;
    refuse_unknown(&unknown)?;
    Ok(value)
}

fn looks_like_json(text: &str) -> bool {
    let trimmed = text.trim_start();
    trimmed.starts_with('{') || trimmed.starts_with('[')
}

/// An error naming each unknown field by its path, like
/// `constraints.tolerationz`, when there are any.
fn refuse_unknown(unknown: &[String]) -> anyhow::Result<()> {
    if unknown.is_empty() {
        return Ok(());
    }
    let shown: Vec<String> = unknown
        .iter()
        .take(UNKNOWN_FIELDS_LISTED_MAX)
        .map(|path| format!("`{path}`"))
        .collect();
    let more = unknown.len().saturating_sub(UNKNOWN_FIELDS_LISTED_MAX);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    bail!(
        "unknown field{} {}{more}; check the spelling against the fields listed in docs/events.md",
        if unknown.len() == 1 { "" } else { "s" },
        shown.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rota_events::Constraints;

    #[test]
    fn a_misspelt_nested_field_is_refused_by_its_path() {
        let error = parse_strict::<Constraints>(
            "node_selector: {zone: a}\ntolerations:\n  - {key: gpu, efect: NoSchedule}\n",
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("`tolerations.0.efect`"), "{error}");
    }

    #[test]
    fn known_fields_at_every_depth_are_accepted() {
        let constraints: Constraints =
            parse_strict(r#"{"node_selector": {"zone": "a"}, "tolerations": [{"key": "gpu"}]}"#)
                .unwrap();
        assert_eq!(constraints.node_selector["zone"], "a");
        assert_eq!(constraints.tolerations.len(), 1);
    }

    #[test]
    fn many_unknown_fields_are_listed_up_to_a_limit() {
        let fields: Vec<String> = (0..15).map(|i| format!("\"typo{i:02}\": 1")).collect();
        let error = parse_strict::<Constraints>(&format!("{{{}}}", fields.join(", ")))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("`typo09`") && !error.contains("`typo10`"),
            "{error}"
        );
        assert!(error.contains("and 5 more"), "{error}");
    }
}
