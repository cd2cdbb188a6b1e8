//! The Markdown report (`benches/RESULTS.md` when `ci/bench` runs it): written
//! by the bench binary itself when `FANOUT_BENCH_REPORT=<path>` is set, after
//! every group ran. Medians come from criterion's own files,
//! `<criterion dir>/<group>/<id>/new/estimates.json` (the `"median"` object's
//! `"point_estimate"`, in nanoseconds per iteration), read only for the
//! benchmarks that ran in this process, so a filtered run never reports stale
//! numbers. Allocations and tasks polled come from each row's check run
//! ([`crate::common::records`]).
//!
//! Environment read here (`ci/bench` sets them): `FANOUT_RUSTC_VERSION`
//! (else `rustc -V` is run), `FANOUT_BENCH_COMMIT`, `FANOUT_BENCH_NOTE` (a
//! banner for the top of the report), `GLIBC_TUNABLES` (echoed).

use crate::common::{records, Record};
use std::fmt::Write as _;
use std::path::PathBuf;

/// Where criterion keeps its results, decided the way criterion decides it
/// (`CRITERION_HOME`, else `$CARGO_TARGET_DIR/criterion`, else
/// `target/criterion` under the package root); `main` hands this to
/// criterion too, so both always agree.
pub fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("criterion")
}

/// Criterion's directory name for a group or benchmark id.
fn filename_safe(name: &str) -> String {
    let mut safe: String = name
        .chars()
        .map(|ch| match ch {
            '?' | '"' | '/' | '\\' | '*' | '<' | '>' | ':' | '|' | '^' => '_',
            ch => ch,
        })
        .collect();
    // Criterion truncates to 64 bytes, at a character boundary.
    let mut end = safe.len().min(64);
    while !safe.is_char_boundary(end) {
        end -= 1;
    }
    safe.truncate(end);
    safe
}

/// The median, in nanoseconds per iteration, criterion measured for `record`.
fn median_ns(record: &Record) -> Option<f64> {
    let path = criterion_dir()
        .join(filename_safe(&record.group))
        .join(filename_safe(&record.id))
        .join("new")
        .join("estimates.json");
    let json = std::fs::read_to_string(path).ok()?;
    // {"mean":{...},"median":{"confidence_interval":{...},"point_estimate":N,...},...}
    let median = &json[json.find("\"median\"")?..];
    let after = &median[median.find("\"point_estimate\"")? + "\"point_estimate\"".len()..];
    let number = after.trim_start().strip_prefix(':')?.trim_start();
    let end = number
        .find(|ch: char| !(ch.is_ascii_digit() || matches!(ch, '.' | 'e' | 'E' | '-' | '+')))
        .unwrap_or(number.len());
    number[..end].parse().ok()
}

/// A duration in nanoseconds, to three significant digits.
fn time(ns: f64) -> String {
    let (value, unit) = if ns >= 1e9 {
        (ns / 1e9, "s")
    } else if ns >= 1e6 {
        (ns / 1e6, "ms")
    } else if ns >= 1e3 {
        (ns / 1e3, "µs")
    } else {
        (ns, "ns")
    };
    let decimals = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    format!("{value:.decimals$} {unit}")
}

/// What a scenario's groups measure, by group-name prefix.
const TITLES: &[(&str, &str)] = &[
    ("s1_ready/", "S1 join, all ready"),
    ("s2_yield_once/", "S2 join, yield once"),
    (
        "s2_yield_once_smol/",
        "S2 join, yield once, on smol::block_on",
    ),
    ("s3_reverse_wakes/", "S3 driven wakes, reverse order"),
    ("s3_random_wakes/", "S3 driven wakes, seeded random order"),
    ("s4_limit64/", "S4 throttled, limit 64"),
    ("s5_race/", "S5 race, the last one wins"),
    ("s6_fail_fast/", "S6 fail-fast, the 10th task faults"),
    ("s7_cancel/", "S7 cancel by a signal"),
    ("s8_small_batches/", "S8 many small batches"),
    ("s9_tuples/", "S9 tuples of 8 futures of 3 types"),
    (
        "s9_tuples_faulting/",
        "S9 tuples of 8, every third element faults",
    ),
];

fn title(group: &str) -> &'static str {
    TITLES
        .iter()
        .find(|(prefix, _)| group.starts_with(prefix))
        .map_or("", |&(_, title)| title)
}

#[derive(PartialEq)]
enum Kind {
    Floor,
    /// `bound::*`: a lean join that keeps the contract, about the least
    /// any such join can do
    /// (`bound.rs`); neither fanout nor a peer.
    Bound,
    Fanout,
    Peer,
}

fn kind(id: &str) -> Kind {
    if id == "floor" {
        Kind::Floor
    } else if id.starts_with("bound::") {
        Kind::Bound
    } else if id.starts_with("fanout") {
        Kind::Fanout
    } else {
        Kind::Peer
    }
}

struct Row {
    record: Record,
    median: Option<f64>,
}

/// One group's rows, and its fastest floor, fanout and peer medians.
struct Group {
    name: String,
    rows: Vec<Row>,
}

impl Group {
    fn fastest(&self, of: Kind) -> Option<&Row> {
        self.rows
            .iter()
            .filter(|row| kind(&row.record.id) == of && row.median.is_some())
            .min_by(|a, b| a.median.partial_cmp(&b.median).unwrap())
    }
}

/// Writes the report to `FANOUT_BENCH_REPORT`, if set and if anything was
/// measured.
pub fn write_if_asked() {
    let Some(path) = std::env::var_os("FANOUT_BENCH_REPORT") else {
        return;
    };
    let mut groups: Vec<Group> = Vec::new();
    for record in records() {
        let median = median_ns(&record);
        let row = Row { record, median };
        match groups.iter_mut().find(|g| g.name == row.record.group) {
            Some(group) => group.rows.push(row),
            None => groups.push(Group {
                name: row.record.group.clone(),
                rows: vec![row],
            }),
        }
    }
    if !groups
        .iter()
        .flat_map(|g| &g.rows)
        .any(|row| row.median.is_some())
    {
        eprintln!("peers: nothing was measured (test mode, or a filter that matched nothing); no report written");
        return;
    }
    let report = render(&groups);
    std::fs::write(&path, report).expect("write the report");
    eprintln!("peers: report written to {}", PathBuf::from(path).display());
}

fn render(groups: &[Group]) -> String {
    let mut md = String::new();
    let w = &mut md;
    if crate::common::smoke() {
        _ = writeln!(
            w,
            "# fanout benchmarks — pipeline check, not a measurement\n"
        );
    } else {
        _ = writeln!(w, "# fanout benchmarks\n");
    }
    _ = writeln!(
        w,
        "<!-- Generated by `ci/bench` (the `peers` bench target writes it); do not edit by hand. -->\n"
    );
    if let Ok(note) = std::env::var("FANOUT_BENCH_NOTE") {
        if !note.is_empty() {
            _ = writeln!(w, "> **{note}**\n");
        }
    }
    _ = writeln!(
        w,
        "Medians of criterion samples, one run, every implementation of a scenario in \
         the same group; time per iteration (one whole batch). **vs fastest peer** is the \
         fastest peer's median ÷ this row's (above 1: faster than every peer); **vs floor** \
         is this row's median ÷ the floor's (the floor is a plain loop polling each future \
         with a no-op waker: no combinator can beat it). **bound vs fastest peer** is the \
         fastest peer's median ÷ the `bound::join` row's, in the groups that have one: \
         a lean join that polls only woken tasks, as fanout's \
         contract asks (`benches/peers/bound.rs`), so the most any such design could lead \
         by. Allocations per task and peak \
         memory (the most heap bytes one iteration held at once) are counted in one run \
         of each row before it is measured, and so is, in S9's faulting group, how many \
         of the faults planted in each batch the row's output kept. See `benches/peers/` for what each \
         scenario and row does.\n"
    );
    machine(w);

    _ = writeln!(w, "## Summary\n");
    _ = writeln!(
        w,
        "| scenario | group | fastest fanout | fastest peer | vs fastest peer | fanout faster? | contract (≥ 1.3×) met? | bound vs fastest peer |"
    );
    _ = writeln!(w, "| --- | --- | --- | --- | --- | --- | --- | --- |");
    for group in groups {
        let (Some(fanout), Some(peer)) = (group.fastest(Kind::Fanout), group.fastest(Kind::Peer))
        else {
            continue;
        };
        let (f, p) = (fanout.median.unwrap(), peer.median.unwrap());
        // How far ahead of the fastest peer any design that keeps the
        // contract can get here (`bound.rs`), where the group has a bound.
        let bound = group
            .fastest(Kind::Bound)
            .map_or("–".into(), |b| format!("{:.2}×", p / b.median.unwrap()));
        _ = writeln!(
            w,
            "| {} | `{}` | `{}` {} | `{}` {} | {:.2}× | {} | {} | {bound} |",
            title(&group.name),
            group.name,
            fanout.record.id,
            time(f),
            peer.record.id,
            time(p),
            p / f,
            if f < p { "yes" } else { "no" },
            // The performance contract: at least 1.3 times the fastest peer.
            if p / f >= 1.3 { "yes" } else { "**no**" }
        );
    }
    _ = writeln!(w);

    for group in groups {
        _ = writeln!(w, "## {} — `{}`\n", title(&group.name), group.name);
        let tasks = group.rows.first().map_or(0, |row| row.record.tasks);
        let polled = group.rows.iter().any(|row| row.record.polled.is_some());
        let faults = group.rows.iter().any(|row| row.record.faults.is_some());
        _ = writeln!(w, "{tasks} tasks per iteration.\n");
        _ = write!(
            w,
            "| implementation | median | per task | vs fastest peer | vs floor | allocations per task | peak memory |"
        );
        _ = writeln!(
            w,
            "{}{}",
            if polled { " tasks polled |" } else { "" },
            if faults {
                " faults kept per batch |"
            } else {
                ""
            }
        );
        _ = writeln!(
            w,
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |{}{}",
            if polled { " ---: |" } else { "" },
            if faults { " ---: |" } else { "" }
        );
        let peer = group.fastest(Kind::Peer).and_then(|row| row.median);
        let floor = group.fastest(Kind::Floor).and_then(|row| row.median);
        for row in &group.rows {
            let r = &row.record;
            let name = match kind(&r.id) {
                Kind::Fanout => format!("**`{}`**", r.id),
                _ => format!("`{}`", r.id),
            };
            let (median, per_task, vs_peer, vs_floor) = match row.median {
                Some(m) => (
                    time(m),
                    time(m / r.tasks.max(1) as f64),
                    peer.map_or("–".into(), |p| format!("{:.2}×", p / m)),
                    floor.map_or("–".into(), |f| format!("{:.1}×", m / f)),
                ),
                None => ("not measured".into(), "–".into(), "–".into(), "–".into()),
            };
            let allocations = r.allocations as f64 / r.tasks.max(1) as f64;
            _ = write!(
                w,
                "| {name} | {median} | {per_task} | {vs_peer} | {vs_floor} | {allocations:.3} | {} |",
                bytes(r.peak_bytes)
            );
            match (polled, r.polled) {
                (true, Some(p)) => _ = write!(w, " {p} |"),
                (true, None) => _ = write!(w, " – |"),
                (false, _) => {}
            }
            match (faults, r.faults) {
                (true, Some(f)) => _ = writeln!(w, " {} of {} |", f.kept, f.planted),
                (true, None) => _ = writeln!(w, " – |"),
                (false, _) => _ = writeln!(w),
            }
        }
        _ = writeln!(w);
    }
    md
}

/// A byte count the way a person reads it: `512 B`, `3.1 KiB`, `48.0 MiB`.
fn bytes(n: u64) -> String {
    match n {
        n if n < 1 << 10 => format!("{n} B"),
        n if n < 1 << 20 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0)),
    }
}

/// The machine, toolchain, versions and date.
fn machine(w: &mut String) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|model| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| format!(" {}", k.trim()))
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let rustc = std::env::var("FANOUT_RUSTC_VERSION")
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| {
            let out = std::process::Command::new("rustc")
                .arg("-V")
                .output()
                .ok()?;
            Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let commit = std::env::var("FANOUT_BENCH_COMMIT")
        .map(|c| format!(" (commit {c})"))
        .unwrap_or_default();
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| arg != "--bench")
        .collect();
    _ = writeln!(w, "| | |");
    _ = writeln!(w, "| --- | --- |");
    _ = writeln!(w, "| date (UTC) | {} |", today());
    _ = writeln!(
        w,
        "| machine | {}{} {}, {cpu}, {cores} logical CPUs available |",
        std::env::consts::OS,
        kernel,
        std::env::consts::ARCH
    );
    _ = writeln!(w, "| rustc | `{rustc}` |");
    _ = writeln!(w, "| fanout | {}{commit} |", env!("CARGO_PKG_VERSION"));
    _ = writeln!(w, "| crates (Cargo.lock) | {} |", peer_versions());
    _ = writeln!(w, "| executor | `futures::executor::block_on` (and `smol::block_on` where the group says so) |");
    _ = writeln!(
        w,
        "| build | the `bench` profile, this package in one codegen unit (`[profile.bench.package.fanout]` in `Cargo.toml`), so that whether a row's task is inlined into its combinator does not depend on how the compiler split the crate |"
    );
    _ = writeln!(
        w,
        "| GLIBC_TUNABLES | `{}` |",
        std::env::var("GLIBC_TUNABLES").unwrap_or_else(|_| "(unset)".into())
    );
    _ = writeln!(
        w,
        "| criterion | {} samples, {} ms warm-up, {} ms measurement per row; arguments `{}` |\n",
        crate::common::samples(),
        crate::common::warm_up().as_millis(),
        crate::common::measurement().as_millis(),
        args.join(" ")
    );
}

/// `name version` of each peer crate, from the package's `Cargo.lock`.
fn peer_versions() -> String {
    const PEERS: &[&str] = &[
        "futures",
        "futures-util",
        "futures-buffered",
        "futures-concurrency",
        "smol",
        "criterion",
    ];
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock"))
        .unwrap_or_default();
    let mut found = Vec::new();
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line
            .strip_prefix("name = \"")
            .and_then(|n| n.strip_suffix('"'))
        else {
            continue;
        };
        if !PEERS.contains(&name) {
            continue;
        }
        if let Some(version) = lines
            .next()
            .and_then(|v| v.strip_prefix("version = \""))
            .and_then(|v| v.strip_suffix('"'))
        {
            found.push(format!("{name} {version}"));
        }
    }
    if found.is_empty() {
        "unknown (no Cargo.lock)".into()
    } else {
        found.join(", ")
    }
}

/// Today's date, `YYYY-MM-DD` in UTC, from the system clock.
fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}
