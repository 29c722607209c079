//! The web client's own tests, run by the README's one test command: the committed bundle is
//! rebuilt and compared (a stale `web/dist` fails), the JS unit tests (canonical bytes, amounts,
//! HPKE and backup vectors) run under Node.js, and the browser scenarios drive headless Chromium
//! against a real `chit serve` and the `chit` CLI wallet (`web/test/e2e/run.mjs`).
//!
//! Without Node.js, the packages or a browser, outside CI, each part that cannot run says so in
//! one line and the rest of the suite runs; under `CI=true` that is a failure (`.ci/run`
//! installs them).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::CHIT;

fn web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web")
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A part that cannot run here: a note outside CI, a failure under it.
fn missing(what: &str) {
    assert!(!ci(), "CI=true but {what}: .ci/run installs it");
    eprintln!("NOTE: web client tests SKIPPED: {what}");
}

fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs a step of the web tests in `web/`, failing the test with its output if it fails.
fn step(what: &str, args: &[&str], env: &[(&str, &str)]) {
    let out = Command::new("node")
        .args(args)
        .envs(env.iter().copied())
        .current_dir(web_dir())
        .output()
        .unwrap_or_else(|e| panic!("{what}: node did not start: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what} failed:\n{text}");
    eprintln!("{what}: passed");
}

fn chromium() -> Option<String> {
    if let Ok(path) = std::env::var("CHIT_CHROMIUM") {
        return Some(path);
    }
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .map(str::to_owned)
}

#[test]
fn the_web_client_is_current_and_passes_its_unit_and_browser_tests() {
    if !runs("node", &["--version"]) {
        return missing("Node.js is not installed (apt-get install nodejs npm)");
    }
    if !web_dir().join("node_modules").exists() {
        return missing("web/node_modules is missing (npm ci --prefix web)");
    }
    step(
        "web/dist is the build of web/src",
        &["build.mjs", "--check"],
        &[],
    );
    step("web unit tests", &["--test", "test/unit/"], &[]);
    let Some(browser) = chromium() else {
        return missing("no Chromium for the browser tests (apt-get install chromium)");
    };
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-screenshots");
    let shots = shots.to_str().unwrap();
    step(
        "web browser scenarios",
        &["test/e2e/run.mjs"],
        &[
            ("CHIT_BIN", CHIT),
            ("CHIT_CHROMIUM", &browser),
            ("CHIT_SCREENSHOTS", shots),
        ],
    );
}
