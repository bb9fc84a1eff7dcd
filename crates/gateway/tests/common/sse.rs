//! Reading a legacy `GET /sse` stream event by event.

use std::time::Duration;

use serde_json::Value;

/// An open event stream.
pub struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

impl EventStream {
    /// Reads `response` (a `200 text/event-stream`) and its first event, `endpoint`:
    /// the stream and the path the session's messages are posted to.
    pub async fn open(response: reqwest::Response) -> (Self, String) {
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        let mut stream = Self {
            response,
            buffer: String::new(),
        };
        let first = stream.next_block().await;
        let endpoint = first
            .strip_prefix("event: endpoint\ndata: ")
            .unwrap_or_else(|| panic!("the first event is `endpoint`: {first:?}"))
            .to_owned();
        (stream, endpoint)
    }

    /// The next event block, without its blank line; keep-alive comments are skipped.
    pub async fn next_block(&mut self) -> String {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if block.starts_with(':') {
                    continue;
                }
                return block.trim_end().to_owned();
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.response.chunk())
                .await
                .expect("an SSE event within 10 s")
                .unwrap()
                .expect("the stream is open");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The next `message` event's JSON-RPC message.
    pub async fn message(&mut self) -> Value {
        let block = self.next_block().await;
        let data = block
            .strip_prefix("event: message\ndata: ")
            .unwrap_or_else(|| panic!("a message event: {block:?}"));
        serde_json::from_str(data).unwrap()
    }
}
