//! The rules of a revision with several containers (sidecars), from
//! <https://cloud.google.com/run/docs/deploying#sidecars>:
//!
//! - at most 10 containers per instance, the ingress container included;
//! - exactly one container, the ingress container, has a port: it takes
//!   the requests; the others (sidecars) reach each other on localhost;
//! - with several containers each has a name, unique in the revision;
//! - `run.googleapis.com/container-dependencies` (a revision annotation)
//!   maps a container's name to the names of the containers that must
//!   have started (passed their startup probes) before it starts: every
//!   name must be a container of the revision, and the dependencies must
//!   not form a cycle;
//! - the CPU and memory of all containers together are what the instance
//!   has: the totals must fit the vCPU and memory table
//!   (<https://cloud.google.com/run/docs/configuring/services/cpu>).

use std::collections::{BTreeMap, HashSet};

use super::problems::Problems;
use super::spec::ContainerSpec;

pub const MAX_CONTAINERS: usize = 10;
pub const DEPENDENCIES: &str = "run.googleapis.com/container-dependencies";

const FIELD: &str = "spec.template.spec.containers";

/// The container that takes requests: the one with a port (the only
/// container, when there is one).
pub fn ingress(p: &mut Problems, containers: &[ContainerSpec]) -> usize {
    if containers.len() > MAX_CONTAINERS {
        p.add(
            FIELD,
            format!(
                "at most {MAX_CONTAINERS} containers per instance (the ingress container and its sidecars), got {}.",
                containers.len()
            ),
        );
    }
    let with_port: Vec<usize> = (0..containers.len())
        .filter(|&i| !containers[i].ports.is_empty())
        .collect();
    match with_port.as_slice() {
        [one] => *one,
        [] if containers.len() == 1 => 0,
        [] => {
            p.add(
                FIELD,
                "exactly one container must have a port: the ingress container, which takes the requests; none has one.",
            );
            0
        }
        several => {
            let list: Vec<String> = several.iter().map(|i| format!("[{i}]")).collect();
            p.add(
                FIELD,
                format!(
                    "only one container may have a port (the ingress container); containers {} each have one: the others are sidecars, reached on localhost.",
                    list.join(", ")
                ),
            );
            several[0]
        }
    }
}

/// Each container's name: required and unique when there are several,
/// a DNS label (lowercase letters, digits and hyphens, at most 63).
pub fn names(p: &mut Problems, containers: &[ContainerSpec]) -> Vec<Option<String>> {
    let several = containers.len() > 1;
    let mut seen = HashSet::new();
    for (i, c) in containers.iter().enumerate() {
        let field = format!("{FIELD}[{i}].name");
        match c.name.as_deref() {
            None | Some("") if several => p.add(
                &field,
                "Required field is missing: with several containers each one needs a name.",
            ),
            None | Some("") => {}
            Some(name) => {
                let label = name.len() <= 63
                    && name.starts_with(|c: char| c.is_ascii_lowercase())
                    && !name.ends_with('-')
                    && name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
                if !label {
                    p.add(
                        &field,
                        format!("{name:?} is not a valid container name: lowercase letters, digits and hyphens, a letter first."),
                    );
                }
                if !seen.insert(name) {
                    p.add(
                        &field,
                        format!("{name:?} names two containers: container names must be unique."),
                    );
                }
            }
        }
    }
    containers.iter().map(|c| c.name.clone()).collect()
}

/// The dependencies annotation read and checked: for each container
/// index, the names it waits for; and an order that starts every
/// container after its dependencies.
pub fn dependencies(
    p: &mut Problems,
    value: Option<&str>,
    names: &[Option<String>],
) -> (Vec<Vec<String>>, Vec<usize>) {
    let field = format!("spec.template.metadata.annotations[{DEPENDENCIES}]");
    let mut waits: Vec<Vec<String>> = vec![Vec::new(); names.len()];
    let index = |name: &str| names.iter().position(|n| n.as_deref() == Some(name));
    if let Some(value) = value {
        match serde_json::from_str::<BTreeMap<String, Vec<String>>>(value) {
            Err(_) => p.add(
                &field,
                format!("{value:?} is not a JSON object from a container's name to the names it depends on, e.g. {{\"gate\":[\"app\"]}}."),
            ),
            Ok(map) => {
                for (dependent, on) in map {
                    let Some(i) = index(&dependent) else {
                        p.add(&field, format!("{dependent:?} names no container of the revision."));
                        continue;
                    };
                    for name in on {
                        if index(&name).is_none() {
                            p.add(
                                &field,
                                format!("{dependent:?} depends on {name:?}, which names no container of the revision."),
                            );
                        } else if !waits[i].contains(&name) {
                            waits[i].push(name);
                        }
                    }
                }
            }
        }
    }
    let order = start_order(&waits, &index);
    if order.len() < names.len() {
        let stuck: Vec<String> = (0..names.len())
            .filter(|i| !order.contains(i))
            .map(|i| names[i].clone().unwrap_or_default())
            .collect();
        p.add(
            &field,
            format!(
                "the dependencies form a cycle among {}: no container of it could ever start.",
                stuck.join(", ")
            ),
        );
    }
    (waits, order)
}

/// Kahn's order, the definition's order among the ready ones; a
/// container in a cycle never becomes ready and is left out.
fn start_order(waits: &[Vec<String>], index: &dyn Fn(&str) -> Option<usize>) -> Vec<usize> {
    let mut order = Vec::new();
    while order.len() < waits.len() {
        let next = (0..waits.len()).find(|i| {
            !order.contains(i)
                && waits[*i]
                    .iter()
                    .all(|n| index(n).is_none_or(|j| order.contains(&j)))
        });
        match next {
            Some(i) => order.push(i),
            None => break,
        }
    }
    order
}

#[cfg(test)]
#[path = "containers_tests.rs"]
mod tests;
