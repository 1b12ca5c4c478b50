//! Arbitrary input never makes the stream-json parser panic.

use overstory_runtime::stream_json::{LineParser, LineSplitter};
use overstory_runtime::{EventReader, ParseOptions};
use proptest::prelude::*;

fn drain(bytes: &[u8], cap: usize) -> usize {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let opts = ParseOptions {
            flush_size_bytes: cap,
            ..ParseOptions::default()
        };
        let mut r = EventReader::new(bytes, opts);
        let mut n = 0;
        while let Some(ev) = r.next().await.unwrap() {
            // Every event serialises.
            serde_json::to_string(&ev).unwrap();
            n += 1;
        }
        n
    })
}

fn json_like() -> impl Strategy<Value = String> {
    let frag = prop_oneof![
        Just(r#"{"type":"system","session_id":"s"}"#.to_owned()),
        Just(r#"{"type":"assistant","message":{"content":[{"type":"text","text":"x"}]}}"#.to_owned()),
        Just(r#"{"type":"assistant","message":{"content":[{"type":"tool_use","id":1,"name":null}]}}"#.to_owned()),
        Just(r#"{"type":"user","message":{"content":[{"type":"tool_result","content":{}}]}}"#.to_owned()),
        Just(r#"{"type":"result","is_error":"yes","duration_ms":"x","num_turns":-1}"#.to_owned()),
        Just("{\"type\":".to_owned()),
        Just("\n".to_owned()),
        "[ -~]{0,20}",
        "\\PC{0,8}",
    ];
    prop::collection::vec(frag, 0..20).prop_map(|v| v.join(""))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048), cap in 1usize..64) {
        drain(&bytes, cap);
    }

    #[test]
    fn json_shaped_garbage_never_panics(text in json_like(), cap in 1usize..64) {
        drain(text.as_bytes(), cap);
    }

    #[test]
    fn single_lines_never_panic(line in "\\PC{0,200}") {
        let _ = LineParser::parse(&line, "2026-01-01T00:00:00.000Z");
    }

    #[test]
    fn splitting_is_independent_of_chunk_boundaries(text in json_like(), cut in 0usize..400) {
        let bytes = text.as_bytes();
        let cut = cut.min(bytes.len());
        let mut a = LineSplitter::default();
        let mut whole = a.push(bytes);
        whole.extend(a.finish());
        let mut b = LineSplitter::default();
        let mut parts = b.push(&bytes[..cut]);
        parts.extend(b.push(&bytes[cut..]));
        parts.extend(b.finish());
        prop_assert_eq!(whole, parts);
    }
}
