//! Runs a script of `tests/node` under Shopify's real Node libraries (pinned in
//! `tests/node/package-lock.json`; `.ci/run` installs them, and the first test that needs them
//! runs `npm ci` when it has not).

use std::{
    io::Write,
    path::PathBuf,
    process::{Command, Stdio},
    sync::OnceLock,
};

use serde_json::Value;

/// The packages the scripts load; `npm ci` runs when one is missing.
const PACKAGES: [&str; 2] = [
    "@shopify/shopify-api",
    "@shopify/shopify-app-session-storage-redis",
];

fn node_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node")
}

/// Installs the pinned libraries once per test run when `.ci/run` has not.
fn libraries_installed() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let modules = node_dir().join("node_modules");
        if PACKAGES.iter().all(|package| modules.join(package).is_dir()) {
            return;
        }
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(node_dir())
            .status()
            .expect("npm is needed to install Shopify's Node libraries for this test (Node.js 20 or later)");
        assert!(status.success(), "npm ci in tests/node failed: {status}");
    });
}

/// Runs `tests/node/{script}` with `input` as its stdin; its stdout, parsed as JSON, or the
/// error it printed.
pub fn try_run(script: &str, input: &Value) -> Result<Value, String> {
    libraries_installed();
    let mut child = Command::new("node")
        .arg(script)
        .current_dir(node_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node is needed for this test (Node.js 20 or later)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    Ok(serde_json::from_slice(&output.stdout).unwrap())
}

/// As [`try_run`], panicking with Node's error when the script fails.
pub fn run(script: &str, input: &Value) -> Value {
    try_run(script, input).unwrap_or_else(|error| panic!("node {script} failed: {error}"))
}
