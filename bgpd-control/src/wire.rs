//! DOC: the BIRD 1.6 CLI wire framing (`nest/cli.c`): request lines in, numbered reply lines out.
//!
//! Requests are single lines ending in `\n`, at most [`MAX_REQUEST`] bytes; `\r` is ignored.
//! Replies are lines `NNNN-text` (more follow) or `NNNN text` (the last line of the reply); a
//! continuation line with the same code as the line before it is written as `" text"`. A line
//! holds at most [`MAX_TEXT`] bytes of text (511 bytes on the wire); a longer one is replaced
//! by `<line overflow>` with code 8000, as BIRD does.

/// Maximum request line, in bytes, newline excluded (BIRD: `CLI_RX_BUF_SIZE` 4096).
pub const MAX_REQUEST: usize = 4096;

/// BIRD's reply line buffer (`CLI_LINE_SIZE`): prefix, text, newline and C's terminating NUL
/// fit in it, so a line on the wire is at most 511 bytes.
pub const MAX_LINE: usize = 512;

/// Longest text of one reply line: 512 - 5 (prefix) - 1 (newline) - 1 (NUL) = 505 bytes.
pub const MAX_TEXT: usize = MAX_LINE - 7;

/// Reply builder for one connection. Keeps the code of the previous line so continuation lines
/// are written as BIRD writes them; the state survives across replies on the same connection
/// (BIRD resets it only after a final line, which sets it to 0).
#[derive(Debug, Default)]
pub struct ReplyWriter {
    buf: Vec<u8>,
    last: u16,
}

impl ReplyWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// A line with more to follow (BIRD `cli_msg(-code, ...)`).
    pub fn cont(&mut self, code: u16, text: &str) {
        if text.len() > MAX_TEXT {
            return self.overflow(false);
        }
        if code == self.last {
            self.buf.push(b' ');
        } else {
            self.prefix(code, b'-');
        }
        self.last = code;
        self.buf.extend_from_slice(text.as_bytes());
        self.buf.push(b'\n');
    }

    /// The last line of a reply (BIRD `cli_msg(code, ...)`).
    pub fn last(&mut self, code: u16, text: &str) {
        if text.len() > MAX_TEXT {
            return self.overflow(true);
        }
        self.prefix(code, b' ');
        self.last = 0;
        self.buf.extend_from_slice(text.as_bytes());
        self.buf.push(b'\n');
    }

    /// A fragment of a long text (JSON) spread over continuation lines of one code, each at
    /// most [`MAX_TEXT`] bytes of text, split on UTF-8 character boundaries. The reader concatenates
    /// the line texts (without their newlines) to get the text back; the text must not contain
    /// a newline.
    pub fn fragments(&mut self, code: u16, mut text: &str) {
        while !text.is_empty() {
            let mut cut = text.len().min(MAX_TEXT);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            let (head, tail) = text.split_at(cut);
            self.cont(code, head);
            text = tail;
        }
    }

    fn overflow(&mut self, last: bool) {
        // BIRD: `cli_printf(c, errcode, "<line overflow>")` with -8000 or 8000.
        if last {
            self.last(8000, "<line overflow>");
        } else {
            self.cont(8000, "<line overflow>");
        }
    }

    fn prefix(&mut self, code: u16, sep: u8) {
        let code = code.min(9999);
        self.buf.extend_from_slice(format!("{code:04}").as_bytes());
        self.buf.push(sep);
    }

    /// Bytes buffered so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Nothing buffered.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Takes the buffered bytes (the continuation state stays).
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// The buffered bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }
}

/// A long text (JSON) written as it is produced, in pieces: the same lines
/// [`ReplyWriter::fragments`] makes of the whole text, cut at the same places, holding back
/// at most one line's text. A streamed answer is thus framed exactly as if built whole.
#[derive(Debug)]
pub struct Fragments {
    code: u16,
    held: String,
}

impl Fragments {
    /// Nothing written yet; the lines will carry `code`.
    pub fn new(code: u16) -> Self {
        Fragments {
            code,
            held: String::new(),
        }
    }

    /// Appends `text` (no newline in it), writing to `w` every line that is complete.
    pub fn push(&mut self, w: &mut ReplyWriter, text: &str) {
        self.held.push_str(text);
        let mut start = 0;
        while self.held.len() - start > MAX_TEXT {
            let rest = self.held.get(start..).unwrap_or_default();
            let mut cut = MAX_TEXT;
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            w.cont(self.code, rest.get(..cut).unwrap_or_default());
            start += cut;
        }
        self.held.drain(..start);
    }

    /// Writes the rest (the end of the text).
    pub fn finish(&mut self, w: &mut ReplyWriter) {
        w.fragments(self.code, &self.held);
        self.held.clear();
    }
}

/// What [`LineReader::next_line`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    /// A complete line, `\r` removed, lossily decoded (invalid UTF-8 becomes U+FFFD, which no
    /// command accepts).
    Line(String),
    /// A line longer than [`MAX_REQUEST`]: its bytes up to the newline are discarded and the
    /// caller answers `9000 Command too long`.
    TooLong,
}

/// Splits the request byte stream into lines, bounded in memory by [`MAX_REQUEST`].
#[derive(Debug, Default)]
pub struct LineReader {
    buf: Vec<u8>,
    /// Discarding the rest of an over-long line.
    skipping: bool,
}

impl LineReader {
    /// An empty reader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes. Never holds more than [`MAX_REQUEST`] + 1 bytes of a line.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete request, if any.
    pub fn next_line(&mut self) -> Option<Request> {
        match self.buf.iter().position(|&b| b == b'\n') {
            Some(nl) => {
                let line: Vec<u8> = self.buf.drain(..=nl).take(nl).collect();
                if std::mem::take(&mut self.skipping) {
                    return Some(Request::TooLong);
                }
                let line: Vec<u8> = line.into_iter().filter(|&b| b != b'\r').collect();
                if line.len() > MAX_REQUEST {
                    return Some(Request::TooLong);
                }
                Some(Request::Line(String::from_utf8_lossy(&line).into_owned()))
            }
            None => {
                if self.buf.len() > MAX_REQUEST + 1 {
                    // Keep memory bounded: drop what we have and skip to the newline.
                    self.buf.clear();
                    self.skipping = true;
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_lines() {
        let mut w = ReplyWriter::new();
        w.last(1, "BIRD x ready.");
        w.cont(1000, "BIRD x");
        w.cont(1011, "a");
        w.cont(1011, "b");
        w.last(13, "up");
        w.cont(1002, "r");
        w.last(0, "");
        assert_eq!(
            String::from_utf8(w.take()).unwrap(),
            "0001 BIRD x ready.\n1000-BIRD x\n1011-a\n b\n0013 up\n1002-r\n0000 \n"
        );
    }

    #[test]
    fn overflow_and_fragments() {
        let mut w = ReplyWriter::new();
        w.cont(1007, &"x".repeat(MAX_TEXT));
        assert_eq!(w.take().len(), MAX_LINE - 1);
        w.cont(1007, &"x".repeat(MAX_TEXT + 1));
        w.last(0, &"y".repeat(600));
        assert_eq!(
            String::from_utf8(w.take()).unwrap(),
            "8000-<line overflow>\n8000 <line overflow>\n"
        );
        let text = "é".repeat(700);
        w.fragments(1200, &text);
        let out = String::from_utf8(w.take()).unwrap();
        let mut back = String::new();
        for l in out.lines() {
            assert!(l.len() < MAX_LINE);
            back.push_str(&l[if l.starts_with(' ') { 1 } else { 5 }..]);
        }
        assert_eq!(back, text);
    }

    #[test]
    fn fragments_written_in_pieces_are_cut_as_the_whole_text() {
        // Pieces of every size, with two- and three-byte characters across the cuts.
        let text: String = (0..3000)
            .map(|i| match i % 7 {
                0 => 'é',
                3 => '€',
                _ => char::from(b'a' + (i % 26) as u8),
            })
            .collect();
        let mut whole = ReplyWriter::new();
        whole.fragments(1200, &text);
        whole.last(0, "");
        for step in [
            1,
            2,
            3,
            7,
            100,
            MAX_TEXT - 1,
            MAX_TEXT,
            MAX_TEXT + 1,
            2000,
            5000,
        ] {
            let mut w = ReplyWriter::new();
            let mut f = Fragments::new(1200);
            let mut rest = text.as_str();
            while !rest.is_empty() {
                let mut cut = step.min(rest.len());
                while !rest.is_char_boundary(cut) {
                    cut += 1;
                }
                let (piece, tail) = rest.split_at(cut);
                f.push(&mut w, piece);
                assert!(
                    f.held.len() <= MAX_TEXT,
                    "step {step}: {} held",
                    f.held.len()
                );
                rest = tail;
            }
            f.finish(&mut w);
            w.last(0, "");
            assert_eq!(w.take(), whole.as_bytes(), "step {step}");
        }
        // A text of exactly one line, and none.
        let mut w = ReplyWriter::new();
        let mut f = Fragments::new(1200);
        f.push(&mut w, &"x".repeat(MAX_TEXT));
        assert!(w.is_empty());
        f.finish(&mut w);
        f.finish(&mut w);
        let mut one = ReplyWriter::new();
        one.fragments(1200, &"x".repeat(MAX_TEXT));
        assert_eq!(w.take(), one.take());
    }

    #[test]
    fn lines() {
        let mut r = LineReader::new();
        r.push(b"show st");
        assert_eq!(r.next_line(), None);
        r.push(b"atus\r\n\xff\n");
        assert_eq!(r.next_line(), Some(Request::Line("show status".into())));
        assert_eq!(r.next_line(), Some(Request::Line("\u{fffd}".into())));
        r.push(&vec![b'a'; 10_000]);
        assert_eq!(r.next_line(), None);
        r.push(&vec![b'a'; 10_000]);
        assert_eq!(r.next_line(), None);
        assert!(r.buf.len() <= MAX_REQUEST + 1);
        r.push(b"aaa\nshow\n");
        assert_eq!(r.next_line(), Some(Request::TooLong));
        assert_eq!(r.next_line(), Some(Request::Line("show".into())));
    }
}
