//! The gateway's one decoder of server-sent events (`text/event-stream`), for the legacy
//! SSE transport's event stream and for the HTTP lane's answers.
//!
//! Parsing follows the HTML standard's rules: lines end with CRLF, LF or CR; a line
//! starting with `:` is a comment; `field: value` loses one space after the colon; a line
//! without a colon is a field with an empty value; unknown fields are ignored; a blank line
//! dispatches the event if it had a `data` line, whose lines are joined with `\n`; a BOM at
//! the start of the stream is skipped; an event the stream ends in the middle of is dropped.
//!
//! The caller pulls each event ([`Decoder::next`], [`Decoder::event`]) before handing
//! the decoder its next chunk ([`Decoder::push`]), so the decoder holds one chunk and one
//! event, never a queue: a chunk costs no allocation, and an event's data is copied once,
//! into a buffer reused from event to event.
//!
//! The size cap bounds what the event being read holds, so an upstream that never ends
//! its event cannot grow our memory without bound: the completed, non-comment lines of the
//! event (each counting one more byte, for the newline data lines are joined with) plus
//! the line being read. Comments (keep-alives) are not kept, so they count only while
//! being read.

use bytes::Bytes;

/// The event being read exceeded the cap.
#[derive(Debug, thiserror::Error)]
#[error("an SSE event exceeded the maximum size of {max} bytes")]
pub struct EventTooLarge {
    pub max: usize,
}

/// A dispatched event, borrowed from the decoder until its next [`Decoder::next`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    /// The event type: `message` unless the event named another.
    pub event: &'a [u8],
    /// The values of its `data` lines, joined by `\n`.
    pub data: &'a [u8],
    /// Its `id` field, if it had one. (The standard's last-event-ID bookkeeping is left
    /// to a caller that resumes streams; none does.)
    pub id: Option<&'a [u8]>,
    /// The reconnection time it asked for, in milliseconds.
    pub retry: Option<u64>,
}

/// The event type of an event that names none.
const MESSAGE: &[u8] = b"message";
/// A buffer grown past this for one large event is freed rather than kept for the next.
const KEEP_CAPACITY: usize = 64 * 1024;

/// An incremental `text/event-stream` decoder; see the module documentation.
#[derive(Debug)]
pub struct Decoder {
    /// The chunk being parsed, and how far.
    input: Bytes,
    pos: usize,
    /// A line that began in an earlier chunk.
    partial: Vec<u8>,
    /// The last line ended with `\r` at the end of a chunk: a `\n` opening the next one
    /// belongs to the same line break.
    skip_lf: bool,
    /// No line has been parsed yet (a BOM may open the stream).
    first_line: bool,
    fields: Fields,
}

/// The event being read.
#[derive(Debug)]
struct Fields {
    max: usize,
    /// What the event holds, as counted against `max`.
    size: usize,
    data: Vec<u8>,
    has_data: bool,
    /// Empty for `message`.
    kind: Vec<u8>,
    id: Vec<u8>,
    has_id: bool,
    retry: Option<u64>,
    /// Complete and dispatched: readable until the next call to [`Decoder::next`].
    ready: bool,
}

impl Decoder {
    /// A decoder that fails once an event exceeds `max_event_size` bytes. Allocates
    /// nothing until it is given input.
    pub fn new(max_event_size: usize) -> Self {
        Self {
            input: Bytes::new(),
            pos: 0,
            partial: Vec::new(),
            skip_lf: false,
            first_line: true,
            fields: Fields {
                max: max_event_size,
                size: 0,
                data: Vec::new(),
                has_data: false,
                kind: Vec::new(),
                id: Vec::new(),
                has_id: false,
                retry: None,
                ready: false,
            },
        }
    }

    /// Hands the decoder the next chunk of the stream, once [`next`](Self::next) has
    /// returned `Ok(false)`.
    pub fn push(&mut self, chunk: Bytes) {
        if self.pos < self.input.len() {
            // Events left unread: keep the rest of the last chunk ahead of this one.
            let mut joined = Vec::with_capacity(self.input.len() - self.pos + chunk.len());
            joined.extend_from_slice(&self.input[self.pos..]);
            joined.extend_from_slice(&chunk);
            self.input = joined.into();
        } else {
            self.input = chunk;
        }
        self.pos = 0;
    }

    /// Parses up to the end of the next event: `Ok(true)` when one was dispatched (read
    /// it with [`event`](Self::event)), `Ok(false)` when the input so far is used up.
    pub fn next(&mut self) -> Result<bool, EventTooLarge> {
        if std::mem::take(&mut self.fields.ready) {
            self.fields.clear();
        }
        loop {
            let rest = &self.input[self.pos..];
            let Some(&first) = rest.first() else {
                return Ok(false);
            };
            if std::mem::take(&mut self.skip_lf) && first == b'\n' {
                self.pos += 1;
                continue;
            }
            let Some(end) = memchr::memchr2(b'\n', b'\r', rest) else {
                // An unfinished line: keep it for the next chunk.
                self.fields.check(self.partial.len() + rest.len())?;
                self.partial.extend_from_slice(rest);
                self.pos = self.input.len();
                return Ok(false);
            };
            let line = self.pos..self.pos + end;
            self.pos = line.end + 1;
            if rest[end] == b'\r' {
                match self.input.get(self.pos) {
                    Some(b'\n') => self.pos += 1,
                    None => self.skip_lf = true,
                    Some(_) => {}
                }
            }
            let dispatched = if self.partial.is_empty() {
                let line = strip_bom(&mut self.first_line, &self.input[line]);
                self.fields.line(line)?
            } else {
                self.fields.check(self.partial.len() + line.len())?;
                self.partial.extend_from_slice(&self.input[line]);
                let line = strip_bom(&mut self.first_line, &self.partial);
                let dispatched = self.fields.line(line);
                self.partial.clear();
                if self.partial.capacity() > KEEP_CAPACITY {
                    self.partial = Vec::new();
                }
                dispatched?
            };
            if dispatched {
                return Ok(true);
            }
        }
    }

    /// The event [`next`](Self::next) dispatched.
    pub fn event(&self) -> Event<'_> {
        let fields = &self.fields;
        Event {
            event: if fields.kind.is_empty() {
                MESSAGE
            } else {
                &fields.kind
            },
            data: &fields.data,
            id: fields.has_id.then_some(&fields.id[..]),
            retry: fields.retry,
        }
    }
}

/// `line` without the byte order mark that may open the stream.
fn strip_bom<'a>(first_line: &mut bool, line: &'a [u8]) -> &'a [u8] {
    if !std::mem::take(first_line) {
        return line;
    }
    line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line)
}

impl Fields {
    /// Fails if the event would hold more than the cap with `line` bytes more.
    fn check(&self, line: usize) -> Result<(), EventTooLarge> {
        if self.size + line > self.max {
            return Err(EventTooLarge { max: self.max });
        }
        Ok(())
    }

    /// Takes one complete line; `true` when it dispatched the event.
    fn line(&mut self, line: &[u8]) -> Result<bool, EventTooLarge> {
        if line.is_empty() {
            if self.has_data {
                self.ready = true;
                return Ok(true);
            }
            self.clear();
            return Ok(false);
        }
        if line[0] == b':' {
            self.check(line.len())?;
            return Ok(false);
        }
        // +1: data lines are joined with a newline.
        self.check(line.len() + 1)?;
        self.size += line.len() + 1;
        let (name, value) = match memchr::memchr(b':', line) {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match name {
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"event" => {
                self.kind.clear();
                if value != MESSAGE {
                    self.kind.extend_from_slice(value);
                }
            }
            b"id" if !value.contains(&0) => {
                self.id.clear();
                self.id.extend_from_slice(value);
                self.has_id = true;
            }
            b"retry" => {
                if let Some(millis) = digits(value) {
                    self.retry = Some(millis);
                }
            }
            _ => {}
        }
        Ok(false)
    }

    /// Starts a new event.
    fn clear(&mut self) {
        self.size = 0;
        self.data.clear();
        if self.data.capacity() > KEEP_CAPACITY {
            self.data = Vec::new();
        }
        self.has_data = false;
        self.kind.clear();
        self.id.clear();
        self.has_id = false;
        self.retry = None;
    }
}

/// A `retry` value: ASCII digits only, else ignored.
fn digits(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An event, owned, as the tests compare them.
    #[derive(Debug, PartialEq, Eq)]
    struct Owned {
        event: String,
        data: String,
        id: Option<String>,
        retry: Option<u64>,
    }

    fn text(bytes: &[u8]) -> String {
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    fn owned(event: Event<'_>) -> Owned {
        Owned {
            event: text(event.event),
            data: text(event.data),
            id: event.id.map(text),
            retry: event.retry,
        }
    }

    fn message(data: &str) -> Owned {
        Owned {
            event: "message".into(),
            data: data.into(),
            id: None,
            retry: None,
        }
    }

    /// Every event of a stream that arrives in `chunks`.
    fn decode_chunks(max: usize, chunks: &[&[u8]]) -> Result<Vec<Owned>, EventTooLarge> {
        let mut decoder = Decoder::new(max);
        let mut events = Vec::new();
        for chunk in chunks {
            decoder.push(Bytes::copy_from_slice(chunk));
            while decoder.next()? {
                events.push(owned(decoder.event()));
            }
        }
        Ok(events)
    }

    fn decode(stream: &[u8]) -> Vec<Owned> {
        decode_chunks(usize::MAX, &[stream]).unwrap()
    }

    /// The stream whole, then cut at every byte, then one byte at a time: same events.
    fn decode_every_way(stream: &[u8]) -> Vec<Owned> {
        let whole = decode(stream);
        for cut in 0..=stream.len() {
            let (a, b) = stream.split_at(cut);
            let split = decode_chunks(usize::MAX, &[a, b]).unwrap();
            assert_eq!(split, whole, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(decode_chunks(usize::MAX, &bytes).unwrap(), whole);
        whole
    }

    #[test]
    fn lines_end_with_crlf_lf_or_cr() {
        for stream in [
            &b"data: a\n\ndata: b\n\n"[..],
            b"data: a\r\n\r\ndata: b\r\n\r\n",
            b"data: a\r\rdata: b\r\r",
            b"data: a\r\n\ndata: b\n\r",
        ] {
            assert_eq!(
                decode_every_way(stream),
                [message("a"), message("b")],
                "{stream:?}"
            );
        }
        // A CR then an LF is one line break, even across chunks; CR CR is two.
        assert_eq!(
            decode_chunks(usize::MAX, &[b"data: a\r", b"\ndata: b\r\n\r\n"]).unwrap(),
            [message("a\nb")]
        );
        assert_eq!(
            decode(b"data: a\r\rdata: b\r\n\r\n"),
            [message("a"), message("b")]
        );
    }

    #[test]
    fn data_lines_are_joined_with_newlines() {
        assert_eq!(
            decode_every_way(b"data: x\ndata: y\ndata\ndata:  z\ndata:w\n\n"),
            [message("x\ny\n\n z\nw")]
        );
        // An empty `data` line still makes an event (rmcp's priming events).
        assert_eq!(decode(b"data: \nid: 0/0\nretry: 3000\n\n")[0].data, "");
    }

    #[test]
    fn comments_and_events_without_data_dispatch_nothing() {
        assert_eq!(
            decode_every_way(b": keep-alive\n\n:\n\nid: 1\n\nevent: x\n\nretry: 5\n\n"),
            []
        );
        assert_eq!(
            decode_every_way(b"data: a\n: a comment inside the event\ndata: b\n\n"),
            [message("a\nb")]
        );
    }

    #[test]
    fn event_id_and_retry_fields_are_reported_per_event() {
        let events = decode_every_way(
            b"event: endpoint\nid: 7\nretry: 3000\ndata: /messages\n\n\
              event: message\ndata: {}\n\n\
              id: bad\0id\nretry: 1.5\nevent\ndata: z\n\n",
        );
        assert_eq!(
            events,
            [
                Owned {
                    event: "endpoint".into(),
                    data: "/messages".into(),
                    id: Some("7".into()),
                    retry: Some(3000),
                },
                message("{}"),
                message("z"),
            ]
        );
        // The last value of a repeated field wins; unknown fields are ignored.
        let events =
            decode(b"event: a\nevent: b\nid: 1\nid: 2\nfoo: bar\ndatabase: x\ndata: y\n\n");
        assert_eq!(events[0].event, "b");
        assert_eq!(events[0].id.as_deref(), Some("2"));
        assert_eq!(events[0].data, "y");
    }

    #[test]
    fn a_field_without_a_colon_has_an_empty_value() {
        assert_eq!(decode_every_way(b"data\n\n"), [message("")]);
        assert_eq!(decode_every_way(b"data\ndata\n\n"), [message("\n")]);
        assert_eq!(
            decode_every_way(b"event: other\nevent\nid\ndata: x\n\n"),
            [Owned {
                id: Some(String::new()),
                ..message("x")
            }]
        );
        assert_eq!(decode(b"nonsense\ndata: x\n\n"), [message("x")]);
    }

    #[test]
    fn events_split_across_chunks_arrive_whole() {
        let stream = b"id: 0\nretry: 3000\ndata:\n\ndata: {\"a\":1}\r\n\r\n: keep-alive\n\ndata: x\ndata: y\n\n";
        let events = decode_every_way(stream);
        let data: Vec<_> = events.iter().map(|e| e.data.as_str()).collect();
        assert_eq!(data, ["", r#"{"a":1}"#, "x\ny"]);
    }

    #[test]
    fn a_stream_that_ends_mid_event_drops_that_event() {
        assert_eq!(
            decode_every_way(b"data: a\n\ndata: partial"),
            [message("a")]
        );
        assert_eq!(decode_every_way(b"data: a\n\ndata: b\n"), [message("a")]);
        assert_eq!(decode_every_way(b"data: a\n\ndata: b\r"), [message("a")]);
    }

    #[test]
    fn a_byte_order_mark_opens_the_stream_only() {
        assert_eq!(decode_every_way(b"\xEF\xBB\xBFdata: a\n\n"), [message("a")]);
        assert_eq!(
            decode_every_way(b"data: a\n\n\xEF\xBB\xBFdata: b\n\n"),
            [message("a")],
            "later, it is part of a field name"
        );
    }

    fn fits(max: usize, chunks: &[&[u8]]) -> bool {
        decode_chunks(max, chunks).is_ok()
    }

    #[test]
    fn the_size_cap_counts_the_event_in_progress() {
        assert!(
            fits(9, &[b"data: ab\n\n"]),
            "exactly at the cap, with the join newline"
        );
        assert!(!fits(8, &[b"data: ab\n\n"]));
        assert!(!fits(8, &[b"data: abc"]), "an unfinished line counts");
        assert!(!fits(8, &[b"data: a", b"bc"]), "split across chunks");
        assert!(
            !fits(18, &[b"data: aaa\ndata: bbb\n"]),
            "lines of one event add up"
        );
        let error = decode_chunks(8, &[b"data: abcdefgh\n\n"]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "an SSE event exceeded the maximum size of 8 bytes"
        );
    }

    #[test]
    fn the_size_cap_starts_afresh_with_each_event() {
        assert!(fits(
            8,
            &[
                b"data: a\n\ndata: b\n\ndata: c\r\n\r\n",
                b"data: d\r",
                b"\n\r\n"
            ]
        ));
        assert!(fits(8, &[b"id: 123\n\nid: 456\n\ndata: x\n\n"]));
    }

    #[test]
    fn completed_comments_are_not_kept() {
        assert!(fits(8, &[b": ping\n: ping\n: ping\ndata: x\n\n"]));
        assert!(
            !fits(8, &[b": a very long comment"]),
            "an unfinished line is buffered"
        );
    }

    #[test]
    fn events_before_an_oversized_one_are_delivered() {
        let mut decoder = Decoder::new(16);
        decoder.push(Bytes::from_static(
            b"data: small\n\ndata: much too large for the cap",
        ));
        assert!(decoder.next().unwrap());
        assert_eq!(decoder.event().data, b"small");
        assert!(decoder.next().is_err());
    }

    #[test]
    fn unread_input_is_kept_when_more_is_pushed() {
        let mut decoder = Decoder::new(usize::MAX);
        decoder.push(Bytes::from_static(b"data: a\n\ndata: b\n\nda"));
        assert!(decoder.next().unwrap());
        decoder.push(Bytes::from_static(b"ta: c\n\n"));
        let mut rest = Vec::new();
        while decoder.next().unwrap() {
            rest.push(text(decoder.event().data));
        }
        assert_eq!(rest, ["b", "c"]);
    }
}
