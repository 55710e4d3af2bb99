//! The crate's dependencies run one way: signing primitives at the bottom,
//! then the model, the stores, the `Webhooks` facade, and the dispatcher and
//! HTTP layers on top. This test reads the sources and fails on an import
//! that points up a layer or closes a cycle between top-level modules.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Every top-level module, lowest layer first. A module may import modules
/// of its own layer or below, never above; within a layer, imports must not
/// form a cycle.
const LAYERS: &[&[&str]] = &[
    &["error", "signing", "clock", "id", "retry"],
    &["model"],
    &["store"],
    &["webhooks"],
    &["transport", "observer", "dispatcher", "conformance"],
    &["http_api", "telemetry"],
    &["prelude"],
];

/// The module that sits below everything, importing nothing of the crate.
const LEAF: &str = "src/signing/primitives.rs";

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`lib` for src/lib.rs).
fn top_module(path: &Path) -> String {
    let relative = path.strip_prefix(src()).expect("under src");
    let first = relative.components().next().expect("non-empty path");
    let name = first.as_os_str().to_string_lossy();
    name.trim_end_matches(".rs").to_owned()
}

/// Lines of code, without comments: doc links may point anywhere.
fn code_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter(|line| {
        let line = line.trim_start();
        !line.starts_with("//")
    })
}

/// The names the crate root re-exports, with the module each comes from, so
/// `crate::Webhooks` counts as an import of `webhooks`.
fn root_reexports() -> BTreeMap<String, String> {
    let lib = fs::read_to_string(src().join("lib.rs")).expect("lib.rs");
    let code: String = code_lines(&lib).collect::<Vec<_>>().join("\n");
    let mut names = BTreeMap::new();
    for statement in code.split(';') {
        let Some(rest) = statement.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, items)) = rest.split_once("::") else {
            continue;
        };
        for item in items.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
            if item.starts_with(|c: char| c.is_ascii_uppercase()) {
                names.insert(item.to_owned(), module.trim().to_owned());
            }
        }
    }
    names
}

/// The top-level modules `text` names through `crate::`.
fn imports(text: &str, reexports: &BTreeMap<String, String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in code_lines(text) {
        for (index, _) in line.match_indices("crate::") {
            if line[..index].ends_with('$') {
                continue; // `$crate::` in a macro names the user's view of us.
            }
            let rest = &line[index + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let module = reexports.get(&name).cloned().unwrap_or(name);
            if !module.is_empty() {
                found.insert(module);
            }
        }
    }
    found
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// Top-level module → the top-level modules it imports.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let reexports = root_reexports();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let from = top_module(&file);
        let text = fs::read_to_string(&file).expect("source is readable");
        let targets = graph.entry(from.clone()).or_default();
        targets.extend(
            imports(&text, &reexports)
                .into_iter()
                .filter(|m| *m != from),
        );
    }
    graph.remove("lib");
    graph
}

#[test]
fn every_module_has_a_layer() {
    let unplaced: Vec<String> = module_graph()
        .keys()
        .filter(|m| layer_of(m).is_none())
        .cloned()
        .collect();
    assert!(
        unplaced.is_empty(),
        "place these top-level modules in LAYERS (tests/architecture.rs): {unplaced:?}"
    );
}

#[test]
fn no_module_imports_a_higher_layer() {
    let mut upward = Vec::new();
    for (from, targets) in module_graph() {
        for to in targets {
            if let (Some(low), Some(high)) = (layer_of(&from), layer_of(&to))
                && high > low
            {
                upward.push(format!("{from} -> {to}"));
            }
        }
    }
    assert!(upward.is_empty(), "imports pointing up a layer: {upward:?}");
}

#[test]
fn top_level_modules_form_no_cycle() {
    let graph = module_graph();
    let mut done = BTreeSet::new();
    for start in graph.keys() {
        let mut path = Vec::new();
        if let Some(cycle) = find_cycle(&graph, start, &mut path, &mut done) {
            panic!("import cycle: {}", cycle.join(" -> "));
        }
    }
}

fn find_cycle(
    graph: &BTreeMap<String, BTreeSet<String>>,
    node: &str,
    path: &mut Vec<String>,
    done: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    if let Some(at) = path.iter().position(|n| n == node) {
        let mut cycle = path[at..].to_vec();
        cycle.push(node.to_owned());
        return Some(cycle);
    }
    if done.contains(node) {
        return None;
    }
    path.push(node.to_owned());
    for next in graph.get(node).into_iter().flatten() {
        if let Some(cycle) = find_cycle(graph, next, path, done) {
            return Some(cycle);
        }
    }
    path.pop();
    done.insert(node.to_owned());
    None
}

#[test]
fn signing_primitives_import_nothing_of_ours() {
    let text = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(LEAF))
        .expect("the primitives exist");
    let ours: Vec<&str> = code_lines(&text)
        .filter(|line| line.contains("crate::") || line.contains("super::"))
        .filter(|line| !line.contains("use super::*")) // its own unit tests
        .collect();
    assert!(ours.is_empty(), "{LEAF} must stay a leaf: {ours:?}");
}
