//! The message's date: the Date header in UTC plus its original offset, falling back to the
//! server's internal date when the header is missing or unreadable.

use mail_parser::{DateTime, HeaderName, Message};

use crate::record::{DateSource, MessageDate, ParseWarning};

pub fn message_date(
    message: &Message<'_>,
    internal_date: Option<i64>,
    warnings: &mut Vec<ParseWarning>,
) -> MessageDate {
    if message.header(HeaderName::Date).is_none() {
        warnings.push(ParseWarning::MissingDate);
        return fallback_date(internal_date);
    }
    let raw = message.header_raw(HeaderName::Date).unwrap_or_default();
    match message.date().filter(|d| plausible(d)) {
        Some(date) => MessageDate {
            utc: utc_rfc3339(date.to_timestamp()),
            offset_minutes: Some(offset_minutes(date)),
            source: DateSource::Header,
        },
        None => {
            warnings.push(ParseWarning::UnparseableDate(raw.trim().to_string()));
            fallback_date(internal_date)
        }
    }
}

/// The internal date, or the Unix epoch marked as `none` when the server gave none either.
pub fn fallback_date(internal_date: Option<i64>) -> MessageDate {
    match internal_date {
        Some(seconds) => MessageDate {
            utc: utc_rfc3339(seconds),
            offset_minutes: None,
            source: DateSource::InternalDate,
        },
        None => MessageDate {
            utc: utc_rfc3339(0),
            offset_minutes: None,
            source: DateSource::None,
        },
    }
}

fn plausible(date: &DateTime) -> bool {
    date.is_valid() && (1970..=9999).contains(&date.year) && date.tz_hour <= 14
}

fn offset_minutes(date: &DateTime) -> i32 {
    let minutes = i32::from(date.tz_hour) * 60 + i32::from(date.tz_minute);
    if date.tz_before_gmt {
        -minutes
    } else {
        minutes
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the epoch.
pub fn utc_rfc3339(seconds: i64) -> String {
    let d = DateTime::from_timestamp(seconds);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        d.year, d.month, d.day, d.hour, d.minute, d.second
    )
}
