//! Text into HTML. Two pages here are built by hand rather than by a template engine (auth's
//! login and consent pages, the report page), and both must put user- or data-supplied text into
//! them without it becoming markup.

/// `text` with the five characters that mean something in HTML (`& < > " '`) as entities, safe
/// inside element content and inside quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn markup_becomes_text_and_plain_text_is_unchanged() {
        assert_eq!(
            escape(r#"<a href="x" title='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(escape("µs, 1,000 rows"), "µs, 1,000 rows");
    }
}
