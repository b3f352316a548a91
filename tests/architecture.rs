//! The map in ARCHITECTURE.md and the code agree: every import runs down
//! the declared layers, no module is left out, no modules form a cycle,
//! and the tree stays shaped by its layers. The checks are the shared
//! tools beside the project (`../shared/tools`); a missing tool fails.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tool(name: &str) -> PathBuf {
    let p = root().join("../shared/tools").join(name);
    assert!(
        p.exists(),
        "{} is missing: the architecture checks need ../shared/tools beside the project",
        p.display()
    );
    p
}

fn run(args: &[&Path]) -> (bool, String) {
    let out = Command::new("python3")
        .args(args)
        .current_dir(root())
        .output()
        .expect("python3 runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn imports_run_down_the_declared_layers() {
    let (ok, text) = run(&[
        &tool("layers.py"),
        Path::new("ARCHITECTURE.md"),
        Path::new("src"),
    ]);
    assert!(ok, "layers.py:\n{text}");
    assert!(text.contains("every import runs down"), "{text}");
}

#[test]
fn no_module_cycles() {
    let (ok, text) = run(&[&tool("module_cycles.py"), Path::new("src")]);
    assert!(ok, "module_cycles.py:\n{text}");
    assert!(text.to_lowercase().contains("no module cycles"), "{text}");
}

/// The folders are the layers: few files at the top, none too long to
/// read (test modules aside).
#[test]
fn the_tree_is_shaped_by_its_layers() {
    let top = std::fs::read_dir(root().join("src"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "rs"))
        .count();
    assert!(top <= 10, "{top} .rs files directly in src/");
    let mut long = Vec::new();
    let mut stack = vec![root().join("src")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()) {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs")
                && p.file_name().is_some_and(|n| n != "tests.rs")
            {
                let text = std::fs::read_to_string(&p).unwrap();
                let before_tests = text.split("#[cfg(test)]").next().unwrap_or("");
                let lines = before_tests.lines().count();
                if lines > 500 {
                    long.push(format!("{} ({lines} lines)", p.display()));
                }
            }
        }
    }
    assert!(long.is_empty(), "over 500 lines before tests: {long:?}");
}
