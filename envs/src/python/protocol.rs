//! The wire format between [`PythonEnv`](super::PythonEnv) and its worker.
//!
//! One message, in either direction, is
//!
//! ```text
//! u32 LE header length | u32 LE payload length | header (UTF-8 JSON object) | payload (raw bytes)
//! ```
//!
//! The header carries the small things (command, seed, reward, flags,
//! spaces, errors) as JSON because they are varied and cheap; the payload
//! carries observations and frames as raw little-endian arrays, so an Atari
//! frame crosses as its bytes rather than as a JSON list of numbers. The
//! same framing is written by `worker.py` (`read_message`, `write_message`).
//!
//! JSON has no infinities or NaN, and Box bounds are often infinite, so the
//! worker writes non-finite floats as the strings `"inf"`, `"-inf"` and
//! `"nan"`; [`json_f64`] reads both forms.

use std::io::{self, Write};

use serde_json::Value;

/// Headers above this size are taken as a corrupted stream, not a message.
const MAX_HEADER: u32 = 64 << 20;
/// Payloads above this size are taken as a corrupted stream, not a message.
const MAX_PAYLOAD: u32 = 1 << 30;

/// One framed message: a JSON header and a raw payload.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Message {
    /// The JSON object.
    pub header: Value,
    /// Raw bytes (observations and frames), possibly empty.
    pub payload: Vec<u8>,
}

impl Message {
    /// A message with a header only.
    pub fn new(header: Value) -> Self {
        Self {
            header,
            payload: Vec::new(),
        }
    }
}

/// Write `message` as one frame, in a single `write_all` so that a frame is
/// never interleaved with anything else, then flush.
pub(crate) fn write_message<W: Write>(out: &mut W, message: &Message) -> io::Result<()> {
    let header = serde_json::to_vec(&message.header)?;
    let header_len = u32::try_from(header.len())
        .ok()
        .filter(|&n| n <= MAX_HEADER)
        .ok_or_else(|| invalid("header too large"))?;
    let payload_len = u32::try_from(message.payload.len())
        .ok()
        .filter(|&n| n <= MAX_PAYLOAD)
        .ok_or_else(|| invalid("payload too large"))?;
    let mut frame = Vec::with_capacity(8 + header.len() + message.payload.len());
    frame.extend_from_slice(&header_len.to_le_bytes());
    frame.extend_from_slice(&payload_len.to_le_bytes());
    frame.extend_from_slice(&header);
    frame.extend_from_slice(&message.payload);
    out.write_all(&frame)?;
    out.flush()
}

/// Bytes received but not yet taken as messages: replies are read with
/// `poll(2)` and a deadline, in whatever pieces the pipe delivers, and
/// framed here.
#[derive(Debug, Default)]
pub(crate) struct Inbox {
    buf: Vec<u8>,
}

impl Inbox {
    /// Append freshly read bytes.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Whether no bytes (of an unfinished message) are waiting.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The next complete message, if one has arrived. A length or header
    /// that cannot be right (for example because something else wrote to
    /// the stream) is an error.
    pub fn take(&mut self) -> io::Result<Option<Message>> {
        if self.buf.len() < 8 {
            return Ok(None);
        }
        let header_len = u32::from_le_bytes(self.buf[..4].try_into().expect("4 bytes"));
        let payload_len = u32::from_le_bytes(self.buf[4..8].try_into().expect("4 bytes"));
        if header_len > MAX_HEADER || payload_len > MAX_PAYLOAD {
            return Err(invalid(&format!(
                "implausible frame lengths (header {header_len}, payload {payload_len}); \
                 the stream starts with {:?}",
                String::from_utf8_lossy(&self.buf[..self.buf.len().min(64)])
            )));
        }
        let (header_len, payload_len) = (header_len as usize, payload_len as usize);
        let end = 8 + header_len + payload_len;
        if self.buf.len() < end {
            return Ok(None);
        }
        let header: Value = serde_json::from_slice(&self.buf[8..8 + header_len])
            .map_err(|e| invalid(&format!("header is not JSON: {e}")))?;
        if !header.is_object() {
            return Err(invalid("header is not a JSON object"));
        }
        let payload = self.buf[8 + header_len..end].to_vec();
        self.buf.drain(..end);
        Ok(Some(Message { header, payload }))
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// A float written by the worker: a JSON number, or `"inf"`, `"-inf"`, `"nan"`.
pub(crate) fn json_f64(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "inf" => Some(f64::INFINITY),
            "-inf" => Some(f64::NEG_INFINITY),
            "nan" => Some(f64::NAN),
            _ => None,
        },
        _ => None,
    }
}

/// Decode `count` little-endian `f32`s.
pub(crate) fn f32s_from_le(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Feed `bytes` to an inbox in pieces of `piece` bytes, taking messages.
    fn frame(bytes: &[u8], piece: usize) -> io::Result<(Vec<Message>, bool)> {
        let mut inbox = Inbox::default();
        let mut messages = Vec::new();
        for chunk in bytes.chunks(piece) {
            inbox.extend(chunk);
            while let Some(message) = inbox.take()? {
                messages.push(message);
            }
        }
        Ok((messages, inbox.is_empty()))
    }

    #[test]
    fn messages_round_trip_in_any_pieces() {
        let a = Message {
            header: json!({"cmd": "step", "action": 3}),
            payload: vec![1, 2, 3],
        };
        let b = Message::new(json!({"ok": true}));
        let mut buf = Vec::new();
        write_message(&mut buf, &a).unwrap();
        write_message(&mut buf, &b).unwrap();
        for piece in [1, 3, 7, buf.len()] {
            let (messages, empty) = frame(&buf, piece).unwrap();
            assert_eq!(messages, vec![a.clone(), b.clone()]);
            assert!(empty);
        }
        let (messages, empty) = frame(&buf[..buf.len() - 1], 5).unwrap();
        assert_eq!(messages, vec![a]);
        assert!(!empty, "a torn message is left waiting");
    }

    #[test]
    fn foreign_bytes_are_errors() {
        // Text printed onto the channel reads as absurd lengths.
        let err = frame(b"Hello from a library that prints\n", 64).unwrap_err();
        assert!(err.to_string().contains("implausible"), "{err}");
        let mut not_json = vec![3, 0, 0, 0, 0, 0, 0, 0];
        not_json.extend_from_slice(b"{{{");
        assert!(frame(&not_json, 64).is_err());
    }

    #[test]
    fn non_finite_floats_are_strings() {
        assert_eq!(json_f64(&json!(1.5)), Some(1.5));
        assert_eq!(json_f64(&json!("-inf")), Some(f64::NEG_INFINITY));
        assert!(json_f64(&json!("nan")).unwrap().is_nan());
        assert_eq!(json_f64(&json!("x")), None);
        assert_eq!(
            f32s_from_le(&[0, 0, 128, 63, 0, 0, 0, 192]),
            vec![1.0, -2.0]
        );
    }
}
