//! A delivery target's URL as the user gave it: checked once (scheme, host,
//! no fragment), split into what goes on the wire (the URL without its
//! `user:password@` part, and a Basic `Authorization` header made from that
//! part) and what may be printed (the URL with the password masked).
//! Pure; knows nothing of HTTP or threads.

use std::fmt;

/// Where an event goes and how it is shaped there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// `--webhook URL`: one JSON object per event, POSTed to URL.
    Webhook,
    /// `--alertmanager URL`: a JSON array POSTed to `URL/api/v2/alerts`.
    Alertmanager,
}

impl TargetKind {
    pub fn flag(self) -> &'static str {
        match self {
            TargetKind::Webhook => "webhook",
            TargetKind::Alertmanager => "alertmanager",
        }
    }
}

/// A checked `http://` or `https://` URL.
#[derive(Clone, PartialEq, Eq)]
pub struct TargetUrl {
    /// what requests go to: scheme, host, port, path and query, no userinfo
    wire: String,
    /// `Basic ...` when the URL had `user[:password]@`
    authorization: Option<String>,
    /// for messages: the password replaced by `***`
    masked: String,
}

/// Whether this build can speak TLS (the `tls` cargo feature).
pub const TLS_BUILT_IN: bool = cfg!(feature = "tls");

impl TargetUrl {
    /// Checks `text`. The error says what is wrong without repeating a password.
    pub fn parse(text: &str) -> Result<TargetUrl, String> {
        let text = text.trim();
        let (scheme, rest) = match text.split_once("://") {
            Some((s, r)) if s.eq_ignore_ascii_case("http") => ("http", r),
            Some((s, r)) if s.eq_ignore_ascii_case("https") => ("https", r),
            _ => {
                return Err(format!(
                    "'{}' is not an http:// or https:// URL; expected e.g. http://127.0.0.1:9093",
                    mask_anyway(text)
                ))
            }
        };
        if scheme == "https" && !TLS_BUILT_IN {
            return Err(format!(
                "'{}': this vigil was built without TLS (cargo feature `tls`), so https:// targets cannot be reached",
                mask_anyway(text)
            ));
        }
        if text.contains('#') {
            return Err(format!(
                "'{}': a URL fragment (#...) is never sent; remove it",
                mask_anyway(text)
            ));
        }
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if hostport.is_empty() || hostport.starts_with(':') {
            return Err(format!(
                "'{}' has no host; expected e.g. {scheme}://127.0.0.1:9093",
                mask_anyway(text)
            ));
        }
        if let Some((host, port)) = hostport.rsplit_once(':') {
            // `[::1]:9093` has colons inside the brackets; the port follows the last one.
            let bracketed = host.starts_with('[') && !host.ends_with(']');
            if !bracketed && !port.is_empty() && port.parse::<u16>().is_err() {
                return Err(format!(
                    "'{}': port '{port}' is not a number from 0 to 65535",
                    mask_anyway(text)
                ));
            }
        }
        if authority
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(format!(
                "'{}': spaces or control characters in the host part",
                mask_anyway(text)
            ));
        }
        let wire = format!("{scheme}://{hostport}{path}");
        let (authorization, masked) = match userinfo {
            None => (None, wire.clone()),
            Some(u) => {
                let (user, password) = match u.split_once(':') {
                    Some((user, pw)) => (user, Some(pw)),
                    None => (u, None),
                };
                let credentials = format!(
                    "{}:{}",
                    percent_decode(user),
                    password.map(percent_decode).unwrap_or_default()
                );
                let masked = match password {
                    Some(_) => format!("{scheme}://{user}:***@{hostport}{path}"),
                    None => format!("{scheme}://{user}@{hostport}{path}"),
                };
                (
                    Some(format!("Basic {}", base64(credentials.as_bytes()))),
                    masked,
                )
            }
        };
        Ok(TargetUrl {
            wire,
            authorization,
            masked,
        })
    }

    /// The URL requests go to (no credentials in it).
    pub fn wire(&self) -> &str {
        &self.wire
    }

    /// The `Authorization` header value, when the URL carried credentials.
    pub fn authorization(&self) -> Option<&str> {
        self.authorization.as_deref()
    }

    /// The URL as it may be printed: a password is `***`.
    pub fn masked(&self) -> &str {
        &self.masked
    }

    /// The same target with `suffix` appended to its path (`/api/v2/alerts`):
    /// a trailing `/` of the path is not doubled. A query stays at the end.
    pub fn join(&self, suffix: &str) -> TargetUrl {
        let add = |url: &str| {
            let (base, query) = match url.split_once('?') {
                Some((b, q)) => (b, Some(q)),
                None => (url, None),
            };
            let mut s = base.trim_end_matches('/').to_string();
            s.push_str(suffix);
            if let Some(q) = query {
                s.push('?');
                s.push_str(q);
            }
            s
        };
        TargetUrl {
            wire: add(&self.wire),
            authorization: self.authorization.clone(),
            masked: add(&self.masked),
        }
    }
}

/// Never show a password, not even in the message about a malformed URL.
impl fmt::Debug for TargetUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TargetUrl({})", self.masked)
    }
}

impl fmt::Display for TargetUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked)
    }
}

/// Masks `user:password@` in text that did not parse as a URL.
fn mask_anyway(text: &str) -> String {
    let (prefix, rest) = match text.find("://") {
        Some(i) => text.split_at(i + 3),
        None => ("", text),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            let pw = if userinfo.contains(':') { ":***" } else { "" };
            format!("{prefix}{user}{pw}@{host}{}", &rest[end..])
        }
        None => text.to_string(),
    }
}

/// `%XX` escapes decoded (userinfo may escape `:` `@` `/`); invalid escapes kept.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Standard base64 with padding (RFC 4648), for the Basic credentials.
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk.len();
        let v = (chunk[0] as u32) << 16
            | (chunk.get(1).copied().unwrap_or(0) as u32) << 8
            | chunk.get(2).copied().unwrap_or(0) as u32;
        for i in 0..4 {
            if i <= n {
                out.push(ALPHABET[(v >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_credentials_off_the_wire_url_and_masks_the_password() {
        let u = TargetUrl::parse("http://alice:s3cr%40t@127.0.0.1:9093/hooks?x=1").unwrap();
        assert_eq!(u.wire(), "http://127.0.0.1:9093/hooks?x=1");
        assert_eq!(u.masked(), "http://alice:***@127.0.0.1:9093/hooks?x=1");
        // "alice:s3cr@t" in base64
        assert_eq!(u.authorization(), Some("Basic YWxpY2U6czNjckB0"));
        assert!(!format!("{u:?} {u}").contains("s3cr"));
        let plain = TargetUrl::parse("http://am.example:9093").unwrap();
        assert_eq!(plain.authorization(), None);
        assert_eq!(plain.masked(), plain.wire());
        let https = TargetUrl::parse("https://u:pw@am.example/");
        if TLS_BUILT_IN {
            assert_eq!(https.unwrap().wire(), "https://am.example/");
        } else {
            let e = https.unwrap_err();
            assert!(e.contains("without TLS") && !e.contains(":pw@"), "{e}");
        }
    }

    #[test]
    fn joins_the_api_path_once() {
        for base in ["http://h:9093", "http://h:9093/"] {
            assert_eq!(
                TargetUrl::parse(base)
                    .unwrap()
                    .join("/api/v2/alerts")
                    .wire(),
                "http://h:9093/api/v2/alerts"
            );
        }
        let u = TargetUrl::parse("http://u:p@h/am/?t=1")
            .unwrap()
            .join("/api/v2/alerts");
        assert_eq!(u.wire(), "http://h/am/api/v2/alerts?t=1");
        assert_eq!(u.masked(), "http://u:***@h/am/api/v2/alerts?t=1");
    }

    #[test]
    fn refuses_what_cannot_be_a_target_without_showing_a_password() {
        for (bad, says) in [
            ("ftp://h/x", "not an http:// or https:// URL"),
            ("127.0.0.1:9093", "not an http:// or https:// URL"),
            ("http://", "no host"),
            ("http://u:pw@:80/", "no host"),
            ("http://h:99999/", "port '99999'"),
            ("http://h/x#frag", "fragment"),
            ("http://bad host/", "spaces"),
        ] {
            let e = TargetUrl::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
            assert!(!e.contains(":pw@"), "{e}");
        }
        assert_eq!(mask_anyway("gopher://u:pw@h/x"), "gopher://u:***@h/x");
        assert!(TargetUrl::parse("http://[::1]:9093/").is_ok());
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
        assert_eq!(percent_decode("a%3Ab%zz%4"), "a:b%zz%4");
    }
}
