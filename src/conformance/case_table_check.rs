//! The case table in `__conformance_cases!` (in `mod.rs`) is written by
//! hand. These checks fail when a case of this folder is missing from it,
//! which would leave the case silently never run, and when the table names
//! something that is not a case.

use std::collections::BTreeSet;
use std::path::Path;

use super::run::cases;

/// The public async functions of this folder that are not cases.
const RUNNERS: [&str; 2] = ["run_all", "run_all_with"];

/// Every `pub async fn` of the folder's source files, the runners aside.
/// The folder is read whole, so that cases in a new file count too.
fn cases_in_source() -> BTreeSet<String> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/conformance");
    let mut found = BTreeSet::new();
    for entry in std::fs::read_dir(&folder).expect("the conformance folder") {
        let path = entry.expect("an entry of the conformance folder").path();
        if path.extension().is_some_and(|ext| ext == "rs") {
            let source = std::fs::read_to_string(&path).expect("a source file");
            found.extend(public_async_fns(&source));
        }
    }
    found.retain(|name| !RUNNERS.contains(&name.as_str()));
    found
}

fn public_async_fns(source: &str) -> Vec<String> {
    source
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("pub async fn "))
        .filter_map(|rest| {
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))?;
            Some(rest[..end].to_owned())
        })
        .collect()
}

fn cases_in_table() -> Vec<String> {
    cases().iter().map(|case| case.name.to_owned()).collect()
}

#[test]
fn every_case_is_in_the_table() {
    let table: BTreeSet<String> = cases_in_table().into_iter().collect();
    let missing: Vec<String> = cases_in_source().difference(&table).cloned().collect();
    assert!(
        missing.is_empty(),
        "cases missing from the table in `__conformance_cases!` (conformance/mod.rs), \
         so that no backend runs them: {missing:?}"
    );
}

#[test]
fn every_table_entry_is_a_case_of_the_folder() {
    let source = cases_in_source();
    let unknown: Vec<String> = cases_in_table()
        .into_iter()
        .filter(|name| !source.contains(name))
        .collect();
    assert!(
        unknown.is_empty(),
        "the table names what is no `pub async fn` case of conformance/: {unknown:?}"
    );
}

#[test]
fn no_case_is_in_the_table_twice() {
    let mut seen = BTreeSet::new();
    let twice: Vec<String> = cases_in_table()
        .into_iter()
        .filter(|name| !seen.insert(name.clone()))
        .collect();
    assert!(twice.is_empty(), "listed twice: {twice:?}");
}
