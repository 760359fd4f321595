//! One HTTP POST of a JSON body, on ureq's blocking client: a time limit per
//! request, no redirects (a POST body is not re-sent elsewhere), and the
//! outcome sorted into delivered, worth another try (connection errors, 5xx)
//! or final (timeouts, 4xx, anything else). The only place that speaks HTTP.

use std::io::Read;
use std::time::Duration;

use super::target::TargetUrl;

/// How much of an error answer's body is kept for the report.
const ANSWER_EXCERPT: u64 = 200;

/// What became of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostOutcome {
    /// a 2xx answer
    Delivered,
    /// a connection error or a 5xx answer: another try may succeed
    Retry(String),
    /// a timeout, a 4xx answer or a protocol error: trying again would not help
    Fail(String),
}

/// A blocking client shared by the requests of one target.
pub struct Client {
    agent: ureq::Agent,
    timeout: Duration,
}

impl Client {
    pub fn new(timeout: Duration) -> Client {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("vigil/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Client { agent, timeout }
    }

    /// POSTs `body` (JSON) to `url`, with a `Content-Length` (never chunked).
    pub fn post_json(&self, url: &TargetUrl, body: &[u8]) -> PostOutcome {
        let mut request = self
            .agent
            .post(url.wire())
            .header("Content-Type", "application/json");
        if let Some(auth) = url.authorization() {
            request = request.header("Authorization", auth);
        }
        match request.send(body) {
            Ok(mut response) => {
                let status = response.status().as_u16();
                let mut excerpt = Vec::new();
                let _ = response
                    .body_mut()
                    .as_reader()
                    .take(ANSWER_EXCERPT)
                    .read_to_end(&mut excerpt);
                let answer = || {
                    let text = String::from_utf8_lossy(&excerpt);
                    let text: String = text
                        .trim()
                        .chars()
                        .map(|c| if c.is_control() { ' ' } else { c })
                        .collect();
                    if text.is_empty() {
                        format!("HTTP {status}")
                    } else {
                        format!("HTTP {status}: {text}")
                    }
                };
                match status {
                    200..=299 => PostOutcome::Delivered,
                    500..=599 => PostOutcome::Retry(answer()),
                    300..=399 => {
                        PostOutcome::Fail(format!("{} (redirects are not followed)", answer()))
                    }
                    _ => PostOutcome::Fail(answer()),
                }
            }
            Err(e) => self.classify(e),
        }
    }

    fn classify(&self, e: ureq::Error) -> PostOutcome {
        use std::io::ErrorKind::*;
        match e {
            ureq::Error::Timeout(_) => PostOutcome::Fail(format!(
                "no answer within {}s (timed out)",
                self.timeout.as_secs_f64()
            )),
            ureq::Error::Io(io) => match io.kind() {
                TimedOut | WouldBlock => PostOutcome::Fail(format!(
                    "no answer within {}s (timed out)",
                    self.timeout.as_secs_f64()
                )),
                // refused, reset, closed early: the connection failed
                _ => PostOutcome::Retry(io_reason(&io)),
            },
            ureq::Error::HostNotFound => PostOutcome::Retry("host not found".into()),
            ureq::Error::ConnectionFailed => PostOutcome::Retry("connection failed".into()),
            other => PostOutcome::Fail(other.to_string()),
        }
    }
}

fn io_reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => "connection refused".into(),
        ConnectionReset => "connection reset by the server".into(),
        UnexpectedEof => "the server closed the connection without an answer".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    /// Answers each connection with the next canned response; returns the requests.
    fn serve(answers: Vec<&'static str>) -> (String, std::thread::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://user:pw@{}/hook", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for answer in answers {
                let (mut conn, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut head = String::new();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                    if line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                head.push_str(&String::from_utf8(body).unwrap());
                seen.push(head);
                conn.write_all(answer.as_bytes()).unwrap();
            }
            seen
        });
        (url, handle)
    }

    #[test]
    fn posts_json_with_length_and_credentials_and_sorts_answers() {
        let (url, server) = serve(vec![
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 503 Busy\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbusy",
            "HTTP/1.1 400 Bad\r\nContent-Length: 12\r\nConnection: close\r\n\r\nbad\nrequest!",
            "HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        ]);
        let url = TargetUrl::parse(&url).unwrap();
        let c = Client::new(Duration::from_secs(5));
        assert_eq!(c.post_json(&url, b"{\"a\":1}"), PostOutcome::Delivered);
        assert_eq!(
            c.post_json(&url, b"{}"),
            PostOutcome::Retry("HTTP 503: busy".into())
        );
        assert_eq!(
            c.post_json(&url, b"{}"),
            PostOutcome::Fail("HTTP 400: bad request!".into())
        );
        assert!(
            matches!(c.post_json(&url, b"{}"), PostOutcome::Fail(m) if m.contains("redirects"))
        );
        let seen = server.join().unwrap();
        let first = seen[0].to_ascii_lowercase();
        assert!(first.starts_with("post /hook http/1.1\r\n"), "{first}");
        assert!(
            first.contains("content-type: application/json\r\n"),
            "{first}"
        );
        assert!(first.contains("content-length: 7\r\n"), "{first}");
        assert!(!first.contains("transfer-encoding"), "{first}");
        // user:pw
        assert!(
            first.contains("authorization: basic dxnlcjpwdw==\r\n"),
            "{first}"
        );
        assert!(seen[0].ends_with("{\"a\":1}"));
    }

    /// https:// speaks TLS: the server sees a TLS handshake record first.
    #[cfg(feature = "tls")]
    #[test]
    fn https_targets_speak_tls() {
        use std::io::Read;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url =
            TargetUrl::parse(&format!("https://{}/", listener.local_addr().unwrap())).unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut first = [0u8; 3];
            conn.read_exact(&mut first).unwrap();
            first
        });
        let outcome = Client::new(Duration::from_secs(2)).post_json(&url, b"{}");
        let first = server.join().unwrap();
        // handshake record (0x16), TLS major version 3
        assert_eq!(&first[..2], &[0x16, 0x03], "{first:?}");
        assert!(!matches!(outcome, PostOutcome::Delivered), "{outcome:?}");
    }

    #[test]
    fn a_dead_port_is_worth_a_retry_and_silence_is_a_timeout() {
        let dead = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = dead.local_addr().unwrap().port();
        drop(dead);
        let c = Client::new(Duration::from_millis(300));
        let url = TargetUrl::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        assert_eq!(
            c.post_json(&url, b"{}"),
            PostOutcome::Retry("connection refused".into())
        );
        // accepts, never answers
        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = TargetUrl::parse(&format!("http://{}/", silent.local_addr().unwrap())).unwrap();
        let started = std::time::Instant::now();
        let outcome = c.post_json(&url, b"{}");
        assert!(
            matches!(&outcome, PostOutcome::Fail(m) if m.contains("timed out")),
            "{outcome:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}
