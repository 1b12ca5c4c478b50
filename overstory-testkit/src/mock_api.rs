//! A local mock of the Anthropic Messages API, so the real Claude Code
//! binary can run offline in tests.
//!
//! [`MockApi::start`] binds `127.0.0.1:0` and serves on a background thread
//! (one thread per connection, HTTP/1.1, `Connection: close`).
//! `POST /v1/messages` with `"stream": true` answers with Server-Sent Events
//! in the Messages API shape; the replies of agent-loop requests (those that
//! offer tools) come from a queue each test fills with [`Reply`]s, and fall
//! back to a plain "done" text when the queue is empty. Side requests
//! without tools (titles, summaries) get a short text without consuming the
//! queue. `count_tokens` answers a count; every other path is recorded as
//! unknown and answered `{}` (200 for `HEAD`/`GET /`, 404 otherwise).
//!
//! Point Claude Code at it with [`MockApi::claude_env`].

use std::collections::VecDeque;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};

/// One scripted answer to an agent-loop request.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Assistant text, then `end_turn`.
    Text(String),
    /// One tool call, then `tool_use` (Claude runs the tool and asks again).
    ToolUse {
        /// Tool name (`Bash`, `Write`, `Edit`).
        name: String,
        /// Tool input.
        input: Value,
    },
    /// An HTTP error with an Anthropic error body.
    Error {
        /// HTTP status (400 is not retried by Claude Code; 5xx/429 are).
        status: u16,
        /// Error type (`invalid_request_error`).
        kind: String,
        /// Message.
        message: String,
    },
    /// Accept the request and never answer (until the mock is dropped).
    Hang,
}

impl Reply {
    /// Text reply.
    pub fn text(t: &str) -> Self {
        Self::Text(t.to_owned())
    }

    /// A `Bash` tool call.
    pub fn bash(command: &str) -> Self {
        Self::ToolUse {
            name: "Bash".into(),
            input: json!({"command": command, "description": "scripted by the mock API"}),
        }
    }

    /// A `Write` tool call.
    pub fn write(path: &str, content: &str) -> Self {
        Self::ToolUse {
            name: "Write".into(),
            input: json!({"file_path": path, "content": content}),
        }
    }

    /// An `Edit` tool call.
    pub fn edit(path: &str, old: &str, new: &str) -> Self {
        Self::ToolUse {
            name: "Edit".into(),
            input: json!({"file_path": path, "old_string": old, "new_string": new}),
        }
    }
}

/// A request the mock received.
#[derive(Debug, Clone)]
pub struct Request {
    /// HTTP method.
    pub method: String,
    /// Path with query.
    pub path: String,
    /// Parsed JSON body (`Null` when absent or not JSON).
    pub body: Value,
}

impl Request {
    /// Returns whether this was an agent-loop `/v1/messages` call (it offers tools).
    pub fn is_agent_loop(&self) -> bool {
        self.path.starts_with("/v1/messages")
            && !self.path.contains("count_tokens")
            && self
                .body
                .get("tools")
                .and_then(Value::as_array)
                .is_some_and(|t| !t.is_empty())
    }
}

#[derive(Debug, Default)]
struct State {
    replies: VecDeque<Reply>,
    requests: Vec<Request>,
    unknown: Vec<String>,
    tool_counter: u64,
}

/// The running mock. Stops serving when dropped.
#[derive(Debug)]
pub struct MockApi {
    port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MockApi {
    /// Starts the mock on a free local port.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind mock API");
        let port = listener.local_addr().expect("mock API address").port();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let state = state.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let state = state.clone();
                    let stop = stop.clone();
                    std::thread::spawn(move || {
                        let _ = serve(conn, &state, &stop);
                    });
                }
            })
        };
        Self {
            port,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// Returns the base URL (`http://127.0.0.1:<port>`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Queues replies for the next agent-loop requests, in order.
    pub fn push(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.lock().unwrap().replies.extend(replies);
    }

    /// Returns every request received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Returns the agent-loop requests received so far.
    pub fn agent_requests(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(Request::is_agent_loop)
            .collect()
    }

    /// Returns `METHOD path` of requests the mock did not recognise.
    pub fn unknown_requests(&self) -> Vec<String> {
        self.state.lock().unwrap().unknown.clone()
    }

    /// Returns the environment that points Claude Code at this mock, with
    /// `home` as its `HOME` (keep it a fresh temp dir per test).
    pub fn claude_env(&self, home: &Path) -> Vec<(String, String)> {
        vec![
            ("ANTHROPIC_BASE_URL".into(), self.url()),
            ("ANTHROPIC_API_KEY".into(), "test".into()),
            (
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".into(),
                "1".into(),
            ),
            ("DISABLE_AUTOUPDATER".into(), "1".into()),
            ("IS_SANDBOX".into(), "1".into()),
            ("HOME".into(), home.display().to_string()),
            (
                "XDG_CONFIG_HOME".into(),
                home.join(".config").display().to_string(),
            ),
        ]
    }
}

impl Drop for MockApi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Unblock accept().
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(conn: TcpStream, state: &Mutex<State>, stop: &AtomicBool) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(());
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut length = 0usize;
    let mut chunked = false;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        let lower = h.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
    }
    let body = if chunked {
        read_chunked(&mut reader)?
    } else {
        let mut b = vec![0; length];
        reader.read_exact(&mut b)?;
        b
    };
    let req = Request {
        method: method.clone(),
        path: path.clone(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    let mut conn = conn;
    let is_messages = method == "POST" && path.starts_with("/v1/messages");
    if is_messages && path.contains("count_tokens") {
        state.lock().unwrap().requests.push(req);
        return respond_json(&mut conn, 200, &json!({"input_tokens": 100}));
    }
    if !is_messages {
        state
            .lock()
            .unwrap()
            .unknown
            .push(format!("{method} {path}"));
        state.lock().unwrap().requests.push(req);
        let status = if method == "HEAD" || path == "/" {
            200
        } else {
            404
        };
        return respond_json(&mut conn, status, &json!({}));
    }
    let agent_loop = req.is_agent_loop();
    let stream = req.body.get("stream").and_then(Value::as_bool) == Some(true);
    let model = req
        .body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("claude-mock")
        .to_owned();
    let (reply, tool_id) = {
        let mut s = state.lock().unwrap();
        s.requests.push(req);
        let reply = if agent_loop {
            s.replies.pop_front().unwrap_or_else(|| Reply::text("done"))
        } else {
            Reply::text("Mock title")
        };
        s.tool_counter += 1;
        (reply, format!("toolu_mock_{:04}", s.tool_counter))
    };
    match reply {
        Reply::Hang => {
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
            Ok(())
        }
        Reply::Error {
            status,
            kind,
            message,
        } => respond_json(
            &mut conn,
            status,
            &json!({"type": "error", "error": {"type": kind, "message": message}}),
        ),
        Reply::Text(text) => {
            let block = json!({"type": "text", "text": ""});
            let delta = json!({"type": "text_delta", "text": text});
            let full = json!({"type": "text", "text": text});
            answer(&mut conn, stream, &model, block, delta, full, "end_turn")
        }
        Reply::ToolUse { name, input } => {
            let block = json!({"type": "tool_use", "id": tool_id, "name": name, "input": {}});
            let delta = json!({"type": "input_json_delta", "partial_json": input.to_string()});
            let full = json!({"type": "tool_use", "id": tool_id, "name": name, "input": input});
            answer(&mut conn, stream, &model, block, delta, full, "tool_use")
        }
    }
}

fn read_chunked(reader: &mut BufReader<TcpStream>) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size)?;
        let n =
            usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
        if n == 0 {
            let mut end = String::new();
            reader.read_line(&mut end)?;
            return Ok(out);
        }
        let mut chunk = vec![0; n + 2];
        reader.read_exact(&mut chunk)?;
        chunk.truncate(n);
        out.extend(chunk);
    }
}

fn respond_json(conn: &mut TcpStream, status: u16, body: &Value) -> std::io::Result<()> {
    let text = body.to_string();
    write!(
        conn,
        "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nrequest-id: req_mock\r\nconnection: close\r\n\r\n{text}",
        reason(status),
        text.len()
    )?;
    conn.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        529 => "Overloaded",
        _ => "Status",
    }
}

fn answer(
    conn: &mut TcpStream,
    stream: bool,
    model: &str,
    start_block: Value,
    delta: Value,
    full_block: Value,
    stop_reason: &str,
) -> std::io::Result<()> {
    let usage = json!({"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0});
    if !stream {
        let msg = json!({
            "id": "msg_mock", "type": "message", "role": "assistant", "model": model,
            "content": [full_block], "stop_reason": stop_reason, "stop_sequence": null, "usage": usage,
        });
        return respond_json(conn, 200, &msg);
    }
    write!(
        conn,
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nrequest-id: req_mock\r\nconnection: close\r\n\r\n"
    )?;
    let events = [
        (
            "message_start",
            json!({"type": "message_start", "message": {
                "id": "msg_mock", "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 10, "output_tokens": 1},
            }}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": start_block}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": delta}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null}, "usage": {"output_tokens": 5}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ];
    for (name, data) in events {
        write!(conn, "event: {name}\ndata: {data}\n\n")?;
        conn.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(mock: &MockApi, path: &str, body: &Value) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", mock.port)).unwrap();
        let text = body.to_string();
        write!(s, "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{text}", text.len()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    fn agent_body() -> Value {
        json!({"model": "m", "stream": true, "tools": [{"name": "Bash"}], "messages": []})
    }

    #[test]
    fn queued_replies_stream_in_order_then_default_to_done() {
        let mock = MockApi::start();
        mock.push([Reply::bash("ls"), Reply::text("hi")]);
        let a = post(&mock, "/v1/messages?beta=true", &agent_body());
        assert!(a.starts_with("HTTP/1.1 200") && a.contains("text/event-stream"));
        assert!(
            a.contains("\"type\":\"tool_use\"")
                && a.contains("input_json_delta")
                && a.contains("\"stop_reason\":\"tool_use\"")
        );
        let b = post(&mock, "/v1/messages", &agent_body());
        assert!(b.contains("\"text\":\"hi\"") && b.contains("end_turn"));
        let c = post(&mock, "/v1/messages", &agent_body());
        assert!(c.contains("\"text\":\"done\""));
        assert_eq!(mock.agent_requests().len(), 3);
    }

    #[test]
    fn side_requests_do_not_consume_the_queue_and_unknown_paths_are_recorded() {
        let mock = MockApi::start();
        mock.push([Reply::text("for the agent")]);
        let side = post(
            &mock,
            "/v1/messages",
            &json!({"model": "m", "stream": false, "messages": []}),
        );
        assert!(side.contains("Mock title") && side.contains("application/json"));
        let count = post(&mock, "/v1/messages/count_tokens", &json!({}));
        assert!(count.contains("input_tokens"));
        let unknown = post(&mock, "/api/whatever", &json!({}));
        assert!(unknown.starts_with("HTTP/1.1 404"));
        assert_eq!(mock.unknown_requests(), ["POST /api/whatever"]);
        assert!(post(&mock, "/v1/messages", &agent_body()).contains("for the agent"));
    }

    #[test]
    fn errors_carry_status_and_anthropic_error_body() {
        let mock = MockApi::start();
        mock.push([Reply::Error {
            status: 529,
            kind: "overloaded_error".into(),
            message: "busy".into(),
        }]);
        let r = post(&mock, "/v1/messages", &agent_body());
        assert!(r.starts_with("HTTP/1.1 529"));
        assert!(r.contains("\"overloaded_error\""));
    }

    #[test]
    fn hang_holds_the_connection_until_the_mock_is_dropped() {
        let mock = MockApi::start();
        mock.push([Reply::Hang]);
        let mut s = TcpStream::connect(("127.0.0.1", mock.port)).unwrap();
        let body = agent_body().to_string();
        write!(
            s,
            "POST /v1/messages HTTP/1.1\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut buf = [0u8; 16];
        let err = s.read(&mut buf).unwrap_err();
        assert!(matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ));
        drop(mock);
    }
}
