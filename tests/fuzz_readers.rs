//! A committed fuzzing harness for the two readers of outside files, the
//! CSV reader and the prototype's `khzl` reader: generated and mutated
//! inputs must never panic, and every input is either read or refused with
//! a specific error. It runs briefly in every `cargo test` (a few thousand
//! cases); `PROPTEST_CASES=200000 cargo test --release --test fuzz_readers`
//! runs it longer.

use custodian::import::{CsvEncoding, CsvReadOptions, CsvRows, khzl};
use custodian::{Catalogue, Error};
use proptest::prelude::*;

/// Reads every row of `bytes` as CSV; returns how many were read, or the error.
fn read_all(bytes: &[u8], encoding: CsvEncoding) -> Result<usize, Error> {
    let catalogue = Catalogue::default();
    let rows = CsvRows::open(bytes, &CsvReadOptions::new().encoding(encoding), &catalogue)?;
    let mut n = 0;
    for row in rows {
        let row = row?;
        assert!(row.row >= 2, "the header is row 1");
        n += 1;
    }
    Ok(n)
}

/// Every refusal of a reader is an `Invalid` (a rule about the file) or,
/// for reading errors, a storage error: never a panic, never a corrupt store.
fn specific(result: Result<usize, Error>) {
    match result {
        Ok(_) | Err(Error::Invalid { .. }) | Err(Error::InvalidArgument { .. }) => {}
        Err(other) => panic!("unexpected error kind: {other:?}"),
    }
}

/// Pieces CSV files are made of, for mutations that reach deep into the reader.
fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b",".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"\"\"".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r".to_vec()),
        Just("王五".as_bytes().to_vec()),
        Just(vec![0xCD, 0xF5]), // 王 in GBK
        Just(vec![0xEF, 0xBB, 0xBF]),
        Just(vec![0xFF]),
        Just(vec![0x81]),
        Just(b"13812345678".to_vec()),
        Just(b"=1+1".to_vec()),
        Just(b"'=".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..8),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_the_csv_reader(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        for encoding in [CsvEncoding::Auto, CsvEncoding::Utf8, CsvEncoding::Gbk] {
            specific(read_all(&bytes, encoding));
        }
    }

    #[test]
    fn files_built_from_csv_pieces_never_panic(pieces in proptest::collection::vec(piece(), 0..64), header in 0usize..3) {
        let headers: [&[u8]; 3] = ["姓名,手机,备注\r\n".as_bytes(), b"name,mobile\n", b"\"name\",\"notes\"\r\n"];
        let mut bytes = headers[header].to_vec();
        for p in pieces {
            bytes.extend_from_slice(&p);
        }
        specific(read_all(&bytes, CsvEncoding::Auto));
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let (gbk, _, _) = encoding_rs::GBK.encode(&text);
        specific(read_all(&gbk, CsvEncoding::Gbk));
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_khzl_reader(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        match khzl::parse(&bytes) {
            Ok(records) => prop_assert!(records.len() <= bytes.len() / khzl::RECORD_LEN),
            Err(Error::Invalid { .. }) => {}
            Err(other) => panic!("unexpected error kind: {other:?}"),
        }
    }

    #[test]
    fn khzl_files_of_the_right_size_with_random_records_never_panic(fill in proptest::collection::vec(any::<u8>(), 220)) {
        // One record slot of the prototype's layout repeated, with random content.
        let bytes: Vec<u8> = fill.iter().cycle().take(220 * 3).copied().collect();
        match khzl::parse(&bytes) {
            Ok(_) | Err(Error::Invalid { .. }) => {}
            Err(other) => panic!("unexpected error kind: {other:?}"),
        }
    }
}
