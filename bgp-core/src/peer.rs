//! DOC: placeholder
