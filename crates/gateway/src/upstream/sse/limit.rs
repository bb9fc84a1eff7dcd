//! A byte-level cap on the size of one SSE event.
//!
//! The SSE parser buffers a whole event (and an unfinished line) before yielding it, so an
//! upstream that never ends its event could grow our memory without bound. This counter
//! watches the raw bytes on their way to the parser and fails once the event in progress
//! exceeds the cap. Comment lines (keep-alives) are not retained by the parser, so they only
//! count while they are being read.

/// The event in progress exceeded the cap.
#[derive(Debug, thiserror::Error)]
#[error("an SSE event exceeded the maximum size of {max} bytes")]
pub struct EventTooLarge {
    pub max: usize,
}

#[derive(Debug)]
pub struct EventSizeLimit {
    max: usize,
    /// Bytes of the completed, non-comment lines of the current event.
    event: usize,
    /// Bytes of the line being read.
    line: usize,
    line_is_comment: bool,
    /// The last byte was `\r`: a following `\n` belongs to the same line break.
    after_cr: bool,
}

impl EventSizeLimit {
    pub fn new(max: usize) -> Self {
        Self {
            max,
            event: 0,
            line: 0,
            line_is_comment: false,
            after_cr: false,
        }
    }

    /// Accounts for the next chunk of the stream.
    pub fn observe(&mut self, chunk: &[u8]) -> Result<(), EventTooLarge> {
        for &byte in chunk {
            if std::mem::take(&mut self.after_cr) && byte == b'\n' {
                continue;
            }
            match byte {
                b'\r' | b'\n' => {
                    self.end_line();
                    self.after_cr = byte == b'\r';
                }
                _ => {
                    if self.line == 0 {
                        self.line_is_comment = byte == b':';
                    }
                    self.line += 1;
                }
            }
            if self.event + self.line > self.max {
                return Err(EventTooLarge { max: self.max });
            }
        }
        Ok(())
    }

    fn end_line(&mut self) {
        if self.line == 0 {
            // A blank line dispatches the event: start counting afresh.
            self.event = 0;
        } else if !self.line_is_comment {
            // +1: the parser joins data lines with a newline.
            self.event += self.line + 1;
        }
        self.line = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fits(max: usize, chunks: &[&[u8]]) -> bool {
        let mut limit = EventSizeLimit::new(max);
        chunks.iter().all(|c| limit.observe(c).is_ok())
    }

    #[test]
    fn counts_the_event_in_progress() {
        assert!(
            fits(9, &[b"data: ab\n\n"]),
            "exactly at the cap, with the join newline"
        );
        assert!(!fits(8, &[b"data: abc"]));
        assert!(!fits(8, &[b"data: a", b"bc"]), "split across chunks");
        assert!(
            !fits(18, &[b"data: aaa\ndata: bbb\n"]),
            "lines of one event add up"
        );
    }

    #[test]
    fn resets_after_each_event() {
        assert!(fits(
            8,
            &[
                b"data: a\n\ndata: b\n\ndata: c\r\n\r\n",
                b"data: d\r",
                b"\n\r\n"
            ]
        ));
    }

    #[test]
    fn completed_comments_are_not_retained() {
        assert!(fits(8, &[b": ping\n: ping\n: ping\ndata: x\n\n"]));
        assert!(
            !fits(8, &[b": a very long comment"]),
            "an unfinished line is buffered"
        );
    }
}
