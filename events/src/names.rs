//! Names that appear as subject tokens: cells, tenants, jobs, nodes, services.

use crate::limits::NAME_CHARS_MAX;

/// A name that cannot be used as a subject token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{what} {value:?} is not a valid name: {problem}; names are 1 to {max} characters of \
     A-Z, a-z, 0-9, '_' and '-'",
    max = NAME_CHARS_MAX
)]
pub struct NameError {
    pub what: &'static str,
    pub value: String,
    pub problem: &'static str,
}

/// Checks that `value` can be a subject token. `what` names the field in the
/// error ("tenant", "node", ...).
pub fn check_name(what: &'static str, value: &str) -> Result<(), NameError> {
    let problem = if value.is_empty() {
        Some("it is empty")
    } else if value.chars().count() > NAME_CHARS_MAX {
        Some("it is too long")
    } else if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        Some("it contains a character other than A-Z, a-z, 0-9, '_' and '-'")
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(NameError {
            what,
            value: value.to_string(),
            problem,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_tokens_and_refuses_separators() {
        assert!(check_name("tenant", "acme-ml_2").is_ok());
        for bad in ["", "a.b", "a*", "a>", "a b", &"x".repeat(65)] {
            let error = check_name("tenant", bad).unwrap_err();
            assert!(error.to_string().contains("tenant"), "{error}");
        }
    }
}
