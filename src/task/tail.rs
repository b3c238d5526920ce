//! The bounded tail of a command's combined output, each line cleaned by
//! [`crate::text::sanitize::sanitize`] to be safe inside a Markdown code block.
//!
//! Memory is the point of this module: a command may print gigabytes, and the tail
//! must stay within a few times `max_bytes` whatever the shape of the output (one
//! endless line, millions of empty lines, a progress bar redrawn with `\r`).

use std::collections::VecDeque;

use crate::text::sanitize::sanitize;

/// Default byte budget of a tail: enough for a screenful of log lines, small next to
/// one post (16383 characters).
#[cfg(test)]
pub(crate) const DEFAULT_MAX_BYTES: usize = 8 * 1024;

/// Put in front of a line whose beginning was dropped to respect the byte budget.
pub(crate) const CUT_MARKER: &str = "…";

/// Which of the command's two output pipes a chunk came from. Each has its own
/// in-progress line, so that lines of stdout and stderr never mix mid-line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Stdout,
    Stderr,
}

impl Source {
    fn index(self) -> usize {
        match self {
            Source::Stdout => 0,
            Source::Stderr => 1,
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Line {
    bytes: Vec<u8>,
    /// Its start was dropped (the line alone was longer than the byte budget).
    cut: bool,
    /// When its last byte arrived (a count of pushes): lines of the two streams are
    /// ordered by it, so a last line without `\n` takes its place by when it was
    /// written, not by which pipe happened to report end-of-file first.
    seq: u64,
}

#[derive(Debug, Default)]
struct Partial {
    line: Line,
    /// A `\r` was the last byte seen: whether it ends a `\r\n` or is a lone carriage
    /// return (a terminal overwrite) depends on the next byte, maybe in the next chunk.
    pending_cr: bool,
}

/// The last lines of a command's output, at most `max_lines` lines and about
/// `max_bytes` bytes (see [`Tail::lines`] for the exact guarantee).
///
/// A line longer than the budget keeps its END, marked with a leading [`CUT_MARKER`]:
/// a tail is about what the command printed last, and the end of a long line (a
/// progress bar without `\r`, a log line whose message follows a long prefix) is the
/// newest part of it.
#[derive(Debug)]
pub(crate) struct Tail {
    max_lines: usize,
    max_bytes: usize,
    done: VecDeque<Line>,
    done_bytes: usize,
    partial: [Partial; 2],
    seq: u64,
}

impl Tail {
    pub(crate) fn new(max_lines: usize, max_bytes: usize) -> Tail {
        Tail {
            max_lines,
            max_bytes,
            done: VecDeque::new(),
            done_bytes: 0,
            partial: Default::default(),
            seq: 0,
        }
    }

    /// Bytes from stdout, as they come.
    #[cfg(test)]
    pub(crate) fn push(&mut self, chunk: &[u8]) {
        self.push_from(Source::Stdout, chunk);
    }

    /// Bytes from one stream, as they come. Lines are split on `\n`; `\r\n` counts as
    /// `\n`; a lone `\r` restarts the line, as a terminal would show it, so a progress
    /// bar leaves only its last state.
    pub(crate) fn push_from(&mut self, source: Source, chunk: &[u8]) {
        let idx = source.index();
        self.seq += 1;
        let mut rest = chunk;
        // Lines older than the chunk's own last `max_lines` can never be kept: skip
        // them instead of storing and evicting each (`yes` makes ~16000 lines per
        // read). The skipped part ends with a `\n`, so no line state carries over.
        let mut newlines = 0;
        if let Some(i) = chunk.iter().rposition(|&b| {
            newlines += usize::from(b == b'\n');
            newlines > self.max_lines
        }) {
            self.partial[idx] = Partial::default();
            rest = &chunk[i + 1..];
        }
        while !rest.is_empty() {
            if self.partial[idx].pending_cr {
                match rest[0] {
                    b'\n' => {
                        self.partial[idx].pending_cr = false;
                        self.commit(idx, false);
                        rest = &rest[1..];
                        continue;
                    }
                    // `\r\r\n` is still a line end (seen from some Windows tools).
                    b'\r' => {
                        rest = &rest[1..];
                        continue;
                    }
                    _ => {
                        self.partial[idx].pending_cr = false;
                        self.partial[idx].line = Line::default();
                    }
                }
            }
            match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
                None => {
                    self.append(idx, rest);
                    break;
                }
                Some(i) => {
                    self.append(idx, &rest[..i]);
                    if rest[i] == b'\n' {
                        self.commit(idx, false);
                    } else {
                        self.partial[idx].pending_cr = true;
                    }
                    rest = &rest[i + 1..];
                }
            }
        }
    }

    /// The stream ended: its in-progress line, if any, becomes a complete line.
    pub(crate) fn finish(&mut self, source: Source) {
        let idx = source.index();
        self.partial[idx].pending_cr = false;
        let p = &self.partial[idx].line;
        if !p.bytes.is_empty() || p.cut {
            self.commit(idx, true);
        }
    }

    fn append(&mut self, idx: usize, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let max = self.max_bytes;
        let line = &mut self.partial[idx].line;
        line.seq = self.seq;
        if bytes.len() >= max {
            line.cut |= bytes.len() > max || !line.bytes.is_empty();
            line.bytes.clear();
            line.bytes.extend_from_slice(&bytes[bytes.len() - max..]);
        } else {
            line.bytes.extend_from_slice(bytes);
            if line.bytes.len() > max {
                let excess = line.bytes.len() - max;
                line.bytes.drain(..excess);
                line.cut = true;
            }
        }
    }

    /// `at_eof`: the line ends because its stream did, not because a `\n` arrived
    /// now, so it keeps the time of its last byte.
    fn commit(&mut self, idx: usize, at_eof: bool) {
        let mut line = std::mem::take(&mut self.partial[idx].line);
        if self.max_lines == 0 {
            return;
        }
        if !at_eof {
            line.seq = self.seq;
        }
        // +1 for the newline that joins it to the next line in `text()`. Raw bytes
        // are kept up to twice the budget because cleaning usually shrinks them
        // (coloured output is often half escape sequences); `lines()` enforces the
        // exact budget on the cleaned text.
        self.done_bytes += line.bytes.len() + 1;
        let at = self.done.len()
            - self
                .done
                .iter()
                .rev()
                .take_while(|l| l.seq > line.seq)
                .count();
        self.done.insert(at, line);
        while self.done.len() > self.max_lines
            || (self.done_bytes > 2 * self.max_bytes + 1 && self.done.len() > 1)
        {
            if let Some(old) = self.done.pop_front() {
                self.done_bytes -= old.bytes.len() + 1;
            }
        }
    }

    /// The kept lines, oldest first, each cleaned by [`sanitize`]: complete lines,
    /// then the in-progress lines of the two streams (by when they last grew).
    ///
    /// Guarantee: at most `max_lines` lines, and `text().len() <= max_bytes` (the
    /// cleaned lines joined by `\n`), counted after cleaning since a replacement
    /// character takes three bytes where the invalid byte took one.
    pub(crate) fn lines(&self) -> Vec<String> {
        let mut partials: Vec<&Line> = self
            .partial
            .iter()
            .map(|p| &p.line)
            .filter(|l| !l.bytes.is_empty() || l.cut)
            .collect();
        partials.sort_by_key(|l| l.seq);

        // Clean only what can still be kept: the newest `max_lines`.
        let candidates: Vec<&Line> = self.done.iter().chain(partials).collect();
        let skip = candidates.len().saturating_sub(self.max_lines);
        let mut kept: Vec<String> = Vec::new();
        let mut used = 0usize;
        for line in candidates[skip..].iter().rev() {
            let text = clean_line(line);
            let sep = usize::from(!kept.is_empty());
            if used + sep + text.len() <= self.max_bytes {
                used += sep + text.len();
                kept.push(text);
            } else {
                // Only the newest line may be cut to fit: cutting an older one would
                // show a fragment while dropping it shows a clean, shorter tail.
                if kept.is_empty() {
                    let cut = keep_end(&text, self.max_bytes);
                    if !cut.is_empty() {
                        kept.push(cut);
                    }
                }
                break;
            }
        }
        kept.reverse();
        kept
    }

    /// [`Tail::lines`] joined by `\n`.
    #[cfg(test)]
    pub(crate) fn text(&self) -> String {
        self.lines().join("\n")
    }
}

fn clean_line(line: &Line) -> String {
    if !line.cut {
        return sanitize(&line.bytes);
    }
    // The cut may have split a UTF-8 sequence: skip its continuation bytes rather
    // than show a replacement character for a character that was fine.
    let start = line
        .bytes
        .iter()
        .take(3)
        .take_while(|&&b| b & 0xC0 == 0x80)
        .count();
    let text = sanitize(&line.bytes[start..]);
    format!("{CUT_MARKER}{}", after_cut(&text))
}

/// `text` (the part of a line after a cut) without the piece of a hook URL the cut may
/// have left at its front. Whole hook URLs go first: see [`crate::secret::after_cut`].
fn after_cut(text: &str) -> String {
    crate::secret::after_cut(&crate::secret::scrub_hook_ids(text)).to_string()
}

/// The end of `s` in at most `max` bytes, with the cut marker in front when cut.
fn keep_end(s: &str, max: usize) -> String {
    // Whole hook URLs go before the cut: a cut through one leaves a piece that no
    // scrubbing recognises.
    let s = &*crate::secret::scrub_hook_ids(s);
    if s.len() <= max {
        return s.to_string();
    }
    let Some(room) = max.checked_sub(CUT_MARKER.len()) else {
        return String::new();
    };
    let mut start = s.len() - room;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    let rest = s[start..].strip_prefix(CUT_MARKER).unwrap_or(&s[start..]);
    format!("{CUT_MARKER}{}", after_cut(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tail_of(max_lines: usize, max_bytes: usize, chunks: &[&[u8]]) -> Vec<String> {
        let mut t = Tail::new(max_lines, max_bytes);
        for c in chunks {
            t.push(c);
        }
        t.lines()
    }

    #[test]
    fn keeps_last_lines_in_order() {
        let mut t = Tail::new(3, DEFAULT_MAX_BYTES);
        for i in 1..=10 {
            t.push(format!("line {i}\n").as_bytes());
        }
        assert_eq!(t.lines(), ["line 8", "line 9", "line 10"]);
        assert_eq!(t.text(), "line 8\nline 9\nline 10");
    }

    #[test]
    fn lines_split_across_chunks_and_partial_last_line() {
        let l = tail_of(10, 100, &[b"he", b"llo\nwor", b"ld\n", b"par", b"tial"]);
        assert_eq!(l, ["hello", "world", "partial"]);
    }

    #[test]
    fn blank_lines_are_kept_and_trailing_newline_adds_none() {
        assert_eq!(tail_of(10, 100, &[b"a\n\nb\n"]), ["a", "", "b"]);
    }

    #[test]
    fn crlf_is_a_line_end_even_across_chunks() {
        assert_eq!(tail_of(10, 100, &[b"a\r", b"\nb\r\n"]), ["a", "b"]);
        assert_eq!(tail_of(10, 100, &[b"a\r\r\nb"]), ["a", "b"]);
    }

    #[test]
    fn carriage_return_keeps_last_redraw() {
        let l = tail_of(10, 100, &[b"10%\r50%", b"\r100%\ndone\n"]);
        assert_eq!(l, ["100%", "done"]);
        // A trailing lone \r at EOF keeps the text before it.
        let mut t = Tail::new(10, 100);
        t.push(b"50%\r");
        t.finish(Source::Stdout);
        assert_eq!(t.lines(), ["50%"]);
    }

    #[test]
    fn streams_do_not_mix_mid_line() {
        let mut t = Tail::new(10, 100);
        t.push_from(Source::Stdout, b"out-");
        t.push_from(Source::Stderr, b"err-");
        t.push_from(Source::Stdout, b"line\n");
        t.push_from(Source::Stderr, b"line\n");
        assert_eq!(t.lines(), ["out-line", "err-line"]);
    }

    #[test]
    fn unfinished_lines_are_ordered_by_their_last_byte() {
        let mut t = Tail::new(10, 100);
        t.push_from(Source::Stderr, b"e");
        t.push_from(Source::Stdout, b"done\no");
        t.push_from(Source::Stderr, b"rr");
        assert_eq!(t.lines(), ["done", "o", "err"]);
        // End-of-file order does not matter.
        t.finish(Source::Stderr);
        t.finish(Source::Stdout);
        assert_eq!(t.lines(), ["done", "o", "err"]);
        t.push_from(Source::Stdout, b"later\n");
        assert_eq!(t.lines(), ["done", "o", "err", "later"]);
    }

    #[test]
    fn byte_budget_drops_oldest_lines() {
        let mut t = Tail::new(100, 20);
        for i in 0..50 {
            t.push(format!("line{i:02}\n").as_bytes());
        }
        let text = t.text();
        assert!(text.len() <= 20, "{text:?}");
        assert_eq!(t.lines(), ["line47", "line48", "line49"]);
    }

    #[test]
    fn huge_line_keeps_its_end_with_marker() {
        let mut t = Tail::new(10, 64);
        t.push(b"old\n");
        // Words: the front of a cut goes up to the first space (see `after_cut`).
        let chunk = "word ".repeat(200);
        for _ in 0..1000 {
            t.push(chunk.as_bytes());
        }
        t.push(b"THE END\n");
        let lines = t.lines();
        assert_eq!(lines.len(), 1);
        assert!(lines[0].starts_with(CUT_MARKER));
        assert!(lines[0].ends_with("word word THE END"));
        assert!(t.text().len() <= 64);
        // The stored in-progress line stays bounded too.
        assert!(t.partial.iter().all(|p| p.line.bytes.len() <= 64));
    }

    #[test]
    fn cut_does_not_leave_a_broken_character() {
        let mut t = Tail::new(10, 10);
        t.push("éééééééééé".as_bytes()); // 20 bytes
        let l = t.lines();
        assert!(!l[0].contains('\u{FFFD}'), "{l:?}");
        assert!(l[0].starts_with(CUT_MARKER) && l[0].ends_with('é'));
        assert!(t.text().len() <= 10);
    }

    #[test]
    fn budget_counts_cleaned_bytes() {
        // 0xFF is one byte raw but three once replaced.
        let mut t = Tail::new(10, 30);
        t.push(&[0xFF; 30]);
        t.push(b"\n");
        assert!(t.text().len() <= 30);
        assert!(t.text().starts_with(CUT_MARKER));
    }

    #[test]
    fn zero_lines_keeps_nothing() {
        assert!(tail_of(0, 100, &[b"a\nb\nc"]).is_empty());
    }

    #[test]
    fn chunk_with_more_lines_than_kept() {
        let mut t = Tail::new(3, 100);
        t.push(b"partial ");
        t.push(b"a\r\nb\rB\nc\nd\ne\r\nf");
        assert_eq!(t.lines(), ["d", "e", "f"]);
        t.push(b"\n1\n2\n3\n4\n");
        assert_eq!(t.lines(), ["2", "3", "4"]);
    }

    #[test]
    fn many_empty_lines_stay_bounded() {
        let mut t = Tail::new(5, 100);
        for _ in 0..10_000 {
            t.push(b"\n\n\n\n");
        }
        assert_eq!(t.lines(), ["", "", "", "", ""]);
        assert!(t.done.len() <= 5);
    }
}
