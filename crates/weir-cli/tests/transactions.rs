//! `weir transactions list` on a data directory an application has open:
//! the open transaction is shown as it is, read without the directory's lock.

mod common;

use common::{json_lines, ok, weir};
use weir::{ProducerRecord, Weir};

#[test]
fn transactions_list_shows_an_open_transaction_of_a_running_application() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // No transactional producer yet: nothing to list, and no error.
    ok(&weir(
        d,
        &["topics", "create", "t", "--partitions", "2"],
        b"",
    ));
    let out = weir(d, &["transactions", "list", "--format", "json"], b"");
    assert!(json_lines(&out).is_empty());

    let app = Weir::builder(d).background_thread(false).open().unwrap();
    let p = app
        .producer(&[("transactional.id", "loader"), ("linger.ms", "0")])
        .unwrap();
    p.init_transactions().unwrap();
    p.begin_transaction().unwrap();
    p.send(ProducerRecord::new("t", "v").partition(1)).unwrap();
    p.flush();
    let listed = json_lines(&weir(d, &["transactions", "list", "--format", "json"], b""));
    assert_eq!(listed.len(), 1, "{listed:?}");
    let t = &listed[0];
    assert_eq!(t["transactional_id"], "loader");
    assert_eq!(t["state"], "Ongoing");
    assert_eq!(t["producer_id"], p.producer_id());
    assert_eq!(t["partitions"], serde_json::json!(["t-1"]));
    assert!(t["transaction_start_time_ms"].as_i64().unwrap() > 0);
    let text = ok(&weir(d, &["transactions", "list"], b""));
    assert!(
        text.contains("loader") && text.contains("Ongoing"),
        "{text}"
    );

    p.commit_transaction().unwrap();
    let listed = json_lines(&weir(d, &["transactions", "list", "--format", "json"], b""));
    assert_eq!(listed[0]["state"], "Empty");
    assert_eq!(listed[0]["partitions"], serde_json::json!([]));
    assert_eq!(app.admin().list_transactions().len(), 1);

    // A damaged state file is named.
    drop(p);
    app.close().unwrap();
    drop(app);
    std::fs::write(d.join("weir-transactions.json"), b"[").unwrap();
    let out = weir(d, &["transactions", "list"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("weir-transactions.json"));
}
