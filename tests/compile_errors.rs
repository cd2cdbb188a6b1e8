//! The crate's compile errors name the fix.
//!
//! fanout puts `#[diagnostic::on_unimplemented]` on the traits users meet
//! (`IntoSource`, `Join`, `Race`, and the storages' `Judged` and
//! `SharedError`) and `#[diagnostic::do_not_recommend]` on the blanket impls,
//! so that a wrong call fails with one error that says what to write instead.
//! Each case here is a tiny program in `tests/compile_errors/<case>.rs` (its
//! top comment says which error it expects). The test builds one scratch crate
//! under `CARGO_TARGET_TMPDIR` with every case as a `[[bin]]` and fanout as a
//! path dependency, then runs `cargo check --bin <case>` per case, every case
//! sharing one target dir so fanout is built once. For each case it asserts
//! that the build fails, that the case's own code gets exactly the expected
//! number of errors, and that their text holds the key phrases (substrings,
//! not whole outputs, so a new rustc that words its own parts differently
//! does not break the test). A positive control must compile, so a broken
//! harness cannot pass.
//!
//! No trybuild: std only. The scratch crate gets a copy of fanout's
//! `Cargo.lock` (the same dependency versions); the first cargo call runs
//! `--offline` and only if that fails goes online.
#![cfg(not(miri))]

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Every case: its file stem in `tests/compile_errors/`. The test of each is
/// below; `every_case_file_has_a_test` keeps this list and the folder equal.
const CASES: &[&str] = &[
    "catch_panic_not_result",
    "join_all_not_futures",
    "processor_wrong_error",
    "tuple_settle_all_not_results",
    "tuple_to_iterator_face",
    "tuple_when_all_mixed_errors",
    "tuple_when_all_not_results",
    "tuple_when_all_ok",
    "tuple_when_any",
];

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn cases_dir() -> PathBuf {
    manifest_dir().join("tests").join("compile_errors")
}

/// The cargo that runs this test (same toolchain), else `cargo` on the PATH.
fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// A TOML basic string holding `s`.
fn toml_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn path_str(p: &Path) -> &str {
    p.to_str()
        .unwrap_or_else(|| panic!("path is not UTF-8: {}", p.display()))
}

/// The scratch crate: its directory and the target dir every case shares.
struct Scratch {
    dir: PathBuf,
    target: PathBuf,
}

impl Scratch {
    /// A cargo command in the scratch crate, on the shared target dir.
    fn cargo(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(cargo());
        cmd.args(args)
            .current_dir(&self.dir)
            .env("CARGO_TARGET_DIR", &self.target)
            .env("CARGO_TERM_COLOR", "never")
            // No `Running rustc ..` lines, no cross target: a plain host check.
            .env_remove("CARGO_TERM_VERBOSE")
            .env_remove("CARGO_BUILD_TARGET");
        cmd
    }
}

fn run(mut cmd: Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"))
}

/// Writes the scratch crate (once per test run) and resolves its
/// dependencies: `cargo fetch --offline`, or online if that fails.
fn scratch() -> &'static Scratch {
    static SCRATCH: OnceLock<Result<Scratch, String>> = OnceLock::new();
    let made = SCRATCH.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("compile_errors");
        let dir = root.join("crate");
        let target = root.join("target");
        fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;

        let mut manifest = String::from(
            "[package]\n\
             name = \"fanout-compile-errors\"\n\
             version = \"0.0.0\"\n\
             edition = \"2021\"\n\
             publish = false\n\
             autobins = false\n\
             autoexamples = false\n\
             autotests = false\n\
             autobenches = false\n\
             \n\
             # Its own workspace: never a member of an enclosing one.\n\
             [workspace]\n\
             \n\
             [dependencies]\n",
        );
        manifest += &format!(
            "fanout = {{ path = {} }}\n",
            toml_str(path_str(manifest_dir()))
        );
        for case in CASES {
            let file = cases_dir().join(format!("{case}.rs"));
            manifest += &format!(
                "\n[[bin]]\nname = {}\npath = {}\n",
                toml_str(case),
                toml_str(path_str(&file))
            );
        }
        fs::write(dir.join("Cargo.toml"), manifest)
            .map_err(|e| format!("write the scratch Cargo.toml: {e}"))?;
        // fanout's own lock file: the scratch crate builds the same versions
        // (cargo drops the entries it does not need).
        fs::copy(manifest_dir().join("Cargo.lock"), dir.join("Cargo.lock"))
            .map_err(|e| format!("copy Cargo.lock: {e}"))?;

        let scratch = Scratch { dir, target };
        let offline = run(scratch.cargo(&["fetch", "--offline"]));
        if !offline.status.success() {
            let online = run(scratch.cargo(&["fetch"]));
            if !online.status.success() {
                return Err(format!(
                    "cargo fetch failed offline:\n{}\nand online:\n{}",
                    String::from_utf8_lossy(&offline.stderr),
                    String::from_utf8_lossy(&online.stderr)
                ));
            }
        }
        Ok(scratch)
    });
    match made {
        Ok(scratch) => scratch,
        Err(e) => panic!("the scratch crate could not be set up: {e}"),
    }
}

/// One case's `cargo check`: its exit and its diagnostics.
struct Checked {
    case: &'static str,
    success: bool,
    stderr: String,
    /// The error diagnostics (each from its `error` line up to the next
    /// diagnostic), cargo's closing "could not compile" line left out.
    errors: Vec<String>,
}

impl Checked {
    fn context(&self) -> String {
        format!("case `{}`; cargo's stderr:\n{}", self.case, self.stderr)
    }
}

fn check(case: &'static str) -> Checked {
    let scratch = scratch();
    let out = run(scratch.cargo(&[
        "check",
        "--offline",
        "--message-format",
        "human",
        "--bin",
        case,
    ]));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();

    // Split into diagnostics: each starts at a line `error...`/`warning...`
    // in column 0 and runs to the next one (or to rustc's closing
    // "For more information" line).
    let mut diagnostics: Vec<String> = Vec::new();
    let mut open = false;
    for line in stderr.lines() {
        if line.starts_with("error") || line.starts_with("warning") {
            diagnostics.push(String::new());
            open = true;
        } else if line.starts_with("For more information") || line.starts_with("Some errors") {
            open = false;
        }
        if open {
            let d = diagnostics.last_mut().expect("a diagnostic is open");
            d.push_str(line);
            d.push('\n');
        }
    }
    let errors = diagnostics
        .into_iter()
        .filter(|d| d.starts_with("error[") || d.starts_with("error:"))
        .filter(|d| !d.starts_with("error: could not compile"))
        .collect();
    Checked {
        case,
        success: out.status.success(),
        stderr,
        errors,
    }
}

/// Checks `case`, which must fail with exactly `count` errors, every one in
/// the case's own file, whose text together holds every phrase of `phrases`.
fn assert_fails(case: &'static str, count: usize, phrases: &[&str]) -> Checked {
    let checked = check(case);
    assert!(
        !checked.success,
        "compiled, expected errors: {}",
        checked.context()
    );
    // rustc ran and failed on the case (not cargo before it).
    assert!(
        checked
            .stderr
            .lines()
            .any(|l| l.starts_with("error: could not compile") && l.contains(case)),
        "no \"could not compile\" line for the case: {}",
        checked.context()
    );
    assert_eq!(
        checked.errors.len(),
        count,
        "error count: {}",
        checked.context()
    );
    let file = format!("{case}.rs");
    for error in &checked.errors {
        // The primary span is the first `-->` of the diagnostic.
        let at = error
            .lines()
            .find_map(|l| l.trim_start().strip_prefix("--> "))
            .unwrap_or_else(|| panic!("an error without a location: {}", checked.context()));
        assert!(
            at.contains(&file),
            "an error outside {file} ({at}): {}",
            checked.context()
        );
    }
    let text = checked.errors.concat();
    for phrase in phrases {
        assert!(
            text.contains(phrase),
            "the errors do not say {phrase:?}: {}",
            checked.context()
        );
    }
    checked
}

#[test]
fn every_case_file_has_a_test() {
    let on_disk: BTreeSet<String> = fs::read_dir(cases_dir())
        .expect("tests/compile_errors/ is readable")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| {
            p.file_stem()
                .and_then(|s| s.to_str())
                .expect("a UTF-8 file name")
                .to_owned()
        })
        .collect();
    let listed: BTreeSet<String> = CASES.iter().map(|&c| c.to_owned()).collect();
    assert_eq!(
        on_disk, listed,
        "tests/compile_errors/*.rs and CASES differ"
    );
}

/// The positive control: a harness that could not compile anything would
/// pass every case below; this one must compile.
#[test]
fn control_tuple_when_all_compiles() {
    let checked = check("tuple_when_all_ok");
    assert!(checked.success, "did not compile: {}", checked.context());
    assert!(checked.errors.is_empty(), "{}", checked.context());
}

/// A tuple given to the iterator face names the tuple form.
#[test]
fn tuple_to_iterator_face() {
    assert_fails(
        "tuple_to_iterator_face",
        1,
        &[
            "is not a source of tasks",
            "use fanout::Join",
            "`(a, b, c).when_all()`",
        ],
    );
}

/// `.when_all()` over results with different error types says to convert
/// them to one.
#[test]
fn tuple_when_all_mixed_errors() {
    assert_fails(
        "tuple_when_all_mixed_errors",
        1,
        &[
            "needs every future to output",
            "one error type",
            "convert each error to one type",
        ],
    );
}

/// `.when_all()` over outputs that are not results points to `.join_all()`.
#[test]
fn tuple_when_all_not_results() {
    assert_fails(
        "tuple_when_all_not_results",
        1,
        &[
            "needs every future to output",
            "one error type",
            "`.join_all()`",
        ],
    );
}

/// `.settle_all()` with an output that is not a result.
#[test]
fn tuple_settle_all_not_results() {
    assert_fails(
        "tuple_settle_all_not_results",
        1,
        &["must output a `Result` or an `Outcome`", "`.join_all()`"],
    );
}

/// `.when_any()` on a tuple of futures of different types: every tuple
/// implements `Race`, so the error is the unmet `Uniform` bound, whose
/// message says a race needs one type and names the fixes.
#[test]
fn tuple_when_any() {
    assert_fails(
        "tuple_when_any",
        1,
        &["race futures of one type", "race an array", "Either"],
    );
}

/// `fanout::join_all` over items that are not futures. Two errors today:
/// `IntoSource`'s ("`Vec<u8>` is not a source of tasks") at the argument, and
/// rustc's "`u8` is not a future" for the returned `JoinAll<IterSource<..>>`,
/// whose struct requires `S: Source`.
#[test]
fn join_all_not_futures() {
    assert_fails("join_all_not_futures", 2, &["is not a source of tasks"]);
}

/// `fanout::catch_panic` around a task that outputs a plain value: one
/// error, from `CatchOutput`'s `on_unimplemented`, naming the fix.
#[test]
fn catch_panic_not_result() {
    assert_fails(
        "catch_panic_not_result",
        1,
        &[
            "needs a task that outputs a `Result` or an `Outcome`",
            "Ok::<_, std::convert::Infallible>",
        ],
    );
}

/// A `for_each` processor whose `Result` has another error type than the
/// tasks': one error, from `Processed`'s `on_unimplemented`, naming the
/// tasks' error type and the conversion.
#[test]
fn processor_wrong_error() {
    assert_fails(
        "processor_wrong_error",
        1,
        &[
            "a processor must return `()` or `Result<(), E>`",
            "the tasks' error type is `FetchError`",
            "map_err",
        ],
    );
}
