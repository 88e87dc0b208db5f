//! Dates as Shopify's libraries write them: RFC 3339 strings in session JSON, epoch
//! milliseconds in property arrays.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserializer, Serializer, de};
use serde_json::Value;
use time::{OffsetDateTime, format_description::well_known::Rfc3339, macros::format_description};

/// Formats `time` as `JSON.stringify(new Date(...))` does: UTC, millisecond precision.
pub(crate) fn to_rfc3339_millis(time: SystemTime) -> Result<String, String> {
    // Through epoch milliseconds: `OffsetDateTime::from(SystemTime)` panics on a date outside
    // its range, and a `SystemTime` can be anything.
    let millis = to_epoch_millis(time);
    let utc = OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .map_err(|_| "the date is out of range".to_owned())?;
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    utc.format(&format)
        .map_err(|error| format!("date cannot be written as RFC 3339: {error}"))
}

/// Parses an RFC 3339 date with any offset.
pub(crate) fn from_rfc3339(text: &str) -> Result<SystemTime, String> {
    let time = OffsetDateTime::parse(text, &Rfc3339)
        .map(SystemTime::from)
        // The text is not quoted: a misplaced value could be anything, a token included.
        .map_err(|error| format!("the string is not an RFC 3339 date ({error})"))?;
    // An offset can move a date at the edge of year 0 or 9999 out of the writable range.
    from_epoch_millis(to_epoch_millis(time))
        .map_err(|_| "the date is outside the years 0 to 9999 in UTC".to_string())?;
    Ok(time)
}

/// Milliseconds since the Unix epoch, negative before it; truncated to whole milliseconds.
pub(crate) fn to_epoch_millis(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => {
            // Round towards negative infinity, as JavaScript's Date does.
            let before = before.duration();
            let millis = i64::try_from(before.as_millis()).unwrap_or(i64::MAX);
            if before.subsec_nanos() % 1_000_000 == 0 {
                -millis
            } else {
                -millis - 1
            }
        }
    }
}

/// 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z: the dates session JSON can write.
const MIN_EPOCH_MILLIS: i64 = -62_167_219_200_000;
const MAX_EPOCH_MILLIS: i64 = 253_402_300_799_999;

/// The instant `millis` milliseconds after (or, negative, before) the Unix epoch. Only years
/// 0 to 9999 are accepted, so that every date read can be written back as RFC 3339.
pub(crate) fn from_epoch_millis(millis: i64) -> Result<SystemTime, String> {
    if !(MIN_EPOCH_MILLIS..=MAX_EPOCH_MILLIS).contains(&millis) {
        return Err(format!(
            "{millis} epoch milliseconds is outside the years 0 to 9999"
        ));
    }
    let offset = Duration::from_millis(millis.unsigned_abs());
    let time = if millis >= 0 {
        UNIX_EPOCH.checked_add(offset)
    } else {
        UNIX_EPOCH.checked_sub(offset)
    };
    time.ok_or_else(|| format!("{millis} epoch milliseconds is out of range"))
}

/// Reads a date from a JSON value: an RFC 3339 string, or epoch milliseconds as a number or a
/// numeric string (what Node's `new Date(Number(value))` accepts; a fraction is cut off, as
/// `Date` does).
pub(crate) fn from_json_value(value: &Value) -> Result<SystemTime, String> {
    match value {
        Value::Number(number) => match number.as_i64() {
            Some(millis) => from_epoch_millis(millis),
            None => from_float_millis(number.as_f64().unwrap_or(f64::NAN))
                .ok_or_else(|| format!("{number} epoch milliseconds is out of range"))?,
        },
        Value::String(text) => {
            let trimmed = text.trim();
            if let Ok(millis) = trimmed.parse::<i64>() {
                from_epoch_millis(millis)
            } else if let Some(time) = trimmed.parse::<f64>().ok().and_then(from_float_millis) {
                time
            } else {
                from_rfc3339(text)
            }
        }
        other => Err(format!(
            "expected an RFC 3339 string or epoch milliseconds, got {}",
            describe(other)
        )),
    }
}

/// Whole epoch milliseconds from a finite float, cut towards zero; `None` for NaN, infinities
/// and values far outside any date.
fn from_float_millis(millis: f64) -> Option<Result<SystemTime, String>> {
    #[allow(clippy::cast_possible_truncation)] // bounds checked just before
    (millis.is_finite() && millis.abs() < 9.0e15).then(|| from_epoch_millis(millis.trunc() as i64))
}

/// Names the kind of a JSON value for error messages, without its contents.
pub(crate) fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `#[serde(with = "...")]` support for `Option<SystemTime>` in session JSON.
pub(crate) mod optional_rfc3339 {
    use super::{Deserializer, Serializer, SystemTime, Value, de};

    // Serde's `with` calls this with a reference to the field's type.
    #[allow(clippy::ref_option)]
    pub(crate) fn serialize<S: Serializer>(
        time: &Option<SystemTime>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match time {
            Some(time) => {
                let text = super::to_rfc3339_millis(*time).map_err(serde::ser::Error::custom)?;
                serializer.serialize_some(&text)
            }
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<SystemTime>, D::Error> {
        let value: Value = serde::Deserialize::deserialize(deserializer)?;
        if value.is_null() {
            return Ok(None);
        }
        super::from_json_value(&value)
            .map(Some)
            .map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_out_of_range_is_an_error_not_a_panic() {
        let far = UNIX_EPOCH + Duration::from_secs(1_000_000_000_000);
        assert!(to_rfc3339_millis(far).is_err());
        let before = UNIX_EPOCH - Duration::from_secs(1_000_000_000_000);
        assert!(to_rfc3339_millis(before).is_err());
    }

    #[test]
    fn writes_milliseconds_in_utc() {
        let time = from_epoch_millis(4_070_908_800_000).unwrap();
        assert_eq!(to_rfc3339_millis(time).unwrap(), "2099-01-01T00:00:00.000Z");
        let time = from_epoch_millis(1_500).unwrap();
        assert_eq!(to_rfc3339_millis(time).unwrap(), "1970-01-01T00:00:01.500Z");
    }

    #[test]
    fn reads_any_offset_and_numbers() {
        let utc = from_rfc3339("2099-01-01T00:00:00Z").unwrap();
        let shifted = from_rfc3339("2099-01-01T02:00:00+02:00").unwrap();
        assert_eq!(utc, shifted);
        assert_eq!(
            from_json_value(&Value::from(4_070_908_800_000_i64)).unwrap(),
            utc
        );
        assert_eq!(from_json_value(&Value::from("4070908800000")).unwrap(), utc);
        assert_eq!(from_json_value(&Value::from("4.0709088e12")).unwrap(), utc);
        let before_epoch = from_json_value(&Value::from(-1.5)).unwrap();
        assert_eq!(
            to_epoch_millis(before_epoch),
            -1,
            "cut towards zero, as Date does"
        );
        assert!(from_json_value(&Value::from("NaN")).is_err());
        assert!(from_json_value(&Value::from("yesterday")).is_err());
        assert!(from_json_value(&Value::Bool(true)).is_err());
        assert!(from_json_value(&Value::from(253_402_300_800_000_i64)).is_err());
        let last = from_json_value(&Value::from(253_402_300_799_999_i64)).unwrap();
        assert_eq!(to_rfc3339_millis(last).unwrap(), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn epoch_millis_round_trip_before_and_after_epoch() {
        for millis in [-86_400_001_i64, -1, 0, 1, 1_577_836_800_000] {
            assert_eq!(to_epoch_millis(from_epoch_millis(millis).unwrap()), millis);
        }
    }
}
