//! Seeds `fuzz/corpus/<target>/` from the golden Kafka segments in
//! `testdata/kafka-segments/` and from our own encoder, so fuzzing starts from
//! real Kafka bytes. Run from the repository root:
//!
//! ```sh
//! cargo run --manifest-path fuzz/Cargo.toml --bin seed_corpus
//! ```

use std::fs;
use std::path::Path;

use bytes::Bytes;
use weir_codec::{Compression, CompressionConfig};
use weir_record::{BatchBuilder, BatchIter, BatchOptions, Header, Record};

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("fuzz/corpus").join(target);
    fs::create_dir_all(&dir).expect("corpus dir");
    fs::write(dir.join(name), bytes).expect("corpus file");
}

fn main() {
    let root = Path::new("testdata/kafka-segments");
    let mut cases: Vec<_> = fs::read_dir(root).expect("run from the repository root").map(|e| e.expect("entry").path()).collect();
    cases.sort();
    for case in cases.iter().filter(|c| c.is_dir()) {
        let name = case.file_name().and_then(|n| n.to_str()).unwrap_or("case").to_owned();
        for dir in fs::read_dir(case).expect("case").map(|e| e.expect("entry").path()).filter(|p| p.is_dir()) {
            let mut logs: Vec<_> = fs::read_dir(&dir).expect("dir").map(|e| e.expect("entry").path()).filter(|p| p.extension().is_some_and(|e| e == "log")).collect();
            logs.sort();
            for (i, log) in logs.iter().enumerate() {
                let bytes = fs::read(log).expect("log");
                // Whole segments only when small; big ones slow every fuzz iteration.
                if bytes.len() <= 64 * 1024 {
                    write("batch_decode", &format!("seed-{name}-{i}"), &bytes);
                }
                for (j, item) in BatchIter::new(Bytes::from(bytes)).verify_crc(false).enumerate() {
                    let Ok(b) = item else { break };
                    let batch = b.batch;
                    if batch.size() > 64 * 1024 {
                        continue;
                    }
                    if j < 3 {
                        write("batch_decode", &format!("seed-{name}-{i}-batch{j}"), batch.as_bytes());
                    }
                    let payload = batch.records_payload();
                    match batch.compression() {
                        Ok(Compression::None) if j < 3 => {
                            let mut rec = batch.records_count().to_be_bytes().to_vec();
                            rec.extend_from_slice(&batch.last_offset_delta().to_be_bytes());
                            rec.extend_from_slice(&payload);
                            write("record_decode", &format!("seed-{name}-{i}-batch{j}"), &rec);
                        }
                        Ok(c) if c != Compression::None && j < 2 => {
                            write(&format!("decompress_{c}"), &format!("seed-{name}-{i}-batch{j}"), &payload);
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    // Our own encoder: every codec, headers, nulls, a few records.
    for codec in Compression::ALL {
        let mut builder = BatchBuilder::new(BatchOptions { compression: CompressionConfig::new(codec), producer_id: 7, producer_epoch: 1, base_sequence: 0, ..BatchOptions::default() });
        for i in 0..5i64 {
            let mut r = Record::new(format!("{{\"order\":{i},\"amount\":{}}}", i * 17)).with_key(format!("customer-{}", i % 2)).with_timestamp(1_700_000_000_000 + i);
            if i % 2 == 0 {
                r = r.with_header(Header::new("trace", "t")).with_header(Header::null("n"));
            }
            if i == 3 {
                r.value = None;
                r.key = None;
            }
            builder.append(&r).expect("append");
        }
        let batch = builder.build().expect("build");
        write("batch_decode", &format!("seed-weir-{codec}"), &batch);
        if codec != Compression::None {
            write(&format!("decompress_{codec}"), &format!("seed-weir-{codec}"), &batch[61..]);
        } else {
            let mut rec = 5i32.to_be_bytes().to_vec();
            rec.extend_from_slice(&4i32.to_be_bytes());
            rec.extend_from_slice(&batch[61..]);
            write("record_decode", "seed-weir-none", &rec);
        }
    }
}
