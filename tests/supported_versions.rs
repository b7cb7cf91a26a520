//! One list of supported CPython versions: build.rs's `KNOWN_MINORS` (plus
//! 2.7). Every other place that lists them must agree: the layout files and
//! their `cfg` dispatch, the versions ci/test.sh runs, django_env.sh's
//! Django table, and the README's statement.

use std::collections::BTreeSet;
use std::path::Path;

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// "3.6", "3.7", ... and "2.7", as build.rs lists them.
fn supported() -> BTreeSet<String> {
    let build = read("build.rs");
    let line = build
        .lines()
        .find(|l| l.starts_with("const KNOWN_MINORS"))
        .expect("build.rs has KNOWN_MINORS");
    let list = line
        .split("= &[")
        .nth(1)
        .unwrap()
        .split(']')
        .next()
        .unwrap();
    let mut versions: BTreeSet<String> =
        list.split(',').map(|m| format!("3.{}", m.trim())).collect();
    versions.insert("2.7".to_string());
    versions
}

fn version_key(v: &str) -> (u32, u32) {
    let (a, b) = v.split_once('.').unwrap();
    (a.parse().unwrap(), b.parse().unwrap())
}

#[test]
fn layout_files_match() {
    let files: BTreeSet<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ffi/layout"))
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().into_string().unwrap();
                let stem = name.strip_prefix("py")?.strip_suffix(".rs")?.to_string();
                Some(stem.replace('_', "."))
            })
            .collect();
    assert_eq!(files, supported());
    let dispatch = read("src/ffi/layout/mod.rs");
    for version in supported() {
        let cfg = format!("#[cfg(py_{})]", version.replace('.', "_"));
        assert!(
            dispatch.contains(&cfg),
            "layout/mod.rs does not select {version}"
        );
    }
}

#[test]
fn ci_runs_every_version() {
    let script = read("ci/test.sh");
    let mut listed = BTreeSet::new();
    for name in ["pyenv_minors=(", "sid_minors=("] {
        let start = script
            .find(name)
            .unwrap_or_else(|| panic!("ci/test.sh has no {name}"))
            + name.len();
        let end = start + script[start..].find(')').unwrap();
        listed.extend(script[start..end].split_whitespace().map(str::to_string));
    }
    assert_eq!(listed, supported());
}

#[test]
fn django_env_knows_every_version() {
    let script = read("ci/django_env.sh");
    for version in supported() {
        let known = script
            .lines()
            .filter(|l| l.trim_end().ends_with(";;") && l.contains(')'))
            .any(|l| {
                l.split(')')
                    .next()
                    .unwrap()
                    .split('|')
                    .any(|v| v.trim() == version)
            });
        assert!(known, "ci/django_env.sh has no Django series for {version}");
    }
}

#[test]
fn readme_states_the_range() {
    let versions = supported();
    let mut threes: Vec<&String> = versions.iter().filter(|v| v.starts_with("3.")).collect();
    threes.sort_by_key(|v| version_key(v));
    let statement = format!(
        "CPython 2.7 and {} to {}",
        threes[0],
        threes[threes.len() - 1]
    );
    let readme = read("README.md")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        readme.contains(&statement),
        "the README does not say \"{statement}\""
    );
}
