//! The field rules, in one place, with the spec's messages ("can't be blank").
//!
//! Each function adds to a list instead of returning at the first problem, so one 422 names
//! every field that is wrong, as the spec's error body (a map of fields) is made for.

/// The spec's message for an empty field.
pub const BLANK: &str = "can't be blank";

/// Longest password accepted: argon2 hashes any length, but a megabyte password would make
/// every login attempt cost a megabyte of hashing, a cheap denial of service.
pub const MAX_PASSWORD: usize = 256;

/// The problems found so far: field, message.
#[derive(Debug, Default)]
pub struct Problems(pub Vec<(String, String)>);

impl Problems {
    pub fn add(&mut self, field: &str, message: &str) {
        self.0.push((field.to_owned(), message.to_owned()));
    }

    /// `field` must not be empty or only whitespace.
    pub fn not_blank(&mut self, field: &str, value: &str) {
        if value.trim().is_empty() {
            self.add(field, BLANK);
        }
    }

    /// A plausible email: something, `@`, something with a dot. Real validation is sending
    /// a confirmation mail; this only catches typos like a missing `@`.
    pub fn email(&mut self, field: &str, value: &str) {
        if value.trim().is_empty() {
            return self.add(field, BLANK);
        }
        let plausible = value.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        }) && !value.contains(char::is_whitespace);
        if !plausible {
            self.add(field, "is invalid");
        }
    }

    pub fn password(&mut self, field: &str, value: &str) {
        if value.is_empty() {
            self.add(field, BLANK);
        } else if value.len() > MAX_PASSWORD {
            self.add(
                field,
                &format!("is too long (maximum is {MAX_PASSWORD} characters)"),
            );
        }
    }

    /// Tags: each non-blank. Returns them trimmed, sorted, without duplicates.
    pub fn tags(&mut self, field: &str, tags: &[String]) -> Vec<String> {
        if tags.iter().any(|t| t.trim().is_empty()) {
            self.add(field, "can't contain a blank tag");
        }
        let mut tags: Vec<String> = tags.iter().map(|t| t.trim().to_owned()).collect();
        tags.sort();
        tags.dedup();
        tags
    }

    /// `Ok` when nothing was found, else the 422.
    pub fn finish(self) -> Result<(), crate::error::Error> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(crate::error::Error::Invalid(self.0))
        }
    }
}

/// `How to Train Your Dragon!` → `how-to-train-your-dragon`. Letters and digits (any script)
/// are kept, lower-cased; every other run of characters becomes one `-`.
pub fn slugify(title: &str) -> String {
    let mut slug = String::with_capacity(title.len());
    let mut dash = false;
    for ch in title.chars() {
        if ch.is_alphanumeric() {
            if dash && !slug.is_empty() {
                slug.push('-');
            }
            dash = false;
            slug.extend(ch.to_lowercase());
        } else {
            dash = true;
        }
    }
    if slug.is_empty() {
        slug.push_str("article");
    }
    // Long titles make long URLs; 80 characters keep a slug readable.
    if slug.chars().count() > 80 {
        slug = slug
            .chars()
            .take(80)
            .collect::<String>()
            .trim_end_matches('-')
            .to_owned();
    }
    slug
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lower_case_words_joined_by_dashes() {
        assert_eq!(
            slugify("How to Train Your Dragon!"),
            "how-to-train-your-dragon"
        );
        assert_eq!(slugify("  --Rust & SQL--  "), "rust-sql");
        assert_eq!(slugify("!!!"), "article");
        assert_eq!(slugify("Ünïcödé Straße"), "ünïcödé-straße");
    }
}
