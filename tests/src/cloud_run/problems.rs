//! The problems found in a service definition, gathered so that one
//! answer lists them all, as `gcloud run services replace` does; every
//! rule module ([`super::validate`], [`super::annotations`],
//! [`super::probe_rules`], [`super::containers`]) adds to them.

use super::spec::Scalar;

/// Accumulates every problem, so one answer lists them all.
#[derive(Default)]
pub struct Problems(pub Vec<String>);

impl Problems {
    pub fn add(&mut self, field: &str, message: impl std::fmt::Display) {
        self.0.push(format!("{field}: {message}"));
    }

    /// An integer field (protobuf JSON takes a number or a numeric string).
    pub fn int(&mut self, field: &str, value: &Option<Scalar>, default: i64) -> i64 {
        match value {
            None | Some(Scalar::Null) => default,
            Some(Scalar::Int(i)) => *i,
            Some(Scalar::Str(s)) if s.parse::<i64>().is_ok() => s.parse().unwrap(),
            Some(other) => {
                self.add(
                    field,
                    format!("Invalid value {:?}: expected an integer.", other.text()),
                );
                default
            }
        }
    }

    pub fn range(&mut self, field: &str, value: i64, min: i64, max: i64) {
        if value < min || value > max {
            self.add(
                field,
                format!("must be between {min} and {max}, got {value}."),
            );
        }
    }

    /// A string field: numbers and booleans are refused, as protobuf's
    /// JSON mapping refuses them (<https://protobuf.dev/programming-guides/json/>).
    pub fn string(&mut self, field: &str, value: &Scalar) -> String {
        match value {
            Scalar::Str(s) => s.clone(),
            Scalar::Null => String::new(),
            other => {
                self.add(
                    field,
                    format!("Invalid value at '{field}' (TYPE_STRING), {}", other.text()),
                );
                other.text()
            }
        }
    }
}
