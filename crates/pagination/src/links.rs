//! RFC 8288 `Link` headers: how a generic client pages without knowing the scheme.
//!
//! A server that puts `<…>; rel="next"` on every page lets any client walk the collection by
//! following one relation, whether the URL inside holds a page number or an opaque cursor. GitHub's
//! REST API does exactly this. The relations used here are registered in the IANA link relation
//! registry: `first`, `prev`, `next`.

/// The relations this service emits.
pub const REL_FIRST: &str = "first";
pub const REL_PREV: &str = "prev";
pub const REL_NEXT: &str = "next";

/// Builds a `Link` header value from `(rel, absolute URL)` pairs.
pub fn header_value(links: &[(&str, String)]) -> String {
    links
        .iter()
        .map(|(rel, url)| format!("<{url}>; rel=\"{rel}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses a `Link` header value into `(rel, URL)` pairs.
///
/// Enough of RFC 8288 for what servers emit in practice: comma-separated link-values, the target
/// in angle brackets, `rel` quoted or bare, possibly naming several relations. (A URL containing
/// a comma is handled because the split only happens outside angle brackets.)
pub fn parse(value: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for link in split_outside_brackets(value) {
        let link = link.trim();
        let Some(rest) = link.strip_prefix('<') else {
            continue;
        };
        let Some((target, params)) = rest.split_once('>') else {
            continue;
        };
        for param in params.split(';') {
            let Some((name, val)) = param.split_once('=') else {
                continue;
            };
            if name.trim().eq_ignore_ascii_case("rel") {
                for rel in val.trim().trim_matches('"').split_ascii_whitespace() {
                    out.push((rel.to_ascii_lowercase(), target.to_owned()));
                }
            }
        }
    }
    out
}

/// The URL of relation `rel` in a `Link` header value.
pub fn find(value: &str, rel: &str) -> Option<String> {
    parse(value)
        .into_iter()
        .find(|(r, _)| r == rel)
        .map(|(_, url)| url)
}

fn split_outside_brackets(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, ch) in value.char_indices() {
        match ch {
            '<' => depth += 1,
            '>' => depth -= 1,
            ',' if depth <= 0 => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_header_parses_back() {
        let value = header_value(&[
            (REL_NEXT, "http://h/p?a=1,2".to_owned()),
            (REL_FIRST, "http://h/p".to_owned()),
        ]);
        assert_eq!(find(&value, REL_NEXT).as_deref(), Some("http://h/p?a=1,2"));
        assert_eq!(find(&value, REL_FIRST).as_deref(), Some("http://h/p"));
        assert_eq!(find(&value, REL_PREV), None);
    }

    #[test]
    fn several_relations_in_one_rel_and_bare_values_are_understood() {
        let links = parse(r#"<http://x/1>; rel="first prev", <http://x/3>;rel=next"#);
        assert_eq!(links.len(), 3);
        assert_eq!(
            find(r#"<http://x/3>;rel=next"#, "next").as_deref(),
            Some("http://x/3")
        );
    }
}
