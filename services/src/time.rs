//! Time in the halls' zone. Times are stored in UTC and shown in Asia/Shanghai; China has no
//! daylight saving, so a fixed offset is exact.

use chrono::FixedOffset;

/// UTC+8, China Standard Time.
pub const SHANGHAI: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC+8 is a valid offset"),
};
