//! The prototype's saved file: consecutive 220-byte `khzl` structs written
//! with `fwrite`, GBK text in NUL-padded (or completely full) char arrays.
//!
//! ```c
//! typedef struct khzl {
//!     char bh[10]; char xm[15]; char dw[40]; char lb[15];
//!     char zw[15]; char sj[15]; char yx[30]; char bz[80];
//! } khzl;
//! ```
//!
//! Slots whose `bh` is `-1` are empty. Bytes after a field's NUL may be left
//! over from an earlier, longer value (the prototype edited in place), so
//! only the text before the first NUL counts.

use encoding_rs::GBK;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::{Error, Result};
use crate::model::{CustomerInput, Field};

/// Size of one record.
pub const RECORD_LEN: usize = 220;

/// The arrays of a record, in order: C name, size, and the field it maps to.
pub const LAYOUT: [(&str, usize, Field); 8] = [
    ("bh", 10, Field::ExternalCode),
    ("xm", 15, Field::Name),
    ("dw", 40, Field::Organisation),
    ("lb", 15, Field::Category),
    ("zw", 15, Field::Title),
    ("sj", 15, Field::Mobile),
    ("yx", 30, Field::Email),
    ("bz", 80, Field::Notes),
];

/// The `bh` of an empty slot.
const EMPTY_SLOT: &str = "-1";

/// One used slot of a legacy file, decoded. Its personal values are zeroed
/// on drop and never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct LegacyRecord {
    /// The record's number in the file, counted from 1 as the prototype's
    /// console showed it (and as every report and message says it).
    #[zeroize(skip)]
    pub slot: usize,
    /// The eight values in [`LAYOUT`] order (编号 姓名 单位 类别 职务 手机 邮箱 备注), trimmed.
    pub values: [String; 8],
}

impl std::fmt::Debug for LegacyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LegacyRecord").field("slot", &self.slot).field("code", &self.values[0]).finish_non_exhaustive()
    }
}

impl LegacyRecord {
    /// A record for slot `slot` from the eight values in [`LAYOUT`] order.
    pub fn new(slot: usize, values: [&str; 8]) -> LegacyRecord {
        LegacyRecord { slot, values: values.map(str::to_owned) }
    }

    /// The value of the array that maps to `field`, if any.
    pub fn get(&self, field: &Field) -> Option<&str> {
        LAYOUT.iter().position(|(_, _, f)| f == field).map(|i| self.values[i].as_str())
    }

    /// The record as an individual customer's input (empty values left out).
    pub fn to_input(&self) -> CustomerInput {
        let mut input = CustomerInput::individual();
        for ((_, _, field), value) in LAYOUT.iter().zip(&self.values) {
            if !value.is_empty() {
                input.insert(field.clone(), value.clone());
            }
        }
        input
    }
}

fn refuse(rule: &'static str, message: String) -> Error {
    Error::invalid("khzl_file", rule, message)
}

/// Decodes a whole legacy file: every used slot, in file order, or an
/// error that says why the file is not one (nothing is half-read).
pub fn parse(bytes: &[u8]) -> Result<Vec<LegacyRecord>> {
    if bytes.is_empty() {
        return Err(refuse("khzl_empty", "the file is empty; nothing was imported".into()));
    }
    if bytes.len() % RECORD_LEN != 0 {
        return Err(refuse(
            "khzl_length",
            format!(
                "the file is {} bytes, not a multiple of the {RECORD_LEN}-byte record: the last record is truncated ({} bytes over); nothing was imported",
                bytes.len(),
                bytes.len() % RECORD_LEN
            ),
        ));
    }
    let mut records = Vec::new();
    for (index, raw) in bytes.chunks_exact(RECORD_LEN).enumerate() {
        let slot = index + 1;
        let mut values: [String; 8] = Default::default();
        let mut offset = 0;
        for (i, (name, size, _)) in LAYOUT.iter().enumerate() {
            let array = &raw[offset..offset + size];
            offset += size;
            let text = array.split(|b| *b == 0).next().unwrap_or_default();
            // encoding_rs's GBK decoder also accepts GB18030's four-byte
            // sequences, which CP936 (the prototype's code page) never wrote:
            // the text must encode back to exactly the bytes it came from.
            let decoded = GBK
                .decode_without_bom_handling_and_without_replacement(text)
                .filter(|d| GBK.encode(d).0.as_ref() == text)
                .ok_or_else(|| {
                    refuse(
                        "khzl_not_legacy",
                        format!("record {slot}, array {name}: the text is not valid GBK; nothing was imported"),
                    )
                })?;
            if decoded.chars().any(char::is_control) {
                return Err(refuse(
                    "khzl_not_legacy",
                    format!(
                        "record {slot}, array {name}: control characters; this is not a legacy customer file, nothing was imported"
                    ),
                ));
            }
            values[i] = decoded.trim().to_owned();
        }
        if values[0] == EMPTY_SLOT {
            continue;
        }
        if values[0].is_empty() {
            return Err(refuse(
                "khzl_not_legacy",
                format!(
                    "record {slot}: the number (bh) is empty, which the prototype never wrote; nothing was imported"
                ),
            ));
        }
        records.push(LegacyRecord { slot, values });
    }
    Ok(records)
}

/// Encodes records (and `empty_slots` trailing empty slots) in the legacy
/// format, for handing data back to the prototype or building test files.
/// A value must encode in GBK and fit its array (it may fill it, without a NUL).
pub fn write(records: &[LegacyRecord], empty_slots: usize) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity((records.len() + empty_slots) * RECORD_LEN);
    for record in records {
        for ((name, size, _), value) in LAYOUT.iter().zip(&record.values) {
            let (encoded, _, unmappable) = GBK.encode(value);
            if unmappable {
                return Err(Error::invalid(
                    *name,
                    "khzl_not_gbk",
                    format!("record {}: array {name} has characters GBK cannot encode", record.slot),
                ));
            }
            if encoded.len() > *size {
                return Err(Error::invalid(
                    *name,
                    "khzl_too_long",
                    format!(
                        "record {}: array {name} holds {size} bytes, the value needs {}",
                        record.slot,
                        encoded.len()
                    ),
                ));
            }
            out.extend_from_slice(&encoded);
            out.resize(out.len() + size - encoded.len(), 0);
        }
    }
    for _ in 0..empty_slots {
        let start = out.len();
        out.resize(start + RECORD_LEN, 0);
        out[start..start + 2].copy_from_slice(EMPTY_SLOT.as_bytes());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_is_220_bytes() {
        assert_eq!(LAYOUT.iter().map(|(_, size, _)| size).sum::<usize>(), RECORD_LEN);
    }
}
