//! Markdown-ish text to HTML, for the prose of a page (a study's README, a report's notes):
//! the subset our READMEs use, every other character escaped. Blocks: paragraphs (lines
//! joined), `#` headings (one level down, under the page's `<h1>`), `-`/`*`/`1.` lists (indented
//! lines continue an item), fenced code, and pipe tables. Inline: `` `code` ``, `**bold**` and
//! `[text](url)` links; an image `![alt](url)` becomes a link to it, so the page loads nothing.
//! A link whose scheme is not http, https or mailto keeps its text and loses the link. Raw HTML
//! is shown as text.

/// `text` as HTML block elements, one per line-group.
pub fn to_html(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        if trimmed.is_empty() {
            i += 1;
        } else if let Some(fence) = fence(trimmed) {
            i = code_block(&lines, i + 1, fence, &mut out);
        } else if let Some((level, title)) = heading(trimmed) {
            let h = (level + 1).min(6);
            out.push_str(&format!("<h{h}>{}</h{h}>\n", inline(title)));
            i += 1;
        } else if is_table_start(&lines, i) {
            i = table(&lines, i, &mut out);
        } else if item(line).is_some() {
            i = list(&lines, i, &mut out);
        } else {
            i = paragraph(&lines, i, &mut out);
        }
    }
    out
}

/// `s` with the five HTML specials escaped (text and attribute values alike).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

/// The fence of a code-block opening line (three or more backticks or tildes).
fn fence(line: &str) -> Option<&str> {
    let c = line.chars().next().filter(|c| matches!(c, '`' | '~'))?;
    let n = line.len() - line.trim_start_matches(c).len();
    (n >= 3).then(|| &line[..n])
}

/// Lines from `start` up to the closing `fence` as `<pre>`; returns the line after it.
fn code_block(lines: &[&str], start: usize, fence: &str, out: &mut String) -> usize {
    let end = (start..lines.len())
        .find(|&j| lines[j].trim_start().starts_with(fence))
        .unwrap_or(lines.len());
    let code: Vec<&str> = lines[start..end].to_vec();
    out.push_str(&format!(
        "<pre><code>{}</code></pre>\n",
        escape(&code.join("\n"))
    ));
    end + 1
}

/// Level and text of an ATX heading line (`## Title`).
fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.len() - line.trim_start_matches('#').len();
    let rest = &line[level..];
    ((1..=6).contains(&level) && (rest.is_empty() || rest.starts_with(' ')))
        .then(|| (level, rest.trim().trim_end_matches('#').trim_end()))
}

/// Whether the marker and text of a list item start `line`: (ordered, text).
fn item(line: &str) -> Option<(bool, &str)> {
    if let Some(rest) = line.strip_prefix("- ").or_else(|| line.strip_prefix("* ")) {
        return Some((false, rest));
    }
    let digits = line.len() - line.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let rest = line[digits..].strip_prefix(". ")?;
    (digits > 0).then_some((true, rest))
}

/// A list from `start`: items until a blank line or a line that neither starts an item nor is
/// indented; returns the line after it.
fn list(lines: &[&str], start: usize, out: &mut String) -> usize {
    let ordered = item(lines[start]).is_some_and(|(o, _)| o);
    let mut items: Vec<String> = Vec::new();
    let mut i = start;
    while i < lines.len() {
        let line = lines[i];
        if let Some((_, text)) = item(line) {
            items.push(text.trim().to_owned());
        } else if !line.trim().is_empty() && line.starts_with([' ', '\t']) {
            if let Some(last) = items.last_mut() {
                last.push('\n');
                last.push_str(line.trim());
            }
        } else {
            break;
        }
        i += 1;
    }
    let tag = if ordered { "ol" } else { "ul" };
    out.push_str(&format!("<{tag}>\n"));
    for it in items {
        out.push_str(&format!("<li>{}</li>\n", inline(&it)));
    }
    out.push_str(&format!("</{tag}>\n"));
    i
}

/// Lines from `start` up to a blank line or the start of another block, as one `<p>`.
fn paragraph(lines: &[&str], start: usize, out: &mut String) -> usize {
    let mut end = start + 1;
    while end < lines.len() {
        let t = lines[end].trim_start();
        if t.is_empty()
            || fence(t).is_some()
            || heading(t).is_some()
            || item(lines[end]).is_some()
            || is_table_start(lines, end)
        {
            break;
        }
        end += 1;
    }
    let text: Vec<&str> = lines[start..end].iter().map(|l| l.trim()).collect();
    out.push_str(&format!("<p>{}</p>\n", inline(&text.join("\n"))));
    end
}

/// Whether a pipe table starts at line `i`: a `|` row followed by a `|---|` separator row.
fn is_table_start(lines: &[&str], i: usize) -> bool {
    let separator = |l: &str| {
        let t = l.trim();
        t.starts_with('|')
            && t.contains('-')
            && t.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '))
    };
    lines[i].trim_start().starts_with('|') && lines.get(i + 1).is_some_and(|l| separator(l))
}

/// A pipe table from `start` (header, separator, rows); returns the line after it.
fn table(lines: &[&str], start: usize, out: &mut String) -> usize {
    let cells = |l: &str| -> Vec<String> {
        let t = l.trim();
        let t = t.strip_prefix('|').unwrap_or(t);
        let t = t.strip_suffix('|').unwrap_or(t);
        t.split('|').map(|c| inline(c.trim())).collect()
    };
    out.push_str("<div class=\"scroll\"><table>\n<thead><tr>");
    for c in cells(lines[start]) {
        out.push_str(&format!("<th>{c}</th>"));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    let mut i = start + 2;
    while i < lines.len() && lines[i].trim_start().starts_with('|') {
        out.push_str("<tr>");
        for c in cells(lines[i]) {
            out.push_str(&format!("<td>{c}</td>"));
        }
        out.push_str("</tr>\n");
        i += 1;
    }
    out.push_str("</tbody>\n</table></div>\n");
    i
}

/// Inline code, bold and links in `text`; everything else escaped.
fn inline(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(ch) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix('`') {
            if let Some(end) = after.find('`') {
                out.push_str(&format!("<code>{}</code>", escape(&after[..end])));
                rest = &after[end + 1..];
                continue;
            }
        } else if let Some(after) = rest.strip_prefix("**") {
            if let Some(end) = after.find("**").filter(|&e| e > 0) {
                out.push_str(&format!("<strong>{}</strong>", inline(&after[..end])));
                rest = &after[end + 2..];
                continue;
            }
        } else if let Some(url) = autolink(rest) {
            out.push_str(&format!("<a href=\"{0}\">{0}</a>", escape(url)));
            rest = &rest[url.len() + 2..];
            continue;
        } else if let Some((label, url, len)) = link(rest) {
            if safe_url(url) {
                out.push_str(&format!(
                    "<a href=\"{}\">{}</a>",
                    escape(url),
                    inline(label)
                ));
            } else {
                out.push_str(&inline(label));
            }
            rest = &rest[len..];
            continue;
        }
        out.push_str(&escape(&ch.to_string()));
        rest = &rest[ch.len_utf8()..];
    }
    out
}

/// A `[label](url)` or `![label](url)` at the start of `s`: label, url and length in bytes.
fn link(s: &str) -> Option<(&str, &str, usize)> {
    let skip = usize::from(s.starts_with("!["));
    let body = s[skip..].strip_prefix('[')?;
    let close = body.find("](")?;
    let label = &body[..close];
    let url_part = &body[close + 2..];
    let end = url_part.find(')')?;
    let url = url_part[..end].trim();
    (!label.contains('\n') && !url.contains(char::is_whitespace)).then_some((
        label,
        url,
        skip + 1 + close + 2 + end + 1,
    ))
}

/// The URL of an autolink `<https://…>` (or `http:`, `mailto:`) at the start of `s`.
fn autolink(s: &str) -> Option<&str> {
    let body = s.strip_prefix('<')?;
    let url = &body[..body.find('>')?];
    let absolute = scheme(url).is_some_and(|(_, rest)| !rest.is_empty());
    (absolute && safe_url(url) && !url.contains(|c: char| c.is_whitespace() || c == '<'))
        .then_some(url)
}

/// Relative links, fragments and http(s)/mailto URLs; not `javascript:` and other schemes.
fn safe_url(url: &str) -> bool {
    scheme(url).is_none_or(|(scheme, _)| {
        matches!(
            scheme.to_ascii_lowercase().as_str(),
            "http" | "https" | "mailto"
        )
    })
}

/// A URL's scheme and the rest after its colon; `None` for a relative link (no colon before
/// the first `/`, `?` or `#`).
fn scheme(url: &str) -> Option<(&str, &str)> {
    url.split_once(':')
        .filter(|(scheme, _)| !scheme.contains(['/', '?', '#']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specials_are_escaped_everywhere() {
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(
            to_html("a <b> & `<c>` **<d>**"),
            "<p>a &lt;b&gt; &amp; <code>&lt;c&gt;</code> <strong>&lt;d&gt;</strong></p>\n"
        );
    }

    #[test]
    fn blocks_paragraphs_headings_lists_code() {
        let text = "# Title\n\nOne line\nand the next.\nWhat follows:\n- first\n  continued\n- second\n\n1. one\n2. two\n\n```sh\nmtlbench <x>\n```\nafter";
        assert_eq!(
            to_html(text),
            "<h2>Title</h2>\n<p>One line\nand the next.\nWhat follows:</p>\n<ul>\n\
             <li>first\ncontinued</li>\n<li>second</li>\n</ul>\n<ol>\n<li>one</li>\n\
             <li>two</li>\n</ol>\n<pre><code>mtlbench &lt;x&gt;</code></pre>\n<p>after</p>\n"
        );
    }

    #[test]
    fn pipe_tables_become_tables() {
        let html = to_html("| a | b |\n|---|--:|\n| `x` | 1 |\n| y | 2 |\ntext");
        assert_eq!(
            html,
            "<div class=\"scroll\"><table>\n<thead><tr><th>a</th><th>b</th></tr></thead>\n\
             <tbody>\n<tr><td><code>x</code></td><td>1</td></tr>\n<tr><td>y</td><td>2</td></tr>\n\
             </tbody>\n</table></div>\n<p>text</p>\n"
        );
        // A lone pipe line is text.
        assert_eq!(to_html("| a |"), "<p>| a |</p>\n");
    }

    #[test]
    fn links_are_kept_only_for_safe_schemes_and_images_become_links() {
        assert_eq!(
            to_html("[doc](README.md#x) [w](https://a.b/?q=1&r=2) [bad](javascript:alert(1))"),
            "<p><a href=\"README.md#x\">doc</a> <a href=\"https://a.b/?q=1&amp;r=2\">w</a> \
             bad)</p>\n"
        );
        assert_eq!(
            to_html("![plot of <x>](p.svg)"),
            "<p><a href=\"p.svg\">plot of &lt;x&gt;</a></p>\n"
        );
        // Autolinks of safe schemes; other angle brackets stay text.
        assert_eq!(
            to_html(
                "see <https://a.b/c?d=1&e> and <mailto:x@y.z>, not <javascript:x> or <b> or <a.md>"
            ),
            "<p>see <a href=\"https://a.b/c?d=1&amp;e\">https://a.b/c?d=1&amp;e</a> and \
             <a href=\"mailto:x@y.z\">mailto:x@y.z</a>, not &lt;javascript:x&gt; or &lt;b&gt; \
             or &lt;a.md&gt;</p>\n"
        );
        // Unclosed markers stay text.
        assert_eq!(to_html("a `b [c]( **d"), "<p>a `b [c]( **d</p>\n");
    }
}
