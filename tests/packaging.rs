//! One place for the repository's address and the version: Cargo.toml's `repository` and
//! `version`. Every other reference (action.yml, the README, the CI example, the npm packages,
//! binstall, the release workflow) must agree with it, and the release asset names and targets
//! must be the same everywhere they are spelled.

mod common;

use std::collections::BTreeSet;

use serde_json::Value;

fn read(path: &str) -> String {
    std::fs::read_to_string(common::root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `key = "value"` from Cargo.toml's [package] table.
fn manifest(key: &str) -> String {
    let text = read("Cargo.toml");
    let package = text
        .split("\n[")
        .find(|t| t.starts_with("[package]") || t.starts_with("package]"))
        .expect("[package]");
    package
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{key} = \""))
                .and_then(|v| v.strip_suffix('"'))
        })
        .unwrap_or_else(|| panic!("no {key} in [package]"))
        .to_owned()
}

/// `OWNER/claude-guard`, from Cargo.toml's repository URL.
fn slug() -> String {
    manifest("repository")
        .strip_prefix("https://github.com/")
        .expect("a GitHub repository")
        .to_owned()
}

fn yaml(path: &str) -> Value {
    serde_yaml_ng::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every `<owner>/claude-guard…` that names the repository: after `github.com/`, or before
/// `@<ref>` as in `uses: <owner>/claude-guard@v1`.
fn repository_mentions(text: &str) -> Vec<String> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    let mut found = Vec::new();
    for (i, _) in text.match_indices("github.com/") {
        let rest = &text[i + "github.com/".len()..];
        let owner: String = rest.chars().take_while(|&c| is_name(c)).collect();
        let name: String = rest[owner.len()..]
            .strip_prefix('/')
            .unwrap_or("")
            .chars()
            .take_while(|&c| is_name(c))
            .collect();
        let name = name.trim_end_matches(".git");
        if name.starts_with("claude-guard") {
            found.push(format!("{owner}/{name}"));
        }
    }
    for (i, _) in text.match_indices("/claude-guard@") {
        let owner: String = text[..i]
            .chars()
            .rev()
            .take_while(|&c| is_name(c))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        found.push(format!("{owner}/claude-guard"));
    }
    found
}

#[test]
fn every_reference_to_the_repository_is_cargo_tomls() {
    let slug = slug();
    assert!(slug.ends_with("/claude-guard"), "{slug}");
    let mut checked = 0;
    for path in [
        "README.md",
        "action.yml",
        "examples/github-actions.yml",
        "npm/claude-guard/package.json",
        "npm/claude-guard/README.md",
        ".github/workflows/release.yml",
        ".github/workflows/ci.yml",
    ] {
        for mention in repository_mentions(&read(path)) {
            assert_eq!(
                mention, slug,
                "{path} names {mention}; Cargo.toml's repository is {slug}"
            );
            checked += 1;
        }
    }
    // The action's usage, the README's install sections and the CI example name it.
    assert!(checked >= 4, "only {checked} mentions found");
}

#[test]
fn the_npm_packages_follow_cargo_toml() {
    let version = manifest("version");
    let pkg: Value = serde_json::from_str(&read("npm/claude-guard/package.json")).unwrap();
    assert_eq!(pkg["name"], "claude-guard");
    assert_eq!(pkg["version"], version.as_str());
    assert_eq!(pkg["license"], manifest("license").as_str());
    assert_eq!(
        pkg["repository"]["url"],
        format!("git+{}.git", manifest("repository"))
    );
    // The one install script puts the platform package's binary in place of the launcher:
    // local files only, never a download.
    assert_eq!(
        pkg["scripts"],
        serde_json::json!({"postinstall": "node install.js"}),
        "{pkg}"
    );
    let install = read("npm/claude-guard/install.js");
    for network in [
        "http",
        "fetch",
        "require('net')",
        "require('dns')",
        "require('tls')",
    ] {
        assert!(
            !install.contains(network),
            "install.js must not reach the network: {network}"
        );
    }
    let optional = pkg["optionalDependencies"].as_object().unwrap();
    for (name, v) in optional {
        assert_eq!(v, version.as_str(), "{name} pinned to the same version");
    }
    let optional: BTreeSet<String> = optional.keys().cloned().collect();

    // The launcher and install.js resolve exactly those packages.
    let launcher = read("npm/claude-guard/lib/platform.js");
    let resolved: BTreeSet<String> = launcher
        .split('\'')
        .filter(|s| s.starts_with("@claude-guard/"))
        .map(str::to_owned)
        .collect();
    assert_eq!(resolved, optional);

    // scripts/npm-package makes one for each release target.
    let npm_package = read("scripts/npm-package");
    for target in release_targets() {
        assert!(
            npm_package.contains(&target),
            "scripts/npm-package: {target}"
        );
    }
    assert_eq!(optional.len(), release_targets().len());
}

/// The targets of the release workflow's build matrix.
fn release_targets() -> BTreeSet<String> {
    let release = yaml(".github/workflows/release.yml");
    release["jobs"]["build"]["strategy"]["matrix"]["include"]
        .as_array()
        .expect("release.yml: build matrix")
        .iter()
        .map(|e| e["target"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn release_assets_are_named_alike_everywhere() {
    let targets = release_targets();
    let want: BTreeSet<String> = [
        "x86_64-unknown-linux-gnu",
        "aarch64-unknown-linux-gnu",
        "x86_64-apple-darwin",
        "aarch64-apple-darwin",
    ]
    .map(String::from)
    .into();
    assert_eq!(targets, want);

    // The workflow packs claude-guard-<target>.tar.gz (+ .sha256) for tag v<version>.
    let release = read(".github/workflows/release.yml");
    assert!(release.contains(r#"asset="claude-guard-$TARGET.tar.gz""#));
    assert!(release.contains(r#"shasum -a 256 "$asset" > "$asset.sha256""#));
    assert!(release.contains(r#"[ "$TAG" != "v$version" ]"#));
    // action.yml's install step downloads the same names for every target.
    let install = read("scripts/action/install");
    assert!(install.contains(r#"asset="claude-guard-$target.tar.gz""#));
    assert!(install.contains(r#"/v$version/$asset""#));
    assert!(install.contains(r#""$url.sha256""#));
    for target in &targets {
        assert!(install.contains(&format!("target={target}")), "{target}");
    }
    // cargo binstall, from [package.metadata.binstall].
    let cargo = read("Cargo.toml");
    assert!(cargo.contains(
        r#"pkg-url = "{ repo }/releases/download/v{ version }/claude-guard-{ target }.tar.gz""#
    ));
}

#[test]
fn the_package_is_named_apart_from_its_command() {
    // The crate name claude-guard on crates.io is another project's; the command is ours.
    assert_eq!(manifest("name"), "claude-plan-guard");
    let cargo = read("Cargo.toml");
    assert!(cargo.contains("[[bin]]\nname = \"claude-guard\""));
    let out = common::Guard::new().args(["--version"]).run();
    assert_eq!(
        out.stdout.trim(),
        format!("claude-guard {}", manifest("version"))
    );
    // The README tells cargo users the package name.
    let readme = read("README.md");
    assert!(readme.contains("cargo install --locked claude-plan-guard"));
    assert!(readme.contains("cargo binstall claude-plan-guard"));
}
