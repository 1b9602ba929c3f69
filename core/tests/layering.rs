//! The module layering the architecture promises (docs/architecture.md): no import cycle among
//! core's top-level modules, the leaf modules import none of the components, and monitoring is
//! never imported by the server. A `use crate::...` that breaks it fails here, naming the edge.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Modules that may import only each other (and the standard library and crates).
const LEAVES: &[&str] = &[
    "ids",
    "log",
    "rng",
    "time",
    "subject",
    "sublist",
    "proto",
    "auth",
    "outbound",
    "read_size",
];

/// Every `crate::<module>` a top-level module mentions outside its tests, by module.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable source directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(&root).expect("under src");
            let first = relative.components().next().expect("a component");
            let module = first.as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
            if module == "lib" {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("readable source");
            // Unit tests may reach anywhere.
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            let edges = graph.entry(module.clone()).or_default();
            for (at, _) in code.match_indices("crate::") {
                let name: String = code[at + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                let is_module = name.chars().next().is_some_and(|c| c.is_ascii_lowercase());
                if is_module && name != module {
                    edges.insert(name);
                }
            }
        }
    }
    graph
}

/// A cycle through `start`, if there is one.
fn cycle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    fn walk(
        graph: &BTreeMap<String, BTreeSet<String>>,
        start: &str,
        at: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in graph.get(at).into_iter().flatten() {
            if next == start {
                path.push(next.clone());
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(graph, start, next, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_string()];
    walk(graph, start, start, &mut path, &mut BTreeSet::new()).then_some(path)
}

#[test]
fn no_import_cycle_among_core_modules() {
    let graph = imports();
    assert!(
        graph.contains_key("server") && graph.contains_key("monitor"),
        "{graph:?}"
    );
    for module in graph.keys() {
        if let Some(cycle) = cycle_from(&graph, module) {
            panic!("import cycle: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn leaves_import_only_leaves() {
    let graph = imports();
    for leaf in LEAVES {
        for import in graph.get(*leaf).into_iter().flatten() {
            assert!(
                LEAVES.contains(&import.as_str()),
                "the leaf module {leaf} imports {import}"
            );
        }
    }
}

#[test]
fn the_server_never_imports_monitoring() {
    let graph = imports();
    for module in ["server", "account", "conn", "cluster", "config"] {
        assert!(
            !graph
                .get(module)
                .is_some_and(|edges| edges.contains("monitor") || edges.contains("node")),
            "{module} imports {:?}",
            graph.get(module)
        );
    }
}

#[test]
fn the_checker_finds_a_planted_cycle() {
    let mut graph = imports();
    graph
        .entry("sublist".to_string())
        .or_default()
        .insert("server".to_string());
    assert!(cycle_from(&graph, "sublist").is_some());
}
