//! The layers of `src/` (README "Layout"): arrows only point down. Each layer folder may name
//! (`crate::…`) only the layers below it, and nothing in a layer folder names the wiring on
//! top (`cli`, `commands`, `main`). Comments are not imports and are skipped.
//!
//!   core   → (nothing)
//!   state  → core
//!   report → core, state
//!   act    → core, state, report

use std::path::{Path, PathBuf};

/// Each layer and the layers it may use (itself included).
const ALLOWED: [(&str, &[&str]); 4] = [
    ("core", &["core"]),
    ("state", &["core", "state"]),
    ("report", &["core", "state", "report"]),
    ("act", &["core", "state", "report", "act"]),
];

/// The top-level names a `crate::` path may start with.
const TOP: [&str; 7] = ["core", "state", "report", "act", "cli", "commands", "main"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `crate::NAME` in the code of `text` (comment lines skipped), with its line number.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        let code = code.split("//").next().unwrap_or_default();
        for (at, _) in code.match_indices("crate::") {
            let rest = &code[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `$crate::` in macros names this crate too; `crate::{a, b}` groups are not used.
            out.push((i + 1, name));
        }
    }
    out
}

/// The layer violations in `src/`, one line each (`file:line: layer -> name`).
fn violations(src: &Path) -> Vec<String> {
    let mut bad = Vec::new();
    for (layer, allowed) in ALLOWED {
        let mut files = Vec::new();
        rust_files(&src.join(layer), &mut files);
        assert!(!files.is_empty(), "src/{layer}/ has no Rust files");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (line, name) in crate_paths(&text) {
                if !allowed.contains(&name.as_str()) {
                    bad.push(format!("{}:{line}: {layer} -> {name}", file.display()));
                }
            }
        }
    }
    bad
}

#[test]
fn layers_only_import_downward() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let bad = violations(&src);
    assert!(
        bad.is_empty(),
        "imports that point up or sideways (README \"Layout\"):\n{}",
        bad.join("\n")
    );
}

#[test]
fn every_crate_path_starts_at_a_known_top_level_module() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (line, name) in crate_paths(&text) {
            assert!(
                TOP.contains(&name.as_str()),
                "{}:{line}: crate::{name} is not one of the layers {TOP:?}; add the module to a layer folder (or to this list and ALLOWED)",
                file.display()
            );
        }
    }
}

#[test]
fn the_check_catches_an_upward_import() {
    let tmp = tempfile::tempdir().unwrap();
    for layer in ["core", "state", "report", "act"] {
        std::fs::create_dir(tmp.path().join(layer)).unwrap();
        std::fs::write(tmp.path().join(layer).join("mod.rs"), "//! ok\n").unwrap();
    }
    std::fs::write(
        tmp.path().join("state").join("bad.rs"),
        "// crate::cli in a comment is fine\nuse crate::report::utc;\nfn f() { crate::cli::x(); }\n",
    )
    .unwrap();
    let bad = violations(tmp.path());
    assert_eq!(bad.len(), 2, "{bad:?}");
    assert!(bad[0].ends_with(":2: state -> report"), "{bad:?}");
    assert!(bad[1].ends_with(":3: state -> cli"), "{bad:?}");
}
