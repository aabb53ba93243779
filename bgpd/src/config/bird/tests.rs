//! Parser and lowering vectors: (text, expected) for every construct, and the error messages.

use std::path::{Path, PathBuf};

use super::*;

/// Loads `files` (name, text) from memory, the first being the root.
pub(super) fn load_mem(files: &[(&str, &str)], family: FamilyName) -> Result<Lowered, String> {
    let mut m = MemFiles::default();
    for (n, t) in files {
        m.0.insert(PathBuf::from(n), t.to_string());
    }
    let root = files.first().map(|f| f.0).unwrap_or("bird.cfg");
    load(Path::new(root), &mut m, family).map_err(|e| {
        e.0.first()
            .map(|e| format!("{}:{}:{}: {}", e.file, e.line, e.col, e.message))
            .unwrap_or_default()
    })
}

pub(super) fn v4(text: &str) -> Result<Lowered, String> {
    load_mem(&[("bird.cfg", text)], FamilyName::Ipv4)
}
