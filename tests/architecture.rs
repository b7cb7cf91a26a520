//! The README's architecture table is the code's: every module may use only
//! the modules its row lists (and `error`, which every module may use).
//! A new edge fails this test until the table says so, so the picture a
//! newcomer reads cannot drift from the imports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The crate's top-level modules (files and folders of `src/`).
fn crate_modules() -> BTreeSet<String> {
    std::fs::read_dir(crate_dir().join("src"))
        .expect("src/ is readable")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let name = path.file_stem()?.to_str()?.to_string();
            let is_module = path.is_dir() || path.extension().is_some_and(|e| e == "rs");
            (is_module && name != "lib").then_some(name)
        })
        .collect()
}

/// One row of the table: the paths it covers and the modules they may use.
struct Row {
    paths: Vec<String>,
    may_use: BTreeSet<String>,
    everything: bool,
}

/// The rows of the README's architecture table.
fn table_rows(modules: &BTreeSet<String>) -> Vec<Row> {
    let readme = std::fs::read_to_string(crate_dir().join("README.md")).expect("README.md");
    let section = readme
        .split("\nArchitecture\n")
        .nth(1)
        .expect("the README has an Architecture section");
    let mut rows = Vec::new();
    for line in section.lines().skip_while(|l| !l.starts_with('|')) {
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() < 3 || cells[0] == "module" || cells[0].starts_with("---") {
            continue;
        }
        let paths: Vec<String> = cells[0]
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect();
        // "may use" lists module names; anything in brackets is commentary.
        let mut allowed = String::new();
        let mut depth = 0;
        for c in cells[2].chars() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ if depth == 0 => allowed.push(c),
                _ => {}
            }
        }
        let may_use = allowed
            .split([',', ' '])
            .map(|w| w.trim_matches('`'))
            .filter(|w| modules.contains(*w))
            .map(str::to_string)
            .collect();
        rows.push(Row {
            paths,
            may_use,
            everything: cells[2].contains("everything"),
        });
    }
    rows
}

/// The module a path of the table stands for (`src/ffi/` -> `ffi`,
/// `src/main.rs` -> `main`), or None for paths outside `src/`.
fn module_of(path: &str) -> Option<String> {
    let rest = path.strip_prefix("src/")?;
    let name = rest.trim_end_matches('/').trim_end_matches(".rs");
    (!name.contains('/')).then(|| name.to_string())
}

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap().flatten() {
            rust_files(&entry.path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

/// The crate modules `module`'s code names (`crate::x`, or
/// `pyinstrument::x` from the binary), comments left out.
fn modules_used(module: &str, modules: &BTreeSet<String>) -> BTreeMap<String, String> {
    let src = crate_dir().join("src");
    let mut files = Vec::new();
    let dir = src.join(module);
    if dir.is_dir() {
        rust_files(&dir, &mut files);
    }
    let file = src.join(format!("{module}.rs"));
    if file.is_file() {
        files.push(file);
    }
    let mut used = BTreeMap::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        // Unit tests (a `#[cfg(test)]` module at the end) may use more.
        let lines = text.lines().take_while(|l| l.trim() != "#[cfg(test)]");
        for (number, line) in lines.enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for prefix in ["crate::", "pyinstrument::"] {
                for (at, _) in code.match_indices(prefix) {
                    let name: String = code[at + prefix.len()..]
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if modules.contains(&name) && name != module {
                        used.entry(name)
                            .or_insert_with(|| format!("{}:{}", file.display(), number + 1));
                    }
                }
            }
        }
    }
    used
}

#[test]
fn every_import_is_in_the_readme_table() {
    let modules = crate_modules();
    let rows = table_rows(&modules);
    assert!(!rows.is_empty(), "no rows read from the README's table");
    let mut covered = BTreeSet::new();
    let mut problems = Vec::new();
    for row in &rows {
        // A listed edge no module of the row uses is stale.
        let mut row_uses = BTreeSet::new();
        for path in &row.paths {
            if let Some(module) = module_of(path) {
                row_uses.extend(modules_used(&module, &modules).into_keys());
            }
        }
        for listed in &row.may_use {
            if !row.everything && !row_uses.contains(listed) {
                problems.push(format!(
                    "the row of {:?} lists {listed}, which none of them uses",
                    row.paths
                ));
            }
        }
        for path in &row.paths {
            let Some(module) = module_of(path) else {
                continue;
            };
            covered.insert(module.clone());
            if row.everything {
                continue;
            }
            for (used, place) in modules_used(&module, &modules) {
                if used != "error" && !row.may_use.contains(&used) {
                    problems.push(format!(
                        "{module} uses {used} ({place}), which its row does not list"
                    ));
                }
            }
        }
    }
    for module in &modules {
        if !covered.contains(module) && module != "error" {
            problems.push(format!("src/{module} has no row in the table"));
        }
    }
    assert!(
        problems.is_empty(),
        "the README's architecture table is out of date:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_table_reader_sees_a_known_edge() {
    // Guards the test above against reading nothing: the runner's row
    // names ffi, and the runner does use it.
    let modules = crate_modules();
    let rows = table_rows(&modules);
    let runner = rows
        .iter()
        .find(|row| row.paths.iter().any(|p| p == "src/runner/"))
        .expect("a row for src/runner/");
    assert!(runner.may_use.contains("ffi"));
    assert!(modules_used("runner", &modules).contains_key("ffi"));
}
