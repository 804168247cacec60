//! Which directories the CLI opens as a data directory, and what it says about
//! the ones it refuses.

mod common;

use common::{ok, weir};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A directory that holds other files and no `meta.properties` (a mistyped
/// `--data-dir .` or `$HOME`) is refused by every command, before anything is
/// written into it: its `NAME-N` subdirectories would have been taken for
/// partitions, given segment files, and removed by `topics delete`.
#[test]
fn a_directory_of_other_files_is_not_opened_as_a_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project-1");
    std::fs::create_dir(&project).unwrap();
    std::fs::write(project.join("README.md"), "important").unwrap();
    let before = || {
        let mut names: Vec<_> = walk(dir.path());
        names.sort();
        names
    };
    let untouched = before();
    for args in [
        &["topics", "list"][..],
        &["topics", "delete", "project"],
        &["topics", "create", "t"],
        &["consume", "project", "--exit-at-end"],
        &["groups", "list"],
    ] {
        let out = weir(dir.path(), args, b"");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("is not a data directory") && err.contains("meta.properties"),
            "{args:?}: {err}"
        );
        assert_eq!(before(), untouched, "{args:?} wrote into the directory");
    }
}

/// A data directory Weir started (and so any Kafka log directory, which has
/// `meta.properties`) opens; so does an empty one, which a command starts.
#[test]
fn a_data_directory_and_an_empty_one_open() {
    let dir = tempfile::tempdir().unwrap();
    ok(&weir(dir.path(), &["topics", "list"], b""));
    ok(&weir(dir.path(), &["topics", "create", "t"], b""));
    assert!(dir.path().join("meta.properties").is_file());
    ok(&weir(dir.path(), &["topics", "list"], b""));
}

/// `weir repair --backup DIR` opens a directory a damaged partition kept
/// from opening: the partition is cut at its damage as Kafka's recovery cuts
/// it, what is cut is copied into DIR first, and the directory opens again.
#[test]
fn repair_cuts_a_damaged_partition_after_copying_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("data");
    std::fs::create_dir(&d).unwrap();
    common::produced(&d, "seg", "1");
    let mut segments: Vec<_> = std::fs::read_dir(d.join("seg-0"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    segments.sort();
    let last = segments.last().unwrap().clone();
    let len = std::fs::metadata(&last).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&last)
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    let damaged = std::fs::read(&last).unwrap();
    let out = weir(&d, &["topics", "list"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("weir repair --backup"),
        "{}",
        stderr(&out)
    );

    // Not into the data directory itself.
    let inside = d.join("backup");
    let out = weir(&d, &["repair", "--backup", inside.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!inside.exists());

    let backup = dir.path().join("backup");
    let out = ok(&weir(
        &d,
        &[
            "repair",
            "--backup",
            backup.to_str().unwrap(),
            "--format",
            "json",
        ],
        b"",
    ));
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let repaired = report["repaired"].as_array().unwrap();
    assert_eq!(repaired.len(), 1, "{report}");
    assert_eq!(repaired[0]["partition"], "seg-0");
    let copy = backup.join("seg-0").join(last.file_name().unwrap());
    assert_eq!(std::fs::read(&copy).unwrap(), damaged);
    ok(&weir(&d, &["topics", "list"], b""));
    ok(&weir(&d, &["verify"], b""));
    // Nothing left to repair.
    let again = ok(&weir(
        &d,
        &["repair", "--backup", backup.to_str().unwrap()],
        b"",
    ));
    assert!(again.contains("nothing to repair"), "{again}");
}

/// Review 18b: a crash at the very start of a directory's first open leaves
/// the lock and `meta.properties.tmp` only. The directory is still a new
/// one, and the command run again starts it (it was refused as "not a data
/// directory" for ever).
#[test]
fn a_directory_left_by_a_crash_during_its_first_open_still_opens() {
    for leftovers in [&[".lock"][..], &[".lock", "meta.properties.tmp"]] {
        let dir = tempfile::tempdir().unwrap();
        for name in leftovers {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        ok(&weir(dir.path(), &["topics", "create", "t"], b""));
        assert!(
            dir.path().join("meta.properties").is_file(),
            "{leftovers:?}"
        );
    }
}

/// A `--data-dir` that is a file says so, instead of "does not exist" and a
/// suggestion that then fails.
#[test]
fn a_file_given_as_the_data_directory_is_named_as_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("afile");
    std::fs::write(&file, "x").unwrap();
    for args in [&["topics", "list"][..], &["topics", "create", "t"]] {
        let out = weir(&file, args, b"");
        assert_eq!(out.status.code(), Some(2));
        assert!(
            stderr(&out).contains("is a file, not a directory"),
            "{}",
            stderr(&out)
        );
    }
}

/// `dump` and `verify` read the data directory (`--data-dir`) when no path is
/// given, as their `--help` says.
#[test]
fn dump_and_verify_default_to_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    ok(&weir(dir.path(), &["topics", "create", "t"], b""));
    ok(&weir(dir.path(), &["produce", "t"], b"hello\n"));
    let verified = ok(&weir(dir.path(), &["verify", "--format", "json"], b""));
    assert!(verified.contains("\"ok\":true"), "{verified}");
    let dumped = ok(&weir(dir.path(), &["dump", "--format", "json"], b""));
    assert!(dumped.contains("hello"), "{dumped}");
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        out.push(path.display().to_string());
        if path.is_dir() {
            out.extend(walk(&path));
        }
    }
    out
}

/// A partition's last segment cut short below what was fsynced stops the
/// data directory from opening (recovery must not cut fsynced records off), and
/// the error says what to do: verify, and move the damaged partition's
/// directory aside to open the rest.
#[test]
fn a_damaged_partition_names_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    common::produced(d, "seg", "1");
    let mut segments: Vec<_> = std::fs::read_dir(d.join("seg-0"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    segments.sort();
    let last = segments.last().unwrap();
    let len = std::fs::metadata(last).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(last)
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    for args in [
        &["topics", "list"][..],
        &["consume", "seg", "--exit-at-end"],
    ] {
        let out = weir(d, args, b"");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr(&out);
        let partition = d.join("seg-0");
        assert!(
            err.contains("weir verify") && err.contains(&format!("move {}", partition.display())),
            "{args:?}: {err}"
        );
        // And what moving it aside costs.
        assert!(
            err.contains("empty, at its log start offset"),
            "{args:?}: {err}"
        );
    }
}

/// Review 16: a directory holding only partition directories copied from a
/// Kafka broker (segments, no root files, as the README's migration says)
/// opens, and its topics are listed; a `NAME-N` directory without segments
/// (the user's own `project-1/`) still makes a directory refused.
#[test]
fn partition_directories_copied_from_kafka_open() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/kafka-segments/two-segments/golden-two-segments-0");
    let copy = dir.path().join("golden-two-segments-0");
    std::fs::create_dir(&copy).unwrap();
    for entry in std::fs::read_dir(&fixture).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
    }
    let listed = ok(&weir(dir.path(), &["topics", "list"], b""));
    assert!(listed.contains("golden-two-segments"), "{listed}");

    let other = tempfile::tempdir().unwrap();
    std::fs::create_dir(other.path().join("project-1")).unwrap();
    std::fs::write(other.path().join("project-1/README.md"), "x").unwrap();
    let out = weir(other.path(), &["topics", "list"], b"");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    // Only hidden files (a fresh `git init`, an `.env`) are other files too.
    let hidden = tempfile::tempdir().unwrap();
    std::fs::create_dir(hidden.path().join(".git")).unwrap();
    std::fs::write(hidden.path().join(".env"), "x").unwrap();
    let out = weir(hidden.path(), &["topics", "list"], b"");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!hidden.path().join("meta.properties").exists());
}

/// `verify --format json` keeps its schema when the path is not a log: one
/// object with `ok: false` and the problem naming the path, exit 2.
#[test]
fn verify_json_of_a_path_that_is_not_a_log_keeps_its_schema() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("not-here");
    let out = weir(
        dir.path(),
        &["verify", "--format", "json", missing.to_str().unwrap()],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["partitions"].as_array().unwrap().len(), 0);
    assert_eq!(v["problems"][0]["file"], missing.display().to_string());
}
