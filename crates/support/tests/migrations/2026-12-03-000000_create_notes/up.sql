-- A table for the test kit's own tests of support::db.
CREATE TABLE IF NOT EXISTS support_notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
