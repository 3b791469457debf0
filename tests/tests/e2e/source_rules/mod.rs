//! Rules the workspace's sources keep, checked by reading them.
//!
//! - No module cycles between files, in any crate of the workspace: two
//!   modules that each use the other are one concern spread over two files,
//!   or a shared item in the wrong place (`module_graph` says what counts as
//!   a reference, and why a parent and its children are not counted).
//! - Sources and docs speak of what the product does, never of our issue
//!   tracker's numbers (`issue` and a number, `(#` and a number); a line
//!   that links to an issue or pull request of another project by its URL
//!   may cite it.

mod module_graph;
mod rust_source;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use module_graph::ModuleGraph;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
        .to_path_buf()
}

/// The workspace's members, as the root `Cargo.toml` lists them.
fn members(root: &Path) -> Vec<String> {
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("the root manifest");
    let start = manifest.find("members").expect("a members list");
    let list = &manifest[start..];
    let list = &list[list.find('[').expect("[") + 1..list.find(']').expect("]")];
    list.split(',')
        .map(|m| m.trim().trim_matches('"').to_owned())
        .filter(|m| !m.is_empty())
        .collect()
}

#[test]
fn no_two_modules_of_a_crate_depend_on_each_other() {
    let root = workspace_root();
    let members = members(&root);
    assert!(members.len() >= 5, "members: {members:?}");
    let mut cycles = Vec::new();
    for member in &members {
        let src = root.join(member).join("src");
        if !src.is_dir() {
            continue;
        }
        let graph = ModuleGraph::of_crate(&src);
        assert!(!graph.files.is_empty(), "{member}: no sources read");
        for cycle in graph.cycles() {
            let group: Vec<String> = cycle.group.into_iter().collect();
            cycles.push(format!(
                "{member}: {} (all of {} reach each other)",
                graph.describe(&cycle.steps),
                group.join(", ")
            ));
        }
    }
    assert!(
        cycles.is_empty(),
        "module cycles (move the shared item to the module it belongs to):\n{}",
        cycles.join("\n")
    );
}

fn graph_of(files: &[(&str, &str)]) -> ModuleGraph {
    let sources: BTreeMap<String, (PathBuf, String)> = files
        .iter()
        .map(|(path, text)| {
            let module = module_graph::module_path(Path::new(path));
            (module, (PathBuf::from(path), (*text).to_owned()))
        })
        .collect();
    ModuleGraph::of_sources(sources)
}

#[test]
fn a_cycle_through_a_use_tree_is_found_and_named_with_its_lines() {
    let graph = graph_of(&[
        ("lib.rs", "mod cache;\nmod verifier;\nmod keys;\n"),
        (
            "cache.rs",
            "use crate::{keys::Key, verifier::{check, Error as E}};\n",
        ),
        (
            "verifier.rs",
            "// crate::keys is not read here\n\nfn f() { crate::cache::get(); }\n",
        ),
        ("keys.rs", "pub struct Key;\n"),
    ]);
    let cycles = graph.cycles();
    assert_eq!(cycles.len(), 1, "{:?}", graph.edges);
    assert_eq!(
        graph.describe(&cycles[0].steps),
        "cache (cache.rs:1) → verifier (verifier.rs:3) → cache"
    );
}

#[test]
fn parents_children_test_code_and_strings_make_no_cycle() {
    let graph = graph_of(&[
        ("lib.rs", "mod state;\nmod housekeeping;\npub use state::AppState;\n"),
        ("state/mod.rs", "mod readiness;\npub use readiness::Readiness;\n"),
        // A child uses its parent; its parent re-exports it.
        ("state/readiness.rs", "use super::AppState;\nuse crate::state::X;\n"),
        (
            "housekeeping.rs",
            "use crate::state::Readiness;\nconst S: &str = \"crate::housekeeping\";\n",
        ),
        // Only test code refers back.
        (
            "state/tests.rs",
            "use crate::housekeeping::run;\n",
        ),
        (
            "state/other.rs",
            "#[cfg(test)]\nmod tests {\n    use crate::housekeeping::run;\n}\n#[cfg(test)]\nuse crate::housekeeping::x;\n",
        ),
    ]);
    let mut with_tests = graph.edges.clone();
    with_tests.retain(|_, targets| !targets.is_empty());
    assert!(graph.cycles().is_empty(), "{with_tests:?}");
    assert!(
        graph.edges["housekeeping"].contains_key("state"),
        "{:?}",
        graph.edges
    );
    // `state/tests.rs` is not declared as test code here, so it counts.
    assert!(graph.edges.contains_key("state::tests"));
}

#[test]
fn super_in_an_inline_module_is_its_file_s_module() {
    let graph = graph_of(&[
        ("lib.rs", "mod a;\nmod b;\n"),
        (
            "a.rs",
            "mod inner {\n    use super::Thing;\n}\npub struct Thing;\n",
        ),
        ("b.rs", "use crate::a::Thing;\n"),
    ]);
    assert!(!graph.edges.contains_key("a"), "{:?}", graph.edges);
}

/// Where a line cites one of our issues by number (`issue`, or `issues`,
/// then a number with or without `#`, or `(#` and a number and `)`);
/// `None` when it does not, or when the line links to another project's
/// issue or pull request.
fn cites_an_issue_number(line: &str) -> Option<String> {
    if line.contains("://") && (line.contains("/issues/") || line.contains("/pull/")) {
        return None;
    }
    let lower = line.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let number_at = |mut i: usize| {
        while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b'#') {
            i += 1;
        }
        i < bytes.len() && bytes[i].is_ascii_digit()
    };
    for (at, _) in lower.match_indices("issue") {
        let starts_word = at == 0 || !bytes[at - 1].is_ascii_alphanumeric();
        let mut after = at + "issue".len();
        if bytes.get(after) == Some(&b's') {
            after += 1;
        }
        let spaced = matches!(bytes.get(after), Some(b' ' | b'#'));
        if starts_word && spaced && number_at(after) {
            return Some(line[at..].chars().take(20).collect());
        }
    }
    // A pull request as a commit subject cites it (`(#` and a number and
    // `)`), not a page's anchor such as `(#5-rotating-keys)`.
    for (at, _) in lower.match_indices("(#") {
        let digits = bytes[at + 2..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits > 0 && bytes.get(at + 2 + digits) == Some(&b')') {
            return Some(line[at..].chars().take(20).collect());
        }
    }
    None
}

/// The workspace's text files: sources, docs, scripts and manifests.
fn text_files(root: &Path) -> Vec<PathBuf> {
    const SKIP: [&str; 6] = [
        "target",
        ".git",
        "node_modules",
        "artifacts",
        "out",
        "__pycache__",
    ];
    const EXTENSIONS: [&str; 11] = [
        "rs",
        "md",
        "toml",
        "sh",
        "py",
        "yaml",
        "yml",
        "html",
        "js",
        "txt",
        "Dockerfile",
    ];
    let mut files = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}")) {
            let path = entry.expect("a directory entry").path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            let name = name.unwrap_or_default();
            if path.is_dir() {
                if !SKIP.contains(&name.as_str()) && !name.starts_with("target") {
                    dirs.push(path);
                }
            } else if EXTENSIONS
                .iter()
                .any(|e| name.ends_with(&format!(".{e}")) || name == *e)
            {
                files.push(path);
            }
        }
    }
    files
}

#[test]
fn sources_and_docs_speak_of_the_product_not_of_issue_numbers() {
    let root = workspace_root();
    let files = text_files(&root);
    assert!(files.len() > 100, "only {} files read", files.len());
    let mut found = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            if let Some(citation) = cites_an_issue_number(line) {
                let shown = file.strip_prefix(&root).unwrap_or(&file).display();
                found.push(format!("{shown}:{}: {citation}", n + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "say what the product does instead of citing an issue:\n{}",
        found.join("\n")
    );
}

#[test]
fn an_issue_number_is_found_but_an_upstream_link_and_issuers_are_not() {
    let number = 15;
    for cited in [
        format!("## Handoff binding (issue {number})"),
        format!("fixed in Issues #{number}"),
        format!("- split the settings (#{number})"),
    ] {
        assert!(cites_an_issue_number(&cited).is_some(), "{cited}");
    }
    for fine in [
        format!("([oauth2-proxy#{number}](https://github.com/oauth2-proxy/oauth2-proxy/issues/{number}))"),
        format!("the issuer {number} times"),
        format!("PKCS#{number} and [Rotating keys](#{number}-rotating-keys)"),
        "tokens issued 15 minutes ago are renewed".to_owned(),
    ] {
        assert_eq!(cites_an_issue_number(&fine), None, "{fine}");
    }
}
