//! Validation of what a job asks of its node and of other jobs: sizes of
//! every list, label requirement shapes, weights, topology keys and skews.

use crate::limits::*;
use crate::validate::Refusal;
use rota_events::{Constraints, JobSelector, LabelRequirement, Operator};

fn refuse(field: String, reason: String) -> Result<(), Refusal> {
    Err(Refusal { field, reason })
}

/// Checks that a list at `field` has at most [`CONSTRAINT_TERMS_MAX`] items.
fn check_count(field: &str, count: usize) -> Result<(), Refusal> {
    if count > CONSTRAINT_TERMS_MAX {
        return refuse(
            field.to_string(),
            format!("{field} has {count} entries; it may have at most {CONSTRAINT_TERMS_MAX}"),
        );
    }
    Ok(())
}

fn check_text(field: &str, what: &str, text: &str) -> Result<(), Refusal> {
    if text.is_empty() || text.len() > JOB_LABEL_BYTES_MAX {
        return refuse(
            field.to_string(),
            format!(
                "{field} has a {what} of {} bytes; it must be 1 to {JOB_LABEL_BYTES_MAX} bytes",
                text.len()
            ),
        );
    }
    Ok(())
}

fn check_weight(field: &str, weight: u32) -> Result<(), Refusal> {
    if !(1..=PREFERENCE_WEIGHT_MAX).contains(&weight) {
        return refuse(
            field.to_string(),
            format!("{field}.weight is {weight}; it must be 1 to {PREFERENCE_WEIGHT_MAX}"),
        );
    }
    Ok(())
}

fn check_requirement(field: &str, requirement: &LabelRequirement) -> Result<(), Refusal> {
    check_text(field, "key", &requirement.key)?;
    let values = requirement.values.len();
    match requirement.operator {
        Operator::In | Operator::NotIn if values == 0 => refuse(
            field.to_string(),
            format!(
                "{field} uses in or not_in on {:?} with no values; list 1 to {REQUIREMENT_VALUES_MAX} values",
                requirement.key
            ),
        ),
        Operator::Exists | Operator::DoesNotExist if values > 0 => refuse(
            field.to_string(),
            format!(
                "{field} uses exists or does_not_exist on {:?} with values; leave `values` out",
                requirement.key
            ),
        ),
        _ if values > REQUIREMENT_VALUES_MAX => refuse(
            field.to_string(),
            format!("{field} lists {values} values; at most {REQUIREMENT_VALUES_MAX}"),
        ),
        _ => Ok(()),
    }
}

fn check_selector(field: &str, selector: &JobSelector) -> Result<(), Refusal> {
    check_count(
        &format!("{field}.match_labels"),
        selector.match_labels.len(),
    )?;
    check_count(
        &format!("{field}.match_expressions"),
        selector.match_expressions.len(),
    )?;
    for (key, value) in &selector.match_labels {
        let field = format!("{field}.match_labels");
        check_text(&field, "key", key)?;
        if value.len() > JOB_LABEL_BYTES_MAX {
            return refuse(
                field.clone(),
                format!(
                    "{field} has a value of {} bytes; it may be at most {JOB_LABEL_BYTES_MAX}",
                    value.len()
                ),
            );
        }
    }
    for (i, requirement) in selector.match_expressions.iter().enumerate() {
        check_requirement(&format!("{field}.match_expressions[{i}]"), requirement)?;
    }
    Ok(())
}

/// Checks every constraint of a job spec.
pub fn validate_constraints(constraints: &Constraints) -> Result<(), Refusal> {
    let c = constraints;
    check_count("constraints.node_selector", c.node_selector.len())?;
    for key in c.node_selector.keys() {
        check_text("constraints.node_selector", "key", key)?;
    }
    check_count("constraints.tolerations", c.tolerations.len())?;
    for (i, toleration) in c.tolerations.iter().enumerate() {
        check_text(
            &format!("constraints.tolerations[{i}]"),
            "key",
            &toleration.key,
        )?;
    }
    check_count("constraints.affinity.required", c.affinity.required.len())?;
    for (i, requirement) in c.affinity.required.iter().enumerate() {
        check_requirement(&format!("constraints.affinity.required[{i}]"), requirement)?;
    }
    check_count("constraints.affinity.preferred", c.affinity.preferred.len())?;
    for (i, preference) in c.affinity.preferred.iter().enumerate() {
        let field = format!("constraints.affinity.preferred[{i}]");
        check_weight(&field, preference.weight)?;
        check_requirement(&field, &preference.requirement)?;
    }
    check_count("constraints.extended", c.extended.len())?;
    for (name, amount) in &c.extended {
        check_text("constraints.extended", "name", name)?;
        if *amount == 0 {
            return refuse(
                "constraints.extended".to_string(),
                format!(
                    "constraints.extended asks for 0 of {name:?}; ask for 1 or more, or leave it out"
                ),
            );
        }
    }
    for (kind, affinity) in [
        ("job_affinity", &c.job_affinity),
        ("job_anti_affinity", &c.job_anti_affinity),
    ] {
        check_count(
            &format!("constraints.{kind}.required"),
            affinity.required.len(),
        )?;
        for (i, term) in affinity.required.iter().enumerate() {
            let field = format!("constraints.{kind}.required[{i}]");
            check_text(&field, "topology_key", &term.topology_key)?;
            check_selector(&format!("{field}.selector"), &term.selector)?;
        }
        check_count(
            &format!("constraints.{kind}.preferred"),
            affinity.preferred.len(),
        )?;
        for (i, term) in affinity.preferred.iter().enumerate() {
            let field = format!("constraints.{kind}.preferred[{i}]");
            check_weight(&field, term.weight)?;
            check_text(&field, "topology_key", &term.topology_key)?;
            check_selector(&format!("{field}.selector"), &term.selector)?;
        }
    }
    check_count("constraints.topology_spread", c.topology_spread.len())?;
    for (i, spread) in c.topology_spread.iter().enumerate() {
        let field = format!("constraints.topology_spread[{i}]");
        check_text(&field, "topology_key", &spread.topology_key)?;
        if !(1..=TOPOLOGY_SKEW_MAX).contains(&spread.max_skew) {
            return refuse(
                field.clone(),
                format!(
                    "{field}.max_skew is {}; it must be 1 to {TOPOLOGY_SKEW_MAX}",
                    spread.max_skew
                ),
            );
        }
        check_selector(&format!("{field}.selector"), &spread.selector)?;
    }
    Ok(())
}
