//! The graph of references between one crate's source files, and its
//! cycles.
//!
//! A file's module path comes from its place under `src/` (`lib.rs` and
//! `main.rs` are the root, `a/mod.rs` and `a.rs` are `a`, `a/b.rs` is
//! `a::b`). Every `crate::…`, `super::…` and `self::…` path outside test
//! code (a `use` tree's branches each on their own) is an edge from the
//! file to the deepest module file among its leading segments: a reference
//! to `crate::a::b::C` goes to `a::b` if that is a file, else to `a`, else
//! to the root. Code under `#[cfg(test)]`, and the files of modules
//! declared so, are left out. Inline modules (`mod x { … }`) belong to
//! their file, but `super::` inside one is resolved from where it is.
//!
//! A reference between a module and one of its ancestors or descendants is
//! not an edge: a parent declares its children and re-exports their items,
//! and a child uses its parent's through `super::`; that is one module
//! split across files, not two modules depending on each other. Every
//! other pair must depend one way only.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::rust_source::{
    blank_comments_and_literals, inline_modules, is_ident_byte, without_test_items,
};

/// A cycle: each module along it with the line of its file that makes
/// the step, and every module of its group (those that reach each other).
pub struct Cycle {
    pub steps: Vec<(String, usize)>,
    pub group: BTreeSet<String>,
}

/// One module's file and the modules it refers to, each with the first
/// line that does.
pub struct ModuleGraph {
    pub files: BTreeMap<String, PathBuf>,
    pub edges: BTreeMap<String, BTreeMap<String, usize>>,
}

impl ModuleGraph {
    /// The graph of the crate whose sources are under `src` (its binaries
    /// under `src/bin/`, and `main.rs` beside a `lib.rs`, are crates of
    /// their own and left out).
    pub fn of_crate(src: &Path) -> Self {
        let mut sources = BTreeMap::new();
        let has_lib = src.join("lib.rs").exists();
        for path in rust_files(src) {
            let relative = path.strip_prefix(src).expect("a file under src");
            if relative.starts_with("bin") || (has_lib && relative == Path::new("main.rs")) {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            sources.insert(module_path(relative), (path, text));
        }
        Self::of_sources(sources)
    }

    /// The graph of the given module files: module path → (file, text).
    pub fn of_sources(sources: BTreeMap<String, (PathBuf, String)>) -> Self {
        let mut code = BTreeMap::new();
        let mut test_only = BTreeSet::new();
        for (module, (_, text)) in &sources {
            let (kept, test_modules) = without_test_items(&blank_comments_and_literals(text));
            for child in test_modules {
                test_only.insert(join(module, &child));
            }
            code.insert(module.clone(), kept);
        }
        code.retain(|module, _| !test_only.iter().any(|t| is_within(module, t)));
        let modules: BTreeSet<String> = code.keys().cloned().collect();
        let mut edges: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        for (module, text) in &code {
            for (path, line) in references(module, text) {
                let target = deepest_module(&path, &modules);
                if is_within(&target, module) || is_within(module, &target) {
                    continue;
                }
                edges
                    .entry(module.clone())
                    .or_default()
                    .entry(target)
                    .or_insert(line);
            }
        }
        let files = sources
            .into_iter()
            .filter(|(module, _)| modules.contains(module))
            .map(|(module, (path, _))| (module, path))
            .collect();
        Self { files, edges }
    }

    /// One cycle per group of modules that reach each other.
    pub fn cycles(&self) -> Vec<Cycle> {
        let mut seen = BTreeSet::new();
        let mut cycles = Vec::new();
        for start in self.edges.keys() {
            if seen.contains(start) {
                continue;
            }
            if let Some(steps) = self.shortest_path(start, start) {
                let group = self.reaching_each_other(start);
                seen.extend(group.iter().cloned());
                cycles.push(Cycle { steps, group });
            }
        }
        cycles
    }

    fn reaching_each_other(&self, start: &str) -> BTreeSet<String> {
        let reachable = |from: &str| -> BTreeSet<String> {
            let mut found = BTreeSet::new();
            let mut stack = vec![from.to_owned()];
            while let Some(at) = stack.pop() {
                for next in self.edges.get(&at).into_iter().flat_map(|e| e.keys()) {
                    if found.insert(next.clone()) {
                        stack.push(next.clone());
                    }
                }
            }
            found
        };
        reachable(start)
            .into_iter()
            .filter(|m| reachable(m).contains(start))
            .collect()
    }

    /// The shortest way from `from` to `to` of at least one step: each
    /// module left, with the line that leaves it.
    fn shortest_path(&self, from: &str, to: &str) -> Option<Vec<(String, usize)>> {
        let mut came_from: BTreeMap<String, (String, usize)> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([from.to_owned()]);
        while let Some(at) = queue.pop_front() {
            for (next, line) in self.edges.get(&at).into_iter().flatten() {
                if came_from.contains_key(next) {
                    continue;
                }
                came_from.insert(next.clone(), (at.clone(), *line));
                if next == to {
                    let mut steps = Vec::new();
                    let mut step = to.to_owned();
                    loop {
                        let (previous, line) = came_from[&step].clone();
                        steps.push((previous.clone(), line));
                        if previous == from {
                            break;
                        }
                        step = previous;
                    }
                    steps.reverse();
                    return Some(steps);
                }
                queue.push_back(next.clone());
            }
        }
        None
    }

    /// A cycle in words: `a (a.rs:3) → b (b.rs:9) → a`.
    pub fn describe(&self, cycle: &[(String, usize)]) -> String {
        let name = |m: &str| {
            if m.is_empty() {
                "crate".to_owned()
            } else {
                m.to_owned()
            }
        };
        let mut words: Vec<String> = cycle
            .iter()
            .map(|(module, line)| {
                let file = self.files.get(module).map_or_else(String::new, |f| {
                    f.file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
                });
                format!("{} ({file}:{line})", name(module))
            })
            .collect();
        if let Some((first, _)) = cycle.first() {
            words.push(name(first));
        }
        words.join(" → ")
    }
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}")) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// `a/b.rs` → `a::b`; `a/mod.rs` → `a`; `lib.rs` → `` (the root).
pub fn module_path(relative: &Path) -> String {
    let mut segments: Vec<String> = relative
        .with_extension("")
        .iter()
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    if segments.last().is_some_and(|s| s == "mod") {
        segments.pop();
    }
    if segments.len() == 1 && (segments[0] == "lib" || segments[0] == "main") {
        segments.clear();
    }
    segments.join("::")
}

fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else {
        format!("{parent}::{child}")
    }
}

/// `module` is `ancestor` or inside it.
fn is_within(module: &str, ancestor: &str) -> bool {
    ancestor.is_empty() || module == ancestor || module.starts_with(&format!("{ancestor}::"))
}

fn deepest_module(path: &[String], modules: &BTreeSet<String>) -> String {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|m| modules.contains(m))
        .unwrap_or_default()
}

/// Every `crate::`, `super::` and `self::` path in `code` (blanked, test
/// items cut), made absolute, with its line.
fn references(module: &str, code: &str) -> Vec<(Vec<String>, usize)> {
    let inline = inline_modules(code);
    let bytes = code.as_bytes();
    let mut found = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let starts_word = at == 0 || !(is_ident_byte(bytes[at - 1]) || bytes[at - 1] == b'$');
        let keyword = ["crate", "super", "self"]
            .into_iter()
            .find(|k| starts_word && bytes[at..].starts_with(format!("{k}::").as_bytes()));
        let Some(keyword) = keyword else {
            at += 1;
            continue;
        };
        // Where this code is: the file's module and the inline ones around it.
        let mut here: Vec<String> = module
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        here.extend(
            inline
                .iter()
                .filter(|(_, body)| body.contains(&at))
                .map(|(n, _)| n.clone()),
        );
        let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        let (trees, end) = use_tree(code, at + keyword.len() + 2);
        for tree in trees {
            let mut base = if keyword == "crate" {
                Vec::new()
            } else {
                here.clone()
            };
            let mut segments = tree.into_iter().peekable();
            if keyword == "super" {
                base.pop();
            }
            while segments.peek().is_some_and(|s| s == "super") {
                segments.next();
                base.pop();
            }
            base.extend(segments.filter(|s| s != "self"));
            found.push((base, line));
        }
        at = end.max(at + 1);
    }
    found
}

/// The paths a use tree (or a plain path) starting at `at` names, each as
/// its segments, and where it ends: `a::{b, c::{d, e}}` is `a::b`,
/// `a::c::d`, `a::c::e`.
fn use_tree(code: &str, at: usize) -> (Vec<Vec<String>>, usize) {
    let bytes = code.as_bytes();
    let skip_space = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    let mut prefix = Vec::new();
    let mut i = skip_space(at);
    loop {
        let start = i;
        while i < bytes.len() && is_ident_byte(bytes[i]) {
            i += 1;
        }
        if i > start {
            prefix.push(code[start..i].to_owned());
        }
        let next = skip_space(i);
        if bytes[next..].starts_with(b"::") {
            i = skip_space(next + 2);
            if bytes.get(i) == Some(&b'{') {
                return group(code, prefix, i);
            }
            continue;
        }
        // `crate::{…}`: the group comes first.
        if prefix.is_empty() && bytes.get(next) == Some(&b'{') {
            return group(code, prefix, next);
        }
        return (vec![prefix], i);
    }
}

/// The branches of the group `{…}` opening at `open`, each after `prefix`.
fn group(code: &str, prefix: Vec<String>, open: usize) -> (Vec<Vec<String>>, usize) {
    let bytes = code.as_bytes();
    let mut paths = Vec::new();
    let mut i = open + 1;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        match bytes.get(i) {
            Some(b'}') => return (paths, i + 1),
            Some(b',') => i += 1,
            None => return (paths, i),
            _ => {
                let (branches, end) = use_tree(code, i);
                for branch in branches {
                    paths.push(prefix.iter().cloned().chain(branch).collect());
                }
                // Past `as name` and anything else to the next `,` or `}`.
                i = end.max(i + 1);
                while i < bytes.len() && bytes[i] != b',' && bytes[i] != b'}' {
                    i += 1;
                }
            }
        }
    }
}
