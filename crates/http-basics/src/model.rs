//! The resource: a note, what a client may send to create or replace one, and its two
//! representations (JSON and plain text).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// Longest accepted title, in characters.
pub const MAX_TITLE: usize = 200;
/// Longest accepted body, in characters.
pub const MAX_BODY: usize = 10_000;
/// Most tags on one note.
pub const MAX_TAGS: usize = 10;

/// A stored note. `version` increases on every change and is what the ETag is made of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    pub id: u64,
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
    pub archived: bool,
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a client sends to create (POST) or replace (PUT) a note: every editable field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    pub title: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub archived: bool,
}

/// The same input as an HTML form sends it: tags comma-separated, every field a string.
#[derive(Debug, Deserialize)]
pub struct NoteForm {
    pub title: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub tags: String,
    #[serde(default)]
    pub archived: Option<String>,
}

impl TryFrom<NoteForm> for NoteInput {
    type Error = ApiError;

    fn try_from(form: NoteForm) -> Result<Self, ApiError> {
        let archived = match form.archived.as_deref() {
            None | Some("" | "false" | "off" | "0") => false,
            Some("true" | "on" | "1") => true,
            Some(other) => {
                return Err(ApiError::Invalid {
                    field: "archived".to_owned(),
                    message: format!("expected true or false, got {other:?}"),
                });
            }
        };
        Ok(NoteInput {
            title: form.title,
            body: form.body,
            tags: form
                .tags
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
            archived,
        })
    }
}

impl NoteInput {
    /// Checks the rules a parser cannot: lengths, blank titles, tag syntax.
    /// A violation is a 422 naming the field.
    pub fn validate(&self) -> Result<(), ApiError> {
        let invalid = |field: &str, message: String| {
            Err(ApiError::Invalid {
                field: field.to_owned(),
                message,
            })
        };
        if self.title.trim().is_empty() {
            return invalid("title", "must not be blank".to_owned());
        }
        if self.title.chars().count() > MAX_TITLE {
            return invalid("title", format!("must be at most {MAX_TITLE} characters"));
        }
        if self.body.chars().count() > MAX_BODY {
            return invalid("body", format!("must be at most {MAX_BODY} characters"));
        }
        if self.tags.len() > MAX_TAGS {
            return invalid("tags", format!("at most {MAX_TAGS} tags"));
        }
        for (i, tag) in self.tags.iter().enumerate() {
            let ok = (1..=30).contains(&tag.len())
                && tag
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !ok {
                return invalid(
                    &format!("tags[{i}]"),
                    "1 to 30 characters of a-z, 0-9 and -".to_owned(),
                );
            }
        }
        Ok(())
    }
}

impl Note {
    /// The editable fields as a JSON document: the target a merge patch is applied to.
    pub fn editable(&self) -> NoteInput {
        NoteInput {
            title: self.title.clone(),
            body: self.body.clone(),
            tags: self.tags.clone(),
            archived: self.archived,
        }
    }

    /// The plain-text representation (`Accept: text/plain`).
    pub fn to_text(&self) -> String {
        let tags = if self.tags.is_empty() {
            "-".to_owned()
        } else {
            self.tags.join(", ")
        };
        format!(
            "#{} {}\nversion: {}\ntags: {tags}\narchived: {}\n\n{}\n",
            self.id,
            self.title,
            self.version,
            if self.archived { "yes" } else { "no" },
            self.body
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(title: &str, tags: &[&str]) -> NoteInput {
        NoteInput {
            title: title.to_owned(),
            body: String::new(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            archived: false,
        }
    }

    #[test]
    fn a_blank_title_or_a_bad_tag_names_the_field() {
        let err = input("  ", &[]).validate().unwrap_err();
        assert!(matches!(err, ApiError::Invalid { ref field, .. } if field == "title"));
        let err = input("ok", &["fine", "Not Fine"]).validate().unwrap_err();
        assert!(matches!(err, ApiError::Invalid { ref field, .. } if field == "tags[1]"));
        assert!(input("ok", &["a-1"]).validate().is_ok());
    }
}
