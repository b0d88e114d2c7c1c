//! Records the git commit the crate is built from (`SOMNIUM_COMMIT`), so
//! every run directory can say which code trained it
//! (`train::provenance`). Outside a git checkout it is `unknown`; a
//! working tree with changes to tracked files at build time is marked
//! `+modified`.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let commit = match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(hash) => {
            let modified = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if modified {
                format!("{hash}+modified")
            } else {
                hash
            }
        }
        None => "unknown".to_string(),
    };
    println!("cargo:rustc-env=SOMNIUM_COMMIT={commit}");
    // A new commit, a staged change, or an edited source file.
    for path in [".git/HEAD", ".git/index", "src", "envs/src", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={path}");
    }
}
