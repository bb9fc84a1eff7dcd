//! Output: tables, `key: value` listings, JSON, and the one-line error. Text that came from
//! the gateway (names, descriptions, upstream errors) is cleaned of control characters before
//! it reaches a table or an error line, so an upstream cannot move the terminal's cursor.

use std::io::Write;

use comfy_table::{ContentArrangement, Table, presets};
use serde_json::Value;

/// Writes `text` and a newline to stdout. A closed pipe (`… | head`) is not an error.
pub fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}").and_then(|()| stdout.flush());
}

/// Writes `text` (and a newline unless it ends with one) to stdout or stderr, unchanged.
pub fn raw(text: &str, to_stderr: bool) {
    let newline = if text.ends_with('\n') { "" } else { "\n" };
    if to_stderr {
        let _ = write!(std::io::stderr().lock(), "{text}{newline}");
    } else {
        let mut stdout = std::io::stdout().lock();
        let _ = write!(stdout, "{text}{newline}").and_then(|()| stdout.flush());
    }
}

/// `error: <message>` on stderr, on one line.
pub fn error_line(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "error: {}", clean(message));
}

/// A note for the human on stderr (so stdout stays parseable).
pub fn note(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{message}");
}

/// Pretty JSON on stdout (`--json`).
pub fn json(value: &Value) {
    out(&serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()));
}

/// One line with no control characters: whitespace becomes a space, others are escaped.
pub fn clean(text: &str) -> String {
    let mut cleaned = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\r' | '\t' => cleaned.push(' '),
            c if c.is_control() => cleaned.extend(c.escape_unicode()),
            c => cleaned.push(c),
        }
    }
    cleaned
}

/// The first line of `text`, cleaned, cut to `max` characters with an ellipsis.
pub fn truncate(text: &str, max: usize) -> String {
    let first = text.trim().lines().next().unwrap_or_default();
    let cleaned = clean(first);
    let more_lines = text.trim().lines().nth(1).is_some();
    if cleaned.chars().count() <= max && !more_lines {
        return cleaned;
    }
    let kept: String = cleaned.chars().take(max.saturating_sub(1)).collect();
    format!("{}…", kept.trim_end())
}

/// A borderless table (`kubectl` style): header row, then one row per item, columns
/// separated by spaces, no trailing whitespace.
pub fn table<const N: usize>(header: [&str; N], rows: Vec<[String; N]>) -> String {
    let mut table = Table::new();
    table
        .load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header);
    for row in rows {
        table.add_row(row.map(|cell| clean(&cell)));
    }
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    table
        .lines()
        .map(|line| line.trim_end().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `key: value` lines with the values aligned.
pub fn key_values(pairs: &[(String, String)]) -> String {
    let width = pairs
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0)
        + 1;
    pairs
        .iter()
        .map(|(k, v)| {
            format!("{:<width$} {}", format!("{k}:"), clean(v))
                .trim_end()
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A JSON value as a table cell or listing value: strings bare, `-` for null/absent.
pub fn scalar(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) if s.is_empty() => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(true)) => "yes".into(),
        Some(Value::Bool(false)) => "no".into(),
        Some(Value::Array(items)) if items.is_empty() => "-".into(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Some(other) => other.to_string(),
    }
}

/// The string at `key`, or "" (for lookups that only need text).
pub fn str_at<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The array at `key` of an answer, or an empty slice.
pub fn items<'a>(answer: &'a Value, key: &str) -> &'a [Value] {
    answer
        .get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_removes_control_characters() {
        assert_eq!(clean("a\nb\tc\u{1b}[2J"), "a b c\\u{1b}[2J");
    }

    #[test]
    fn truncate_keeps_the_first_line_and_marks_cuts() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("0123456789abc", 10), "012345678…");
        assert_eq!(truncate("line one\nline two", 40), "line one…");
        assert_eq!(truncate("ééééé", 5), "ééééé");
    }

    #[test]
    fn tables_have_a_header_and_no_trailing_space() {
        let t = table(
            ["ID", "NAME"],
            vec![["a".into(), "first".into()], ["bb".into(), "x\ny".into()]],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines, ["ID  NAME", "a   first", "bb  x y"]);
    }

    #[test]
    fn key_values_align() {
        let kv = key_values(&[
            ("id".into(), "a".into()),
            ("transport".into(), "sse".into()),
        ]);
        assert_eq!(kv, "id:        a\ntransport: sse");
    }
}
