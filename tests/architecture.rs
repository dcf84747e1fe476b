//! The workspace's layering, checked: every crate depends only on crates below it (the
//! table in docs/architecture.md), the test harness is a dev-dependency only, and no crate
//! has an import cycle between its top-level modules. Run: `cargo test --test architecture`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each crate's layer: a crate may depend on crates of lower layers only.
const LAYERS: &[(&str, u8)] = &[
    ("vigia-core", 0),
    ("vigia-telemetry", 1),
    ("vigia-onvif", 1),
    ("vigia-fleet", 1),
    ("vigia-ingest", 2),
    ("vigia-infer", 2),
    ("vigia-track", 2),
    ("vigia-rules", 2),
    ("vigia-lpr", 2),
    ("vigia-outbox", 2),
    ("vigia-sim", 2),
    ("vigia-plates", 3),
    ("vigia-publish", 3),
    ("vigia-analytics", 4),
    ("vigia", 5),
];

/// Test-only crates: never a normal dependency.
const DEV_ONLY: &[&str] = &["vigia-testkit"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn manifest(dir: &Path) -> toml::Table {
    let text = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    text.parse().unwrap()
}

fn deps(m: &toml::Table, section: &str) -> Vec<String> {
    m.get(section)
        .and_then(|d| d.as_table())
        .map(|t| {
            t.keys()
                .filter(|k| k.starts_with("vigia"))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

fn crates() -> Vec<(String, PathBuf)> {
    let mut out = vec![("vigia".to_string(), root())];
    for e in std::fs::read_dir(root().join("crates")).unwrap() {
        let dir = e.unwrap().path();
        let m = manifest(&dir);
        let name = m["package"]["name"].as_str().unwrap().to_string();
        out.push((name, dir));
    }
    out.sort();
    out
}

#[test]
fn every_dependency_points_down_and_the_harness_is_dev_only() {
    let layer: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    let mut wrong = Vec::new();
    for (name, dir) in crates() {
        if DEV_ONLY.contains(&name.as_str()) {
            continue;
        }
        let Some(&mine) = layer.get(name.as_str()) else {
            wrong.push(format!(
                "{name}: not in the layer table (tests/architecture.rs)"
            ));
            continue;
        };
        for dep in deps(&manifest(&dir), "dependencies") {
            match layer.get(dep.as_str()) {
                _ if DEV_ONLY.contains(&dep.as_str()) => {
                    wrong.push(format!("{name} → {dep}: the test harness is a dev-dependency only"))
                }
                Some(&theirs) if theirs < mine => {}
                Some(&theirs) => wrong.push(format!(
                    "{name} (layer {mine}) → {dep} (layer {theirs}): an arrow that does not point down"
                )),
                None => wrong.push(format!("{name} → {dep}: not in the layer table")),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Top-level module of a source file (`src/node/http.rs` → `node`); `None` for the
/// crate root.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    let m = first.trim_end_matches(".rs").to_string();
    (!matches!(m.as_str(), "lib" | "main")).then_some(m)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Edges `module → module` from `crate::name` paths in each file.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(src, f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let Some(from) = module_of(src, f) else {
            continue;
        };
        let text = std::fs::read_to_string(f).unwrap();
        // Test modules may reach anywhere; only the code itself counts.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let brace = rest.starts_with('{');
            let targets: Vec<String> = if brace {
                let inner = rest[1..].split('}').next().unwrap_or("");
                inner
                    .split(',')
                    .map(|s| s.trim().split("::").next().unwrap_or("").to_string())
                    .collect()
            } else {
                vec![name]
            };
            for t in targets {
                if modules.contains(&t) && t != from {
                    graph.entry(from.clone()).or_default().insert(t);
                }
            }
        }
    }
    graph
}

fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == n) {
            let mut c = path[i..].to_vec();
            c.push(n.to_string());
            return Some(c);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, g, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for n in graph.keys() {
        if let Some(c) = visit(n, graph, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_crate_has_an_import_cycle_between_its_modules() {
    let mut cycles = Vec::new();
    for (name, dir) in crates() {
        if let Some(c) = find_cycle(&module_graph(&dir.join("src"))) {
            cycles.push(format!("{name}: {}", c.join(" → ")));
        }
    }
    assert!(cycles.is_empty(), "{}", cycles.join("\n"));
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let mut g = BTreeMap::new();
    g.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    g.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    assert!(find_cycle(&g).is_some());
    g.insert("b".to_string(), BTreeSet::new());
    assert!(find_cycle(&g).is_none());
}

#[test]
fn the_binary_is_a_thin_shell() {
    // The root holds the command line and the node's wiring; no file over 400 lines.
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).unwrap().lines().count();
            (n > 400).then(|| format!("{} has {n} lines", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "{}", long.join("\n"));
    let mut tops: Vec<String> = files
        .iter()
        .filter_map(|f| module_of(&root().join("src"), f))
        .collect();
    tops.sort();
    tops.dedup();
    assert_eq!(tops, ["cli", "config", "node"]);
}

/// Functions longer than `max` lines (rustfmt layout: a body ends at the `}` with the
/// indentation of its `fn` line), outside test modules.
fn long_functions(file: &Path, max: usize) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .iter()
        .position(|l| l.starts_with("#[cfg(test)]"))
        .unwrap_or(lines.len());
    let mut out = Vec::new();
    for (i, line) in lines[..end].iter().enumerate() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let head = ["pub(crate) ", "pub(super) ", "pub ", ""]
            .iter()
            .find_map(|v| trimmed.strip_prefix(v))
            .unwrap_or(trimmed);
        let head = head.strip_prefix("async ").unwrap_or(head);
        if !head.starts_with("fn ") || line.trim_end().ends_with(';') {
            continue;
        }
        let close = format!("{indent}}}");
        if let Some(len) = lines[i..end].iter().position(|l| *l == close)
            && len + 1 > max
        {
            out.push(format!("{}:{}: {} lines", file.display(), i + 1, len + 1));
        }
    }
    out
}

#[test]
fn no_function_is_longer_than_120_lines() {
    let mut long = Vec::new();
    for (_, dir) in crates() {
        let mut files = Vec::new();
        rust_files(&dir.join("src"), &mut files);
        for f in files {
            long.extend(long_functions(&f, 120));
        }
    }
    assert!(long.is_empty(), "{}", long.join("\n"));
}

#[test]
fn the_length_check_finds_long_functions() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("x.rs");
    let body = "    let x = 1;\n".repeat(125);
    std::fs::write(
        &f,
        format!("pub fn long() {{\n{body}}}\n\nfn short() {{}}\n"),
    )
    .unwrap();
    assert_eq!(long_functions(&f, 120).len(), 1);
    assert!(long_functions(&f, 200).is_empty());
}

#[test]
fn no_function_needs_a_too_many_arguments_allow() {
    let mut found = Vec::new();
    for (_, dir) in crates() {
        let mut files = Vec::new();
        rust_files(&dir.join("src"), &mut files);
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            if text.contains(concat!("clippy::", "too_many_arguments")) {
                found.push(f.display().to_string());
            }
        }
    }
    assert!(found.is_empty(), "{found:?}");
}
