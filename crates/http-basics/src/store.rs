//! The notes, kept in memory behind one lock.
//!
//! The store is not the lesson, so it is the simplest thing that is correct: a `BTreeMap` under a
//! `std::sync::Mutex` (nothing async happens while it is held, so a blocking mutex is right and
//! cheaper than tokio's). A real service keeps this in a database, where the `If-Match` check
//! becomes `UPDATE ... WHERE id = $1 AND version = $2` and "zero rows updated" means 412.
//! Everything here is lost when the process exits.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use chrono::Utc;

use crate::conditional::{EntityTags, write_allowed};
use crate::error::ApiError;
use crate::model::{Note, NoteInput};

/// A raw attachment: bytes and the media type they were sent with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub content_type: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    /// Bumped on every change to any note: the collection's version, for its ETag.
    generation: u64,
    notes: BTreeMap<u64, Note>,
    attachments: BTreeMap<u64, Attachment>,
}

/// All notes of one server instance.
#[derive(Debug, Default)]
pub struct NoteStore {
    inner: Mutex<Inner>,
}

impl NoteStore {
    fn lock(&self) -> Result<MutexGuard<'_, Inner>, ApiError> {
        // A poisoned lock means a thread panicked mid-write; refuse rather than serve half a state.
        self.inner
            .lock()
            .map_err(|_| ApiError::Unexpected(anyhow::anyhow!("note store lock poisoned")))
    }

    /// Every note, oldest first, and the collection's generation.
    pub fn list(&self) -> Result<(Vec<Note>, u64), ApiError> {
        let inner = self.lock()?;
        Ok((inner.notes.values().cloned().collect(), inner.generation))
    }

    pub fn count(&self) -> Result<usize, ApiError> {
        Ok(self.lock()?.notes.len())
    }

    pub fn get(&self, id: u64) -> Result<Note, ApiError> {
        self.lock()?
            .notes
            .get(&id)
            .cloned()
            .ok_or(ApiError::NotFound)
    }

    /// Creates a note with the next id.
    pub fn create(&self, input: NoteInput) -> Result<Note, ApiError> {
        let mut inner = self.lock()?;
        inner.next_id += 1;
        inner.generation += 1;
        let now = Utc::now();
        let note = Note {
            id: inner.next_id,
            title: input.title,
            body: input.body,
            tags: input.tags,
            archived: input.archived,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        inner.notes.insert(note.id, note.clone());
        Ok(note)
    }

    /// Replaces a note's editable fields with what `change` computes from the current note,
    /// if `condition` (from `If-Match`) allows. Check and write happen under one lock.
    ///
    /// An archived note is read-only: a write must unarchive it (409 otherwise).
    /// Writing the same content again changes nothing and keeps the version: that is what makes
    /// a repeated PUT or merge patch observably idempotent.
    pub fn update(
        &self,
        id: u64,
        condition: Option<&EntityTags>,
        change: impl FnOnce(&Note) -> Result<NoteInput, ApiError>,
    ) -> Result<Note, ApiError> {
        let mut inner = self.lock()?;
        let current = inner.notes.get(&id).ok_or(ApiError::NotFound)?;
        if !write_allowed(condition, current) {
            return Err(ApiError::PreconditionFailed);
        }
        let input = change(current)?;
        input.validate()?;
        if current.archived && input.archived {
            return Err(ApiError::Archived(id));
        }
        if current.editable() == input {
            return Ok(current.clone());
        }
        let updated = Note {
            title: input.title,
            body: input.body,
            tags: input.tags,
            archived: input.archived,
            version: current.version + 1,
            updated_at: Utc::now(),
            ..current.clone()
        };
        inner.generation += 1;
        inner.notes.insert(id, updated.clone());
        Ok(updated)
    }

    /// Deletes a note (and its attachment) if `condition` allows and it is not archived.
    pub fn delete(&self, id: u64, condition: Option<&EntityTags>) -> Result<(), ApiError> {
        let mut inner = self.lock()?;
        let current = inner.notes.get(&id).ok_or(ApiError::NotFound)?;
        if !write_allowed(condition, current) {
            return Err(ApiError::PreconditionFailed);
        }
        if current.archived {
            return Err(ApiError::Archived(id));
        }
        inner.notes.remove(&id);
        inner.attachments.remove(&id);
        inner.generation += 1;
        Ok(())
    }

    pub fn attachment(&self, id: u64) -> Result<Attachment, ApiError> {
        let inner = self.lock()?;
        if !inner.notes.contains_key(&id) {
            return Err(ApiError::NotFound);
        }
        inner
            .attachments
            .get(&id)
            .cloned()
            .ok_or(ApiError::NotFound)
    }

    /// Stores a note's attachment; returns whether one existed before (200 vs 201).
    pub fn put_attachment(&self, id: u64, attachment: Attachment) -> Result<bool, ApiError> {
        let mut inner = self.lock()?;
        match inner.notes.get(&id) {
            None => return Err(ApiError::NotFound),
            Some(note) if note.archived => return Err(ApiError::Archived(id)),
            Some(_) => {}
        }
        Ok(inner.attachments.insert(id, attachment).is_some())
    }
}
