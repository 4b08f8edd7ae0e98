//! Builds the UI (`ui/`, Vite) into `ui/dist`, which `src/ui` embeds with rust-embed,
//! whenever a UI source file changed. Runs `npm ci` first when the lock file is newer
//! than the installed packages.
//!
//! Node.js 20+ and npm are required. `SIGHTLINE_SKIP_UI_BUILD=1` skips the build for
//! work that does not touch the UI: the binary then embeds whatever `ui/dist` holds,
//! or a page saying the UI was not built.

use std::path::Path;
use std::process::{exit, Command};

const WATCHED: &[&str] = &[
    "ui/src",
    "ui/index.html",
    "ui/package.json",
    "ui/package-lock.json",
    "ui/vite.config.ts",
    "ui/tsconfig.json",
];

fn main() {
    for path in WATCHED {
        println!("cargo::rerun-if-changed={path}");
    }
    println!("cargo::rerun-if-env-changed=SIGHTLINE_SKIP_UI_BUILD");
    let ui = Path::new("ui");
    if std::env::var_os("SIGHTLINE_SKIP_UI_BUILD").is_some_and(|v| v == "1") {
        write_placeholder(ui);
        return;
    }
    if packages_outdated(ui) {
        run(ui, &["ci", "--no-audit", "--no-fund"]);
    }
    run(ui, &["run", "build"]);
}

/// `npm ci` is needed when nothing is installed or the lock file changed since.
fn packages_outdated(ui: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    match (
        modified(&ui.join("node_modules/.package-lock.json")),
        modified(&ui.join("package-lock.json")),
    ) {
        (Some(installed), Some(lock)) => lock > installed,
        _ => true,
    }
}

fn run(ui: &Path, args: &[&str]) {
    let status = Command::new("npm").args(args).current_dir(ui).status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => {
            eprintln!(
                "`npm {}` in ui/ failed ({s}); see its output above.",
                args.join(" ")
            );
            exit(1);
        }
        Err(e) => {
            eprintln!(
                "Building Sightline's UI needs Node.js 20 or newer and npm, and `npm` could not be run ({e}).\n\
                 Install Node.js (https://nodejs.org, or `apt-get install nodejs npm`), or set\n\
                 SIGHTLINE_SKIP_UI_BUILD=1 to build a binary without the UI."
            );
            exit(1);
        }
    }
}

/// Without a build, rust-embed still needs the folder; say in it why there is no UI.
fn write_placeholder(ui: &Path) {
    let dist = ui.join("dist");
    if dist.join("index.html").exists() {
        return;
    }
    let page = "<!doctype html><title>Sightline</title><p>This binary was built with \
                SIGHTLINE_SKIP_UI_BUILD=1, so it has no UI. The API is served under /api/v1/.</p>\n";
    if let Err(e) =
        std::fs::create_dir_all(&dist).and_then(|()| std::fs::write(dist.join("index.html"), page))
    {
        eprintln!("cannot write {}: {e}", dist.display());
        exit(1);
    }
}
