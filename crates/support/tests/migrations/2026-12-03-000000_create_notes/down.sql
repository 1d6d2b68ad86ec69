DROP TABLE IF EXISTS support_notes;
