//! `weir compact` and the cleaner columns of `weir topics describe`.

mod common;

use std::path::Path;

use common::{ok, weir};
use serde_json::Value;

#[test]
fn compact_keeps_the_latest_value_per_key_and_describe_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&weir(
        d,
        &[
            "topics",
            "create",
            "prices",
            "--config",
            "cleanup.policy=compact",
            "--config",
            "segment.bytes=2000",
        ],
        b"",
    ));
    let input: String = (0..300).map(|i| format!("sku{}:{i}\n", i % 7)).collect();
    ok(&weir(
        d,
        &[
            "produce",
            "prices",
            "--key-separator",
            ":",
            "--batch-size",
            "500",
        ],
        input.as_bytes(),
    ));

    let describe = |d: &Path| -> Value {
        serde_json::from_str(
            ok(&weir(
                d,
                &["topics", "describe", "prices", "--format", "json"],
                b"",
            ))
            .trim(),
        )
        .unwrap()
    };
    let before = describe(d);
    assert_eq!(before["partitions"][0]["cleaner"]["dirty_ratio"], 1.0);
    assert_eq!(
        before["partitions"][0]["cleaner"]["last_clean_ms"],
        Value::Null
    );

    let out = ok(&weir(d, &["compact", "prices", "--format", "json"], b""));
    let report: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(report["cleaned"], true, "{report}");
    let stats = &report["stats"];
    assert!(stats["records_kept"].as_u64().unwrap() < stats["records_read"].as_u64().unwrap());

    let after = describe(d);
    let cleaner = &after["partitions"][0]["cleaner"];
    assert_eq!(cleaner["dirty_ratio"], 0.0, "{after}");
    assert!(cleaner["last_clean_ms"].is_i64());
    assert_eq!(cleaner["first_dirty_offset"], stats["next_dirty_offset"]);
    let text = ok(&weir(d, &["topics", "describe", "prices"], b""));
    assert!(
        text.contains("DirtyRatio") && text.contains("LastClean") && text.contains("s ago"),
        "{text}"
    );

    // Nothing new is dirty: a second pass says so.
    let again = ok(&weir(d, &["compact", "prices"], b""));
    assert!(again.contains("nothing to clean"), "{again}");

    // Every key's latest value is still there.
    let consumed = ok(&weir(
        d,
        &[
            "consume",
            "prices",
            "--from-beginning",
            "--exit-at-end",
            "--key-separator",
            ":",
        ],
        b"",
    ));
    for k in 0..7 {
        let last = (0..300).filter(|i| i % 7 == k).max().unwrap();
        assert!(
            consumed.lines().any(|l| l == format!("sku{k}:{last}")),
            "sku{k}: {consumed}"
        );
    }
}

#[test]
fn compact_refuses_what_it_cannot_compact() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&weir(d, &["topics", "create", "events"], b""));
    let out = weir(d, &["compact", "events"], b"");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cleanup.policy"), "{err}");

    let out = weir(d, &["compact", "missing"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing"));

    let out = weir(
        d,
        &[
            "compact",
            "events",
            "--property",
            "log.cleaner.dedupe.buffer.size=1",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("log.cleaner.dedupe.buffer.size"));

    assert!(weir(d, &["compact", "--help"], b"").status.success());
}
